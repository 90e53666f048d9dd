# Copyright (c) mmmultimae contributors. All rights reserved.
"""The pre-training benchmark runs on CPU (so that it cannot rot)."""
import json
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'configs', 'multimae',
                'multimae_vit-tiny-6l-p8_1xb32-16e_synthetic-demo.py')


def run_benchmark(*args: str) -> subprocess.CompletedProcess:
    """Run the benchmark on the demo config on CPU; it must succeed."""
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark_pretrain.py'),
        DEMO, '--device', 'cpu', *args
    ]
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_benchmark_two_cpu_iterations(tmp_path):
    out = tmp_path / 'result.json'
    proc = run_benchmark('--batch-size', '2', '--amp-dtype', 'fp32',
                         '--iters', '2', '--warmup', '1', '--json', str(out))
    for field in ('device', 'torch', 'commit', 'command', 'images_per_s',
                  'tflop_per_step', 'mfu'):
        assert field in proc.stdout
    result = json.loads(out.read_text())
    assert result['batch_size'] == 2 and result['iters'] == 2
    assert result['step_time_min_s'] <= result['step_time_median_s'] \
        <= result['step_time_max_s']
    assert result['images_per_s'] > 0
    # FlopCounterMode saw the encoder/decoder matmuls of a real step
    assert result['tflop_per_step'] > 1e-4
    assert abs(result['achieved_tflops'] * result['step_time_median_s'] -
               result['tflop_per_step']) < 1e-9


def test_benchmark_rejects_unknown_dtype():
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark_pretrain.py'),
        DEMO, '--amp-dtype', 'int8'
    ]
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "invalid choice: 'int8'" in proc.stderr


def test_saved_memory_mode(tmp_path):
    out = tmp_path / 'saved.json'
    run_benchmark('--batch-size', '4', '--amp-dtype', 'bf16',
                  '--saved-memory', '256', '--json', str(out))
    result = json.loads(out.read_text())
    assert result['measured_batches'] == [2, 4]
    assert result['batch_size'] == 256
    groups = {
        k: v
        for k, v in result.items()
        if k.startswith('saved_gb.') and k != 'saved_gb.total'
    }
    assert {'saved_gb.encoder.blocks', 'saved_gb.heads.rgb',
            'saved_gb.heads.semseg'} <= set(groups)
    assert abs(sum(groups.values()) - result['saved_gb.total']) < 1e-6
    # the encoder blocks keep most of the activations
    assert groups['saved_gb.encoder.blocks'] == max(groups.values())
    assert result['params_grads_adamw_gb'] > 0
