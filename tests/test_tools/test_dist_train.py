# Copyright (c) mmmultimae contributors. All rights reserved.
"""tools/dist_train.sh with 2 CPU processes (gloo)."""
import os
import os.path as osp
import socket
import subprocess
import sys

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_dist_train(config: str, work_dir: str, nproc: int = 2,
                   *extra: str) -> subprocess.CompletedProcess:
    """Runs ``tools/dist_train.sh`` on CPU and returns the finished process."""
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PORT=str(free_port()),
        CUDA_VISIBLE_DEVICES='',
        OMP_NUM_THREADS='1',
        PYTHONPATH=osp.join(ROOT, 'tests', 'data'))
    cmd = [
        'bash',
        osp.join(ROOT, 'tools', 'dist_train.sh'), config,
        str(nproc), '--work-dir', work_dir, *extra
    ]
    return subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_two_cpu_ranks_end_with_identical_weights(tmp_path):
    config = osp.join(ROOT, 'tests', 'data', 'configs', 'toy_regression.py')
    proc = run_dist_train(config, str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert 'Distributed launcher: pytorch' in log
    assert 'Distributed training: True' in log

    rank0 = torch.load(tmp_path / 'rank0.pth', weights_only=True)
    rank1 = torch.load(tmp_path / 'rank1.pth', weights_only=True)
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    # rank seeds differ (diff_rank_seed=True): equality comes from DDP
    ckpt = torch.load(
        tmp_path / 'iter_12.pth', map_location='cpu', weights_only=False)
    for key in rank0:
        assert torch.equal(ckpt['state_dict'][key], rank0[key]), key
