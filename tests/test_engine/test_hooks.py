# Copyright (c) mmmultimae contributors. All rights reserved.
"""Pre-training hooks: reconstruction figures, non-finite loss stop, step
seeding and the progress bar."""
import glob
import io
import math
import os.path as osp
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.runner import Runner
from PIL import Image

from mmmultimae.apis import preprocess
from mmmultimae.datasets import write_synthetic_dataset
from mmmultimae.engine.hooks import (CheckFiniteLossHook, ProgressBarHook,
                                     StepSeedHook, non_finite_losses,
                                     render_progress)
from mmmultimae.utils import register_all_modules
from mmmultimae.visualization import denormalize_rgb, enlarge, upsample_mask
from mmmultimae.visualization.reconstruction import (HEADER_HEIGHT,
                                                     LABEL_WIDTH, MASK_COLOR,
                                                     PAD, grid_size)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_multimae.py')


@pytest.fixture(scope='module')
def scenes(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('scenes'))
    write_synthetic_dataset(root, 8, image_size=40, progress=False)
    return root


def build_runner(work_dir, data_root, name, hooks=(), instances=()):
    register_all_modules()
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler = []
    cfg.visualizer.name = name
    cfg.experiment_name = name
    cfg.custom_hooks = [
        h for h in cfg.custom_hooks if h['type'] != 'SaveRankWeightsHook'
    ] + list(hooks)
    runner = Runner.from_cfg(cfg)
    for hook in instances:
        runner.register_hook(hook)
    return runner


def test_reconstruction_hook_writes_grid(tmp_path, scenes):
    vis = dict(
        type='ReconstructionVisualizationHook', interval=1, num_samples=2)
    runner = build_runner(tmp_path / 'vis', scenes, 'vis_hook', [vis])
    runner.train()
    files = sorted(glob.glob(str(tmp_path / 'vis' / 'vis' / '*.png')))
    # before training, then after each of the 2 iterations
    assert [osp.basename(f) for f in files
            ] == ['iter_000000.png', 'iter_000001.png', 'iter_000002.png']
    image = np.asarray(Image.open(files[-1]).convert('RGB'))
    # per sample 3 rows (rgb, depth, semseg) x 3 columns of 128 px tiles
    # (32 px crops enlarged 4x)
    tile = 128
    height, width = grid_size(3, 3, (tile, tile))
    assert image.shape == (2 * height, width, 3)
    # also sent to the vis backends (LocalVisBackend files)
    assert glob.glob(
        str(tmp_path / 'vis' / '*' / 'vis_data' / 'vis_image' /
            'reconstruction_2.png'))

    hook = [
        h for h in runner.hooks
        if type(h).__name__ == 'ReconstructionVisualizationHook'
    ][0]
    inputs = preprocess(runner.model, hook._batch)['inputs']
    gt = enlarge(
        denormalize_rgb(inputs['rgb'][0].numpy(), [123.675, 116.28, 103.53],
                        [58.395, 57.12, 57.375]), (tile, tile))
    mask = upsample_mask(hook._masks['rgb'][0].reshape(4, 4).numpy(),
                         (tile, tile))

    def cell(col):
        x = LABEL_WIDTH + PAD + col * (tile + PAD)
        y = HEADER_HEIGHT + PAD
        return image[y:y + tile, x:x + tile]

    masked_input, prediction, ground_truth = cell(0), cell(1), cell(2)
    assert np.array_equal(ground_truth, gt)
    assert mask.any() and (~mask).any()
    assert (masked_input[mask] == MASK_COLOR).all()
    assert np.array_equal(masked_input[~mask], gt[~mask])
    # visible patches pasted back into the prediction, masked ones predicted
    assert np.array_equal(prediction[~mask], gt[~mask])
    assert not np.array_equal(prediction[mask], gt[mask])


def test_reconstruction_hook_leaves_training_randomness_alone(
        tmp_path, scenes):
    vis = dict(type='ReconstructionVisualizationHook', interval=1)
    with_hook = build_runner(tmp_path / 'a', scenes, 'rng_a', [vis])
    with_hook.train()
    without = build_runner(tmp_path / 'b', scenes, 'rng_b')
    without.train()
    a, b = with_hook.model.state_dict(), without.model.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key


class NaNDepthHook(Hook):
    """Makes the depth decoder output NaN from iteration ``at`` (0-based)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at:
            with torch.no_grad():
                runner.model.heads['depth'].decoder.head.bias.fill_(math.nan)


def test_non_finite_loss_stops_training(tmp_path, scenes):
    runner = build_runner(
        tmp_path, scenes, 'nan_stop', instances=[NaNDepthHook(1)])
    with pytest.raises(FloatingPointError) as err:
        runner.train()
    message = str(err.value)
    assert 'iteration 2/2' in message and 'epoch 1' in message
    assert 'loss_depth=nan' in message and "'depth'" in message
    assert 'loss_rgb' not in message  # the finite terms are not blamed
    assert runner.iter == 1  # stopped during the second iteration


def test_non_finite_losses_and_hook_unit():
    finite = dict(
        loss=torch.tensor(1.),
        loss_rgb=torch.tensor(0.5),
        acc_semseg=torch.tensor(math.nan))
    assert non_finite_losses(finite) == {}  # non-loss keys are not checked
    bad = dict(
        loss=torch.tensor(math.inf),
        loss_rgb=torch.tensor(0.5),
        loss_semseg=torch.tensor(math.inf))
    assert non_finite_losses(bad) == dict(loss=math.inf, loss_semseg=math.inf)
    hook = CheckFiniteLossHook(interval=2)
    runner = SimpleNamespace(iter=6, epoch=0, max_iters=10)
    hook.after_train_iter(runner, 0, outputs=bad)  # iteration 7: skipped
    runner.iter = 7
    with pytest.raises(
            FloatingPointError,
            match=r"iteration 8/10 .*"
            r"loss_semseg=inf.*'semseg'"):
        hook.after_train_iter(runner, 0, outputs=bad)
    with pytest.raises(ValueError, match='interval'):
        CheckFiniteLossHook(interval=0)


def test_step_seed_hook_makes_draws_a_function_of_the_step():
    hook = StepSeedHook()
    runner = SimpleNamespace(
        seed=3,
        iter=5,
        epoch=1,
        cfg=Config(dict(randomness=dict(diff_rank_seed=True))))

    def draw_iter():
        hook.before_train_iter(runner, 0)
        return torch.rand(4)

    def draw_epoch():
        hook.before_train_epoch(runner)
        return torch.rand(2), np.random.rand(2), random.random()

    first = draw_iter()
    torch.rand(100)  # unrelated consumption in between
    assert torch.equal(draw_iter(), first)
    runner.iter = 6
    assert not torch.equal(draw_iter(), first)
    a = draw_epoch()
    np.random.rand(7)
    b = draw_epoch()
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert a[2] == b[2]
    runner.epoch = 2
    assert not np.array_equal(draw_epoch()[1], a[1])
    runner.seed = 4
    runner.epoch = 1
    assert not np.array_equal(draw_epoch()[1], a[1])


def test_progress_bar():
    line = render_progress(25, 100, 30., 90., 80, 'loss 1.2345')
    assert line.startswith('|##########' + '.' * 30 + '|')
    assert '25/100  25% [0:30<1:30] loss 1.2345' in line
    assert len(render_progress(1, 3, 0., 0., 30, 'x' * 50)) == 30

    class Tty(io.StringIO):

        def isatty(self):
            return True

    hub = MessageHub.get_instance('progress_bar_test')
    for tty in (True, False):
        stream = Tty() if tty else io.StringIO()
        hook = ProgressBarHook(
            keys=('loss', 'loss_depth'),
            non_tty_interval=2,
            stream=stream,
            quiet_console=False)
        runner = SimpleNamespace(iter=0, max_iters=3, message_hub=hub)
        hook.before_train(runner)
        for i in range(3):
            hub.update_scalar('train/loss', 2. - i)
            hub.update_scalar('train/loss_depth', 1.)
            runner.iter = i
            hook.after_train_iter(runner, i)
        hook.after_train(runner)
        text = stream.getvalue()
        if tty:
            assert text.count('\r') == 3 and text.endswith('\n')
            assert '3/3 100%' in text and 'loss_depth 1.0000' in text
        else:
            lines = text.splitlines()  # iterations 2 and 3 (the last)
            assert len(lines) == 2 and '\r' not in text
            assert '2/3' in lines[0] and '3/3 100%' in lines[1]
