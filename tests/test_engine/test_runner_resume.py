# Copyright (c) mmmultimae contributors. All rights reserved.
"""Train -> checkpoint -> resume on CPU through tools/train.py."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

from mmmultimae.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'tests', 'data', 'configs', 'toy_regression.py')


def _train(work_dir: str, *extra: str, kill_at: int = 0) -> None:
    env = dict(
        os.environ,
        TOY_KILL_AT_ITER=str(kill_at),
        PYTHONPATH=os.pathsep.join([ROOT, osp.join(ROOT, 'tests', 'data')]))
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--work-dir', work_dir,
        *extra
    ]
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    expected = 3 if kill_at else 0
    assert proc.returncode == expected, (
        proc.stdout[-3000:] + proc.stderr[-3000:])


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp('resume')
    full, split = str(base / 'full'), str(base / 'split')
    _train(full)
    # killed during iteration 8, after the checkpoint of iteration 6
    _train(split, kill_at=8)
    assert osp.exists(osp.join(split, 'iter_6.pth'))
    assert not osp.exists(osp.join(split, 'iter_12.pth'))
    _train(split, '--resume')
    return full, split


def _assert_nested_equal(a, b, path=''):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f'{path} differs'
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_nested_equal(a[k], b[k], f'{path}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_nested_equal(x, y, f'{path}[{i}]')
    else:
        assert a == b, f'{path}: {a} != {b}'


def test_resume_matches_uninterrupted_run(runs):
    full, split = runs
    a = _load_checkpoint(osp.join(full, 'iter_12.pth'), map_location='cpu')
    b = _load_checkpoint(osp.join(split, 'iter_12.pth'), map_location='cpu')
    assert a['meta']['iter'] == b['meta']['iter'] == 12
    _assert_nested_equal(a['state_dict'], b['state_dict'], 'state_dict')
    _assert_nested_equal(a['optimizer'], b['optimizer'], 'optimizer')
    # AdamW step counters continued from the checkpoint, not from zero.
    steps = [s['step'] for s in b['optimizer']['state'].values()]
    assert all(float(s) == 12 for s in steps)


def test_load_from_and_pretrained_init(runs, tmp_path):
    full, _ = runs
    ckpt = osp.join(full, 'iter_12.pth')
    expected = _load_checkpoint(ckpt, map_location='cpu')['state_dict']

    register_all_modules()
    import toy_modules  # noqa: F401  (tests/data, see conftest.py)
    from mmmultimae.registry import MODELS
    model = MODELS.build(
        dict(
            type='ToyRegressor',
            init_cfg=dict(type='Pretrained', checkpoint=ckpt)))
    model.init_weights()
    _assert_nested_equal(model.state_dict(), expected, 'pretrained')

    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = str(tmp_path)
    cfg.load_from = ckpt
    cfg.visualizer.name = 'load_from_test'
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    _assert_nested_equal(runner.model.state_dict(), expected, 'load_from')
    assert runner.iter == 0  # load_from does not resume the schedule
