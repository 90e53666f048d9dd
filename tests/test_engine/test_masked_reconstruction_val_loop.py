# Copyright (c) mmmultimae contributors. All rights reserved.
"""Held-out evaluation during pre-training (MaskedReconstructionValLoop):
logging and save_best, agreement with eval_reconstruction.py, identical
numbers after a resume and on 2 gloo ranks, start-up errors."""
import glob
import importlib.util
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmmultimae.apis import eval_pipeline
from mmmultimae.datasets import write_synthetic_dataset
from mmmultimae.registry import TRANSFORMS
from mmmultimae.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'tests', 'data', 'configs',
                  'tiny_multimae_heldout.py')
DEMO = osp.join(ROOT, 'configs', 'multimae',
                'multimae_vit-tiny-6l-p8_1xb32-16e_synthetic-demo.py')
BEST = 'recon/rgb_only/l1_depth'
NUM_VAL = 7  # odd: the 2-rank sampler pads a sample


@pytest.fixture(scope='module')
def scenes(tmp_path_factory):
    train = str(tmp_path_factory.mktemp('train'))
    val = str(tmp_path_factory.mktemp('val'))
    write_synthetic_dataset(train, 8, image_size=40, progress=False)
    write_synthetic_dataset(val, NUM_VAL, image_size=40, seed=1,
                            progress=False)
    return train, val


def make_cfg(work_dir, scenes, name, max_epochs=2):
    register_all_modules()
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.dataset.data_root = scenes[0]
    cfg.val_dataloader.dataset.data_root = scenes[1]
    cfg.train_cfg.max_epochs = max_epochs
    # mmengine's default smoothing window: it must not mix evaluations
    cfg.log_processor.window_size = 10
    cfg.visualizer.name = name
    cfg.experiment_name = name
    cfg.default_hooks.checkpoint.save_best = BEST
    cfg.default_hooks.checkpoint.rule = 'less'
    cfg.custom_hooks = [
        h for h in cfg.custom_hooks if h['type'] != 'SaveRankWeightsHook'
    ]
    return cfg


def val_scalars(work_dir):
    """Logged validation metrics by epoch."""
    out = {}
    path, = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if any(k.startswith('recon/') for k in record):
                out[record['step']] = record
    return out


@pytest.fixture(scope='module')
def run(tmp_path_factory, scenes):
    """2 epochs (2 iterations each), evaluated after each."""
    work_dir = str(tmp_path_factory.mktemp('run'))
    runner = Runner.from_cfg(make_cfg(work_dir, scenes, 'heldout_run'))
    runner.train()
    return work_dir, runner.val_loop.metric_names()


def test_metrics_are_logged_and_select_the_best_checkpoint(run):
    work_dir, names = run
    scalars = val_scalars(work_dir)
    assert sorted(scalars) == [1, 2]
    assert 'knn/top1' in names and BEST in names and \
        'recon/baseline/loss_depth' in names
    for values in scalars.values():
        assert set(names) <= set(values)
        assert 0 <= values['knn/top1'] <= 1
    # the constant baseline and the masks are fixed: same baseline scores
    for key in names:
        if '/baseline/' in key:
            assert scalars[1][key] == scalars[2][key], key
    best = min(scalars, key=lambda e: scalars[e][BEST])
    assert osp.exists(
        osp.join(work_dir, f'best_recon_rgb_only_l1_depth_epoch_{best}.pth'))


def _tool():
    spec = importlib.util.spec_from_file_location(
        'eval_reconstruction',
        osp.join(ROOT, 'tools', 'analysis_tools', 'eval_reconstruction.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_final_metrics_equal_eval_reconstruction(run, scenes):
    work_dir, names = run
    logged = val_scalars(work_dir)[2]
    result = _tool().main([
        CONFIG,
        osp.join(work_dir, 'epoch_2.pth'), '--data-root', scenes[1],
        '--num-samples',
        str(NUM_VAL), '--batch-size', '3', '--device', 'cpu'
    ])
    compared = 0
    for group, columns in result.items():
        if group not in ('masked', 'rgb_only'):
            continue
        for column in ('trained', 'baseline'):
            for key, value in columns[column].items():
                name = key if group == 'masked' else f'{group}/{key}'
                if column == 'baseline':
                    name = f'baseline/{name}'
                assert logged[f'recon/{name}'] == pytest.approx(
                    value, rel=1e-5, abs=1e-7), name
                compared += 1
    assert compared == len([n for n in names if n.startswith('recon/')])


def test_resumed_run_evaluates_the_same(run, scenes, tmp_path):
    work_dir, names = run
    cfg = make_cfg(tmp_path, scenes, 'heldout_resume')
    cfg.resume = True
    cfg.load_from = osp.join(work_dir, 'epoch_1.pth')
    Runner.from_cfg(cfg).train()
    resumed = val_scalars(str(tmp_path))
    assert sorted(resumed) == [2]
    expected = val_scalars(work_dir)[2]
    for key in names:
        assert resumed[2][key] == expected[key], key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_gloo_ranks_give_the_numbers_of_one_process(
        run, scenes, tmp_path):
    work_dir, names = run
    script = osp.join(ROOT, 'tests', 'data', 'heldout_val.py')
    common = [
        CONFIG,
        osp.join(work_dir, 'epoch_2.pth'), '--cfg-options',
        f'train_dataloader.dataset.data_root={scenes[0]}',
        f'val_dataloader.dataset.data_root={scenes[1]}'
    ]
    env = dict(
        os.environ,
        CUDA_VISIBLE_DEVICES='',
        OMP_NUM_THREADS='1',
        PYTHONPATH=os.pathsep.join([ROOT, osp.join(ROOT, 'tests', 'data')]))
    outs = {}
    for procs in (1, 2):
        out = str(tmp_path / f'metrics_{procs}.json')
        if procs == 1:
            cmd = [sys.executable, script]
            extra = ['--launcher', 'none']
        else:
            cmd = [
                sys.executable, '-m', 'torch.distributed.run',
                '--nproc_per_node=2', f'--master_port={_free_port()}',
                script
            ]
            extra = ['--launcher', 'pytorch']
        proc = subprocess.run(
            cmd + [common[0], common[1], out] + extra +
            ['--work-dir', str(tmp_path / f'work_{procs}')] + common[2:],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert f'Distributed launcher: {extra[1]}' in proc.stdout + proc.stderr
        with open(out) as f:
            outs[procs] = json.load(f)
    assert set(outs[1]) == set(outs[2]) == set(names)
    for key in names:
        assert outs[2][key] == pytest.approx(
            outs[1][key], rel=1e-5, abs=1e-7), key
    # and the numbers logged during training for that checkpoint
    logged = val_scalars(work_dir)[2]
    for key in names:
        assert outs[1][key] == pytest.approx(logged[key], rel=1e-5), key


def _startup_error(tmp_path, scenes, name, change):
    cfg = make_cfg(tmp_path, scenes, name, max_epochs=1)
    change(cfg)
    runner = Runner.from_cfg(cfg)
    with pytest.raises(Exception) as info:
        runner.train()
    # nothing was trained: the error came from building the loops
    assert runner.iter == 0
    assert not glob.glob(osp.join(str(tmp_path), '*.pth'))
    return info


def _set(path, value):

    def change(cfg):
        node = cfg
        *parents, last = path.split('.')
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[last] = value

    return change


def _rgbd_only(cfg):
    """A held-out set of rgb and depth (no semseg)."""
    dataset = cfg.val_dataloader.dataset
    dataset.modalities = ('rgb', 'depth')
    dataset.pipeline[0].modalities = ('rgb', 'depth')
    dataset.pipeline = [t for t in dataset.pipeline
                        if t.type != 'DownsampleLabels']


@pytest.mark.parametrize(
    'change,error,message',
    [
        (_set('train_cfg.val_interval', 0), ValueError,
         r'train_cfg.val_interval must be an integer >= 1.*got 0'),
        (_set('default_hooks.checkpoint.save_best', 'recon/loss_normal'),
         ValueError, r"save_best names \['recon/loss_normal'\], which no "),
        (_rgbd_only, ValueError, r"yields the modalities \['rgb', 'depth'\].*"
         r"\['semseg'\] missing"),
        (_set('val_dataloader.dataset.metainfo',
              dict(semseg_classes=tuple('abcde'))), ValueError,
         r"has 5 semseg_classes, the model's head 'semseg' predicts 10"),
        (_set('val_evaluator.1.k', NUM_VAL), ValueError,
         r'has 7 samples; at least 8 are needed'),
        (_set('val_evaluator', [dict(type='MaskedDepthMetric')]), TypeError,
         r"val_evaluator has \['MaskedDepthMetric'\]"),
        (_set('val_cfg.cross_inputs', ('normal', )), ValueError,
         r"cross_inputs \['normal'\] must be"),
    ],
    ids=[
        'interval-0', 'unknown-save-best', 'missing-modality',
        'semseg-classes', 'knn-k', 'foreign-metric', 'cross-inputs'
    ])
def test_bad_configuration_fails_at_start_up(tmp_path, scenes, change, error,
                                             message):
    name = f'heldout_bad_{len(os.listdir(str(tmp_path.parent)))}'
    info = _startup_error(tmp_path, scenes, name, change)
    assert info.type is error
    assert info.match(message)


@TRANSFORMS.register_module(force=True)
class ShiftSemSegIdsForTest:
    """Adds ``offset`` to the semseg ids (a held-out set with more classes
    than the model)."""

    def __init__(self, offset: int) -> None:
        self.offset = offset

    def __call__(self, results: dict) -> dict:
        results['semseg'] = results['semseg'].astype('int64') + self.offset
        return results


def test_held_out_ids_that_do_not_fit_fail_at_start_up(tmp_path, scenes):
    """A held-out semseg id the model does not know (the packer lets it
    through) is caught by evaluating the first sample before training."""

    def change(cfg):
        pipeline = cfg.val_dataloader.dataset.pipeline
        pipeline[-1].num_classes = None
        pipeline.insert(-1, dict(type='ShiftSemSegIdsForTest', offset=100))

    info = _startup_error(tmp_path, scenes, 'heldout_bad_ids', change)
    assert info.type is RuntimeError
    assert info.match(r'first sample of the held-out set .* does not fit '
                      r"the model: inputs\['semseg'\]: class ids must be")


def test_demo_config_evaluates_like_eval_reconstruction():
    """The demo's held-out pipeline is the tool's eval_pipeline of its
    training pipeline, its best checkpoint key is one the loop reports."""
    cfg = Config.fromfile(DEMO)
    assert cfg.val_dataloader.dataset.pipeline == eval_pipeline(
        cfg.train_dataloader.dataset.pipeline)
    assert cfg.val_cfg.type == 'MaskedReconstructionValLoop'
    assert cfg.train_cfg.val_interval == 1
    assert cfg.default_hooks.checkpoint.save_best == BEST
    assert {m['type'] for m in cfg.val_evaluator} == {
        'MaskedReconstructionMetric', 'KNNAccuracy'
    }
