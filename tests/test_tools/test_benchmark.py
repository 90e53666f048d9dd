# Copyright (c) mmmultimae contributors. All rights reserved.
"""The benchmark runs on CPU (so that it cannot rot): pre-training and
transfer training steps, transfer inference."""
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
        osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark.py'),
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
        osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark.py'),
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


SEG = osp.join(
    ROOT, 'configs', 'multimae', 'benchmarks', 'semseg',
    'multimae_vit-tiny-6l-p8_convnext_1xb8-3e_synthetic-64x64-rgb.py')
DEPTH = osp.join(ROOT, 'configs', 'multimae', 'benchmarks', 'depth',
                 'multimae_vit-tiny-6l-p8_dpt_1xb8-3e_synthetic-64x64-rgb.py')


def run_tool(*args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark.py'), *args,
        '--device', 'cpu', '--iters', '2', '--warmup', '1',
        # no demo checkpoint in a fresh clone: random init
        '--cfg-options', 'model.backbone.init_cfg=None'
    ]
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_benchmark_transfer_training_and_inference(tmp_path):
    # a training step of a segmentation and of a depth config
    for config in (SEG, DEPTH):
        out = tmp_path / 'train.json'
        run_tool(config, '--batch-size', '2', '--amp-dtype', 'fp32',
                 '--json', str(out))
        result = json.loads(out.read_text())
        assert result['mode'] == 'model' and result['images_per_s'] > 0
        assert result['tflop_per_step'] > 1e-5
    # inference with both test modes of the config, from a checkpoint
    import torch
    from mmengine.config import Config

    from mmmultimae.registry import MODELS
    from mmmultimae.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(SEG)
    cfg.model.backbone.init_cfg = None
    ckpt = tmp_path / 'seg.pth'
    torch.save(dict(state_dict=MODELS.build(cfg.model).state_dict()), ckpt)
    out = tmp_path / 'infer.json'
    proc = run_tool(SEG, str(ckpt), '--inference', '--batch-size', '1',
                    '--json', str(out))
    assert 'images_per_s' in proc.stdout and 'device' in proc.stdout
    result = json.loads(out.read_text())
    assert result['mode'] == 'inference'
    assert "'resize_pad', 'slide'" in result['test_cfg']
    assert result['checkpoint'] == str(ckpt)


def test_data_mode_reports_cpu_time(tmp_path):
    """``--data --num-workers 0`` times the ViT-B config's own loader on a
    few written scenes, by wall clock and by CPU time."""
    from mmmultimae.datasets import write_synthetic_dataset
    write_synthetic_dataset(
        str(tmp_path / 'train'), 4, image_size=(40, 56), progress=False)
    config = osp.join(
        ROOT, 'configs', 'multimae',
        'multimae_vit-b-p16_8xb256-amp-coslr-1600e_in1k-rgb-depth-semseg.py')
    out = tmp_path / 'data.json'
    # (run_tool adds --iters 2 --warmup 1 --device cpu)
    proc = run_tool(config, '--data', '--num-workers', '0', '--batch-size',
                    '2', '--json', str(out), '--cfg-options',
                    f'train_dataloader.dataset.data_root={tmp_path}')
    assert 'images_per_cpu_s' in proc.stdout
    result = json.loads(out.read_text())
    assert result['mode'] == 'data' and result['iters'] == 2
    assert result['images_per_s'] > 0 and result['images_per_cpu_s'] > 0
    assert abs(result['cpu_s_per_image'] * result['images_per_cpu_s'] -
               1) < 1e-9
    assert result['opencv_threads'] == 1  # sequential, as in training


CLS = osp.join(
    ROOT, 'configs', 'multimae', 'benchmarks', 'classification',
    'multimae_vit-tiny-6l-p8_1xb16-80i_synthetic-64x64-rgb.py')


def test_benchmark_classification_training_and_inference(tmp_path):
    out = tmp_path / 'train.json'
    run_tool(CLS, '--batch-size', '2', '--amp-dtype', 'fp32', '--json',
             str(out))
    result = json.loads(out.read_text())
    assert result['mode'] == 'model' and result['images_per_s'] > 0
    assert result['tflop_per_step'] > 1e-4  # the encoder's matmuls
    out = tmp_path / 'infer.json'
    proc = run_tool(CLS, '--inference', '--batch-size', '2', '--json',
                    str(out))
    assert 'images_per_s' in proc.stdout
    assert json.loads(out.read_text())['mode'] == 'inference'
