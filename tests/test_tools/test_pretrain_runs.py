# Copyright (c) mmmultimae contributors. All rights reserved.
"""End-to-end pre-training runs of a tiny MultiMAE on synthetic scenes:
2-process DDP on CPU through tools/dist_train.sh, kill-and-resume through
tools/train.py, and the reconstruction/evaluation tools on the result."""
import glob
import importlib.util
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint
from PIL import Image

from mmmultimae.datasets import write_synthetic_dataset

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_multimae.py')
LOSS_KEYS = ('loss', 'loss_rgb', 'loss_norm_rgb', 'loss_depth', 'loss_semseg')

pytestmark = pytest.mark.slow


def _env(**extra: str) -> dict:
    return dict(
        os.environ,
        CUDA_VISIBLE_DEVICES='',
        OMP_NUM_THREADS='1',
        PYTHONPATH=os.pathsep.join([ROOT,
                                    osp.join(ROOT, 'tests', 'data')]),
        **extra)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _check(proc: subprocess.CompletedProcess, expected: int = 0) -> None:
    assert proc.returncode == expected, (
        proc.stdout[-3000:] + proc.stderr[-3000:])


def _scalars(work_dir: str) -> dict:
    """Logged values by iteration (latest run of ``work_dir`` last, so a
    resumed run overrides the iterations it repeats)."""
    by_iter = {}
    for path in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                by_iter[record['iter']] = record
    return by_iter


@pytest.fixture(scope='module')
def scenes(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('scenes'))
    write_synthetic_dataset(root, 16, image_size=40, progress=False)
    return root


def _train(work_dir: str,
           data_root: str,
           *extra: str,
           kill_at: int = 0) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--work-dir', work_dir,
        '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.dataset.max_images=8', *extra
    ]
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env=_env(TOY_KILL_AT_ITER=str(kill_at)),
        capture_output=True,
        text=True,
        timeout=300)
    _check(proc, 3 if kill_at else 0)
    return proc


def test_two_cpu_processes_through_dist_train(tmp_path, scenes):
    """2 ranks x 4 images, 2 iterations per epoch, 4 epochs."""
    work_dir = str(tmp_path)
    cmd = [
        'bash',
        osp.join(ROOT, 'tools',
                 'dist_train.sh'), CONFIG, '2', '--work-dir', work_dir,
        '--cfg-options', f'train_dataloader.dataset.data_root={scenes}'
    ]
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env=_env(PYTHON=sys.executable, PORT=str(_free_port())),
        capture_output=True,
        text=True,
        timeout=600)
    _check(proc)
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log

    rank0 = torch.load(osp.join(work_dir, 'rank0.pth'), weights_only=True)
    rank1 = torch.load(osp.join(work_dir, 'rank1.pth'), weights_only=True)
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    ckpt = _load_checkpoint(osp.join(work_dir, 'epoch_4.pth'), 'cpu')
    for key in rank0:
        assert torch.equal(ckpt['state_dict'][key], rank0[key]), key

    # the loss goes down (rank 0's log, one value per iteration)
    scalars = _scalars(work_dir)
    assert sorted(scalars) == list(range(1, 9))
    first = [scalars[i]['loss'] for i in (1, 2)]
    last = [scalars[i]['loss'] for i in (7, 8)]
    assert max(last) < min(first), (first, last)
    for key in LOSS_KEYS:
        assert scalars[8][key] < scalars[1][key], key


@pytest.fixture(scope='module')
def resume_runs(tmp_path_factory, scenes):
    """One run of 4 epochs x 2 iterations, and one killed during iteration
    5 (after the epoch-2 checkpoint) and resumed."""
    base = tmp_path_factory.mktemp('resume')
    full, split = str(base / 'full'), str(base / 'split')
    _train(full, scenes)
    _train(split, scenes, kill_at=5)
    assert osp.exists(osp.join(split, 'epoch_2.pth'))
    assert not osp.exists(osp.join(split, 'epoch_3.pth'))
    proc = _train(split, scenes, '--resume')
    assert 'resumed epoch: 2, iter: 4' in proc.stdout + proc.stderr
    return full, split


def test_resume_reproduces_the_uninterrupted_run(resume_runs):
    full, split = resume_runs
    a = _scalars(full)
    b = _scalars(split)
    assert sorted(a) == sorted(b) == list(range(1, 9))
    for it in range(1, 9):  # 1-4 before the kill, 5-8 after the resume
        for key in LOSS_KEYS + ('lr', ):
            assert a[it][key] == b[it][key], (it, key, a[it][key], b[it][key])
    ca = _load_checkpoint(osp.join(full, 'epoch_4.pth'), 'cpu')
    cb = _load_checkpoint(osp.join(split, 'epoch_4.pth'), 'cpu')
    assert ca['meta']['iter'] == cb['meta']['iter'] == 8
    for key, value in ca['state_dict'].items():
        assert torch.equal(value, cb['state_dict'][key]), key
    sa, sb = ca['optimizer']['state'], cb['optimizer']['state']
    assert sa.keys() == sb.keys()
    for idx in sa:
        for name in ('exp_avg', 'exp_avg_sq'):
            assert torch.equal(sa[idx][name], sb[idx][name]), (idx, name)
        assert float(sb[idx]['step']) == 8


def _load_tool(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_visualize_reconstruction_writes_three_layouts(resume_runs, scenes,
                                                       tmp_path):
    full, _ = resume_runs
    tool = _load_tool(
        osp.join(ROOT, 'tools', 'visualize_reconstruction.py'),
        'visualize_reconstruction')
    ckpt = osp.join(full, 'epoch_4.pth')
    images = sorted(glob.glob(osp.join(scenes, 'rgb', '*', '*.jpg')))
    rel = osp.relpath(images[1], osp.join(scenes, 'rgb'))
    out = str(tmp_path / 'figures')
    written = tool.main([
        CONFIG, ckpt, images[0], rel, '--data-root', scenes, '--out', out,
        '--visible', '4', '8', '16', '--mask-spec', 'rgb=visible', 'depth=2',
        '--device', 'cpu'
    ])
    stems = [osp.splitext(osp.basename(p))[0] for p in images[:2]]
    assert sorted(osp.basename(p) for p in written) == sorted([
        f'{stems[0]}_visible-sweep.png', f'{stems[1]}_visible-sweep.png',
        'random-masks.png', 'custom_rgb-visible_depth-2.png'
    ])
    from mmmultimae.visualization.reconstruction import grid_size
    tile = (128, 128)  # 32 px crops enlarged 4x
    sizes = {osp.basename(p): Image.open(p).size[::-1] for p in written}
    # sweep: 2 rows per modality, 3 visible counts + ground truth
    assert sizes[f'{stems[0]}_visible-sweep.png'] == grid_size(6, 4, tile)
    # random masks: per image 3 rows, 3 x (input, prediction) + truth
    h, w = grid_size(3, 7, tile)
    assert sizes['random-masks.png'] == (2 * h, w)
    h, w = grid_size(3, 3, tile)
    assert sizes['custom_rgb-visible_depth-2.png'] == (2 * h, w)

    with pytest.raises(ValueError, match='matches no sample'):
        tool.main([
            CONFIG, ckpt, 'no_such_scene', '--data-root', scenes, '--out', out,
            '--device', 'cpu'
        ])
    with pytest.raises(ValueError, match='not input modalities'):
        tool.main([
            CONFIG, ckpt, images[0], '--data-root', scenes, '--out', out,
            '--layout', 'custom', '--mask-spec', 'normal=visible', '--device',
            'cpu'
        ])


def test_eval_reconstruction_reports_learning(resume_runs, scenes):
    full, _ = resume_runs
    tool = _load_tool(
        osp.join(ROOT, 'tools', 'analysis_tools', 'eval_reconstruction.py'),
        'eval_reconstruction')
    result = tool.main([
        CONFIG,
        osp.join(full, 'epoch_4.pth'), '--data-root', scenes, '--num-samples',
        '8', '--batch-size', '4', '--device', 'cpu'
    ])
    masked = result['masked']
    assert set(masked) == {'baseline', 'init', 'trained'}
    assert set(masked['trained']) == {
        'loss_rgb', 'loss_norm_rgb', 'loss_depth', 'loss_semseg', 'acc_semseg'
    }
    rgb_only = result['rgb_only']
    assert set(rgb_only['trained']) == {
        'loss_depth', 'l1_depth', 'delta1_depth', 'loss_semseg',
        'acc_semseg', 'miou_semseg'
    }
    # 8 updates already beat the random initialisation by far
    for key in ('loss_rgb', 'loss_semseg'):
        assert masked['trained'][key] < masked['init'][key], key
    # the constant baseline: per-patch standardised rgb has mean 0, so the
    # best constant's MSE is about the (biased) variance, (n - 1) / n
    assert abs(masked['baseline']['loss_norm_rgb'] - 1.) < 0.1


@pytest.mark.parametrize('defect', ['missing-folder', 'corrupt-file'])
def test_bad_input_surfaces_through_train_py(tmp_path, defect):
    """Data errors reach the user of tools/train.py naming the culprit."""
    root = str(tmp_path / 'scenes')
    write_synthetic_dataset(root, 4, image_size=40, progress=False)
    if defect == 'missing-folder':
        os.rename(osp.join(root, 'depth'), osp.join(root, 'depth_gone'))
        expected = "folder of modality 'depth' not found"
    else:
        bad = sorted(glob.glob(osp.join(root, 'semseg', '*', '*.png')))[0]
        with open(bad, 'wb') as f:
            f.write(b'not a png')
        expected = f"cannot read semseg file '{bad}'"
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'train_dataloader.dataset.data_root={root}'
    ]
    proc = subprocess.run(
        cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert expected in proc.stderr, proc.stderr[-3000:]
