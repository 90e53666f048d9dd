# Copyright (c) mmmultimae contributors. All rights reserved.
"""Time full training steps, inference (or the data pipeline) of any
config: pre-training (``MultiMAE``) and transfers (segmentors, depth
estimators, classifiers).

Model mode: builds the model of a config and times complete training steps
-- (mask sampling,) forward, losses, backward, optimizer step -- on
synthetic, already preprocessed tensors that live on the device (transfer
models: :meth:`example_batch`, random inputs at the adapters' size with
random ground truth; classifiers: without Mixup / CutMix, which the data
preprocessor applies).

Inference mode (``--inference``, transfer models): times ``predict`` in
eval mode without gradients, with every test mode of the config's
``test_cfg`` (e.g. ``resize_pad`` and ``slide``), at ``--batch-size``
(mmseg's inference benchmark uses 1); give a CHECKPOINT to time trained
weights.

GPU steps are timed with CUDA events, CPU steps with the wall clock.
Prints the median / min / max step time, images/s, TFLOP per step
(``FlopCounterMode`` over one forward + backward), achieved TFLOP/s, MFU
against ``--peak-tflops``, peak
memory and the device / torch / commit / command.

Data mode (``--data``): times the config's train dataloader alone (file
loading, aligned transforms, collate) with ``--num-workers`` workers; with 0
workers also by the CPU time of this process (img/s per loader core).

Memory mode (``--saved-memory B``): counts the bytes autograd keeps for the
backward pass, by part of the model, at ``--batch-size`` and half of it, and
extrapolates to batch B. In eager mode the count hardly depends on the
device (attention kernels may keep a few small tensors more or less), so
activation memory can be checked on a CPU.

Examples (CONFIG e.g. the ViT-B config ``configs/multimae/multimae_vit-b-
p16_8xb256-amp-coslr-1600e_in1k-rgb-depth-semseg.py``)::

    python tools/analysis_tools/benchmark.py CONFIG \\
        --batch-size 256 --amp-dtype bf16 --compile
    python tools/analysis_tools/benchmark.py CONFIG --device cpu \\
        --batch-size 8 --amp-dtype fp32
    python tools/analysis_tools/benchmark.py CONFIG --data \\
        --num-workers 8 --batch-size 256
    python tools/analysis_tools/benchmark.py CONFIG --device cpu \\
        --batch-size 4 --saved-memory 256
    python tools/analysis_tools/benchmark.py SEMSEG_CONFIG [CKPT] \\
        --inference --batch-size 1
"""
import argparse
import json
import logging
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple, Union

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.runner.checkpoint import load_checkpoint
from torch.utils.flop_counter import FlopCounterMode

from mmmultimae.registry import MODELS
from mmmultimae.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DTYPES = dict(bf16='bfloat16', fp16='float16', fp32=None)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='pre-training or transfer config')
    parser.add_argument(
        'checkpoint', nargs='?', help='weights to load (default: init)')
    parser.add_argument(
        '--inference',
        action='store_true',
        help='time predict (eval, no grad) instead of training steps')
    parser.add_argument('--batch-size', type=int, default=256)
    parser.add_argument(
        '--amp-dtype', choices=sorted(DTYPES), default='bf16')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='torch.compile the encoder/decoder/loss step (model.compile)')
    parser.add_argument(
        '--compile-mode',
        help='torch.compile mode, e.g. reduce-overhead (CUDA graphs) or '
        'max-autotune-no-cudagraphs; implies --compile')
    parser.add_argument(
        '--profile',
        type=int,
        default=0,
        metavar='N',
        help='profile N extra steps and print the top CUDA kernels')
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--peak-tflops',
        type=float,
        default=790.,
        help='peak TFLOP/s for MFU (bf16 dense matmul measured on '
        'H100/H200: ~790)')
    parser.add_argument(
        '--no-flops', action='store_true', help='skip the FLOP count')
    parser.add_argument(
        '--data',
        action='store_true',
        help='time the train dataloader instead of the model')
    parser.add_argument('--num-workers', type=int, default=8)
    parser.add_argument(
        '--tf32',
        action='store_true',
        help='allow TF32 matmuls (affects fp32 parts, e.g. the semseg '
        'decoder); off by default, as in training')
    parser.add_argument(
        '--check-syncs',
        action='store_true',
        help='run one eager CUDA step with torch.cuda.set_sync_debug_mode '
        '("error") and report the first host sync, if any')
    parser.add_argument(
        '--saved-memory',
        type=int,
        default=0,
        metavar='B',
        help='instead of timing, count the bytes autograd saves for the '
        'backward of one step, by module, at --batch-size and half of it, '
        'extrapolated to batch B (hardly device dependent in eager mode; '
        'works on CPU)')
    parser.add_argument('--json', help='also write the results here')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value')
    return parser.parse_args(argv)


def git_commit() -> str:
    """Short commit of the checkout (``-dirty`` with local changes), or
    ``$MMMULTIMAE_COMMIT`` outside a git checkout (a copied tree)."""
    try:
        commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                                cwd=ROOT,
                                capture_output=True,
                                text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '-uno'],
                               cwd=ROOT,
                               capture_output=True,
                               text=True).stdout.strip()
        return commit + ('-dirty' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get('MMMULTIMAE_COMMIT', 'unknown')


def device_name(device: torch.device) -> str:
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return f'CPU ({platform.processor() or platform.machine()}, ' \
        f'{torch.get_num_threads()} threads)'


def example_batch(
    model: torch.nn.Module, batch_size: int, device: torch.device
) -> Tuple[Union[torch.Tensor, Dict[str, torch.Tensor]], Optional[list]]:
    """``(inputs, data_samples)`` (seed 0) on ``device``: the model's
    :meth:`example_batch` (transfer models, with ground truth; an image
    tensor for classifiers) or :meth:`example_inputs` (pre-training, no
    samples)."""
    gen = torch.Generator().manual_seed(0)
    if hasattr(model, 'example_batch'):
        inputs, samples = model.example_batch(batch_size, gen)
        samples = [sample.to(device) for sample in samples]
    else:
        inputs, samples = model.example_inputs(batch_size, gen), None
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device), samples
    return {k: v.to(device) for k, v in inputs.items()}, samples


def loss_of(model, batch) -> torch.Tensor:
    """The summed loss of one forward (mmengine's ``parse_losses``)."""
    inputs, samples = batch
    losses = model(inputs, samples, mode='loss') if samples is not None \
        else model(inputs, mode='loss')
    return model.parse_losses(losses)[0]


def build_step(model: torch.nn.Module, optim_wrapper,
               batch) -> Callable[[], None]:
    """One full training step, as mmengine's ``train_step`` without the
    data preprocessor and the logging."""

    def step() -> None:
        with optim_wrapper.optim_context(model):
            loss = loss_of(model, batch)
        optim_wrapper.update_params(loss)

    return step


def build_inference_step(model: torch.nn.Module,
                         batch) -> Callable[[], None]:
    """One ``predict`` call (every test mode of ``test_cfg``)."""
    inputs, samples = batch

    def step() -> None:
        with torch.no_grad():
            model.predict(inputs, [s.clone() for s in samples])

    return step


def count_flops(model, optim_wrapper, batch) -> float:
    """FLOPs of one forward + backward (no optimizer step)."""
    with FlopCounterMode(display=False) as counter:
        with optim_wrapper.optim_context(model):
            loss = loss_of(model, batch)
        loss.backward()
    optim_wrapper.zero_grad()
    return float(counter.get_total_flops())


def module_groups(model: torch.nn.Module) -> Dict[str, List[torch.nn.Module]]:
    """The parts activations are attributed to: the encoder's adapters and
    blocks, and every head (decoder and loss)."""
    groups = {}
    for name, module in model.named_modules():
        if name.count('.') == 1 and name.split('.')[0] in ('encoder',
                                                           'heads'):
            # containers are never called: their members are
            containers = (torch.nn.ModuleList, torch.nn.ModuleDict)
            groups[name] = list(module.children()) if isinstance(
                module, containers) else [module]
    return groups


def saved_tensor_bytes(model, optim_wrapper, batch) -> Dict[str, int]:
    """Bytes of the tensors autograd keeps for the backward of one step.

    Every saved tensor is attributed to the innermost group of
    :func:`module_groups` running when it was saved (``'other'`` outside
    them) and counted once per storage; parameters themselves are not
    counted (their autocast copies are). Under ``torch.compile`` the hooks
    see the tensors the compiled graph saves, all under ``'other'``.

    Returns:
        dict[str, int]: Bytes by group, plus ``'total'``.
    """
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: Dict[int, str] = {}
    sizes: Dict[str, int] = {}
    stack = ['other']
    handles = []
    for group, modules in module_groups(model).items():
        for m in modules:
            handles.append(
                m.register_forward_pre_hook(
                    lambda *_, g=group: stack.append(g)))
            # (a forward hook's non-None return replaces the output)
            handles.append(
                m.register_forward_hook(lambda *_: stack.pop() and None))

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in params and key not in seen:
            seen[key] = stack[-1]
            sizes[stack[-1]] = sizes.get(stack[-1], 0) + storage.nbytes()
        return tensor

    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            with optim_wrapper.optim_context(model):
                loss = loss_of(model, batch)
        loss.backward()
    finally:
        for handle in handles:
            handle.remove()
    optim_wrapper.zero_grad()
    sizes['total'] = sum(sizes.values())
    return sizes


def check_host_syncs(step: Callable[[], None], device: torch.device) -> str:
    """Run one step (after a warm-up step) with CUDA sync debugging.

    Returns:
        str: ``'none'`` or where the first host synchronisation happened.
    """
    step()
    torch.cuda.synchronize(device)
    torch.cuda.set_sync_debug_mode('error')
    try:
        step()
        found = 'none'
    except RuntimeError as err:
        import traceback
        frames = [
            f'{osp.relpath(f.filename, ROOT)}:{f.lineno}'
            for f in traceback.extract_tb(err.__traceback__)
            if f.filename.startswith(ROOT)
        ]
        found = f'{err} at ' + ' <- '.join(reversed(frames[-3:]))
    finally:
        torch.cuda.set_sync_debug_mode(0)
    torch.cuda.synchronize(device)
    return found


def profile_steps(step: Callable[[], None], steps: int,
                  device: torch.device) -> None:
    """Print where the time of ``steps`` steps goes (top kernels/ops)."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        wall = (time.perf_counter() - t0) / steps
    events = prof.key_averages()
    sort_by = 'self_cuda_time_total' if device.type == 'cuda' \
        else 'self_cpu_time_total'
    print(
        events.table(
            sort_by=sort_by, row_limit=30, max_name_column_width=60))
    if device.type == 'cuda':
        busy = sum(e.self_device_time_total for e in events) / 1e6 / steps
        print(f'profile: {wall * 1e3:.1f} ms/step wall, '
              f'{busy * 1e3:.1f} ms/step of kernel time '
              f'({busy / wall:.0%} GPU busy)')


def time_steps(step: Callable[[], None], iters: int, warmup: int,
               device: torch.device) -> List[float]:
    """Seconds per step, ``iters`` steps after ``warmup`` steps."""
    for _ in range(warmup):
        step()
    times = []
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        events = [(torch.cuda.Event(enable_timing=True),
                   torch.cuda.Event(enable_timing=True))
                  for _ in range(iters)]
        for start, end in events:
            start.record()
            step()
            end.record()
        torch.cuda.synchronize(device)
        times = [start.elapsed_time(end) / 1e3 for start, end in events]
    else:
        for _ in range(iters):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
    return times


def benchmark_model(cfg: Config, args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    if args.compile_mode:
        cfg.model.compile = dict(mode=args.compile_mode)
    elif args.compile:
        cfg.model.compile = True
    if args.checkpoint:
        # the checkpoint holds every weight: no pre-trained file is read
        cfg.model.get('backbone', {}).pop('init_cfg', None)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.to(device).train()
    if args.inference:
        return benchmark_inference(model, args, device)

    wrapper_cfg = dict(cfg.optim_wrapper)
    wrapper_cfg.pop('loss_scale', None)
    dtype = DTYPES[args.amp_dtype]
    if dtype is None:
        wrapper_cfg.update(type='OptimWrapper')
        wrapper_cfg.pop('dtype', None)
    else:
        wrapper_cfg.update(type='MixedPrecisionOptimWrapper', dtype=dtype)
    optimizer = dict(wrapper_cfg['optimizer'])
    if optimizer.get('type') in ('AdamW', 'Adam') and device.type == 'cuda':
        optimizer['fused'] = True
    wrapper_cfg['optimizer'] = optimizer
    optim_wrapper = build_optim_wrapper(model, wrapper_cfg)

    if args.saved_memory:
        return saved_memory_report(model, optim_wrapper, args, device)
    batch = example_batch(model, args.batch_size, device)
    step = build_step(model, optim_wrapper, batch)
    host_sync = None
    if args.check_syncs and device.type == 'cuda':
        host_sync = check_host_syncs(step, device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    times = time_steps(step, args.iters, args.warmup, device)
    median = statistics.median(times)
    if args.profile:
        profile_steps(step, args.profile, device)
    flops = float('nan')
    if not args.no_flops:
        # after timing and on the eager path: a compiled function first
        # called under FlopCounterMode (a dispatch mode) can be skipped by
        # dynamo for good on some torch versions
        if hasattr(model, '_masked_losses'):
            model._loss_step = model._masked_losses
        flops = count_flops(model, optim_wrapper, batch)
    result = dict(
        mode='model',
        config=args.config,
        batch_size=args.batch_size,
        amp_dtype=args.amp_dtype,
        compile=args.compile_mode or args.compile,
        iters=args.iters,
        warmup=args.warmup,
        step_time_median_s=median,
        step_time_min_s=min(times),
        step_time_max_s=max(times),
        images_per_s=args.batch_size / median,
        tflop_per_step=flops / 1e12,
        achieved_tflops=flops / 1e12 / median,
        mfu=flops / 1e12 / median / args.peak_tflops,
        peak_tflops=args.peak_tflops,
        num_params_m=sum(p.numel() for p in model.parameters()
                         if p.requires_grad) / 1e6)
    if host_sync is not None:
        result['host_sync'] = host_sync
    if args.compile or args.compile_mode:
        from torch._dynamo.utils import counters
        result['compiled_graphs'] = counters['stats']['unique_graphs']
        result['graph_breaks'] = sum(counters['graph_break'].values())
    if device.type == 'cuda':
        result['peak_memory_gb'] = torch.cuda.max_memory_allocated(
            device) / 1e9
    return result


def benchmark_inference(model: torch.nn.Module, args: argparse.Namespace,
                        device: torch.device) -> dict:
    """Seconds per ``predict`` call and images/s (eval, no grad)."""
    if not hasattr(model, 'example_batch'):
        raise ValueError(
            f'--inference times transfer models (segmentors, depth '
            f'estimators, classifiers); {type(model).__name__} has no '
            'example_batch')
    model.eval()
    step = build_inference_step(
        model, example_batch(model, args.batch_size, device))
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    times = time_steps(step, args.iters, args.warmup, device)
    median = statistics.median(times)
    result = dict(
        mode='inference',
        config=args.config,
        checkpoint=args.checkpoint,
        test_cfg=str(getattr(model, 'test_cfg', None)),
        batch_size=args.batch_size,
        iters=args.iters,
        warmup=args.warmup,
        step_time_median_s=median,
        step_time_min_s=min(times),
        step_time_max_s=max(times),
        images_per_s=args.batch_size / median)
    if device.type == 'cuda':
        result['peak_memory_gb'] = torch.cuda.max_memory_allocated(
            device) / 1e9
    return result


def saved_memory_report(model, optim_wrapper, args: argparse.Namespace,
                        device: torch.device) -> dict:
    """Saved-activation bytes at ``--batch-size`` and half of it, fitted as
    ``fixed + per_sample * B`` per group and extrapolated to
    ``--saved-memory`` samples; also the parameter, gradient and AdamW
    state bytes (fp32)."""
    big = args.batch_size
    small = max(big // 2, 1)
    if small == big:
        raise ValueError('--saved-memory needs --batch-size >= 2')
    counts = {}
    for batch in (small, big):
        # one step first: lazily built state (compiled graphs) is not
        # counted as activations
        data = example_batch(model, batch, device)
        saved_tensor_bytes(model, optim_wrapper, data)
        counts[batch] = saved_tensor_bytes(model, optim_wrapper, data)
    target = args.saved_memory
    result = dict(
        mode='saved_memory',
        config=args.config,
        amp_dtype=args.amp_dtype,
        compile=args.compile_mode or args.compile,
        measured_batches=[small, big],
        batch_size=target)
    for group in sorted(set(counts[small]) | set(counts[big])):
        lo, hi = counts[small].get(group, 0), counts[big].get(group, 0)
        per_sample = (hi - lo) / (big - small)
        fixed = lo - per_sample * small
        result[f'saved_gb.{group}'] = (fixed + per_sample * target) / 1e9
    num = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # fp32 weights + grads + AdamW exp_avg / exp_avg_sq
    result['params_grads_adamw_gb'] = num * 4 * 4 / 1e9
    return result


def benchmark_data(cfg: Config, args: argparse.Namespace) -> dict:
    """Time the train dataloader: img/s by wall clock and, with 0 workers
    (loading in this process), by CPU time -- the cost per loader core,
    which other processes sharing the machine do not inflate as much as
    the wall clock. OpenCV threads are set as training sets them
    (``env_cfg.mp_cfg.opencv_num_threads``, default 0: sequential)."""
    import cv2
    from mmengine.runner import Runner
    mp_cfg = cfg.get('env_cfg', {}).get('mp_cfg', {})
    cv2.setNumThreads(mp_cfg.get('opencv_num_threads', 0))
    loader_cfg = dict(cfg.train_dataloader)
    loader_cfg.update(
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        persistent_workers=args.num_workers > 0)
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    it = iter(loader)

    def next_batch() -> None:
        nonlocal it
        try:
            next(it)
        except StopIteration:  # a small dataset: start another epoch
            it = iter(loader)
            next(it)

    for _ in range(args.warmup):
        next_batch()
    times = []
    cpu_start = time.process_time()
    for _ in range(args.iters):
        t0 = time.perf_counter()
        next_batch()
        times.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu_start
    total = sum(times)
    result = dict(
        mode='data',
        config=args.config,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        iters=args.iters,
        batch_time_median_s=statistics.median(times),
        images_per_s=args.batch_size * len(times) / total)
    if args.num_workers == 0:
        # CPU seconds of this process (all its threads): img/s per core
        result.update(
            cpu_s_per_image=cpu / (args.batch_size * len(times)),
            images_per_cpu_s=args.batch_size * len(times) / cpu,
            torch_threads=torch.get_num_threads(),
            opencv_threads=cv2.getNumThreads())
    return result


def report(result: dict, args: argparse.Namespace) -> str:
    device = torch.device(args.device)
    lines = [
        f'device   : {device_name(device)}',
        f'torch    : {torch.__version__} (python {platform.python_version()})',
        f'commit   : {git_commit()}',
        'command  : ' + ' '.join([osp.relpath(sys.argv[0], ROOT)] +
                                 sys.argv[1:]),
    ]
    for key, value in result.items():
        if isinstance(value, float):
            value = f'{value:.4g}'
        lines.append(f'{key:<21}: {value}')
    return '\n'.join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    # mmengine logs every parameter's init at INFO; keep the report readable
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    # as configs/_base_/default_runtime.py (env_cfg.cudnn_benchmark)
    torch.backends.cudnn.benchmark = True
    if args.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    result = benchmark_data(cfg, args) if args.data else benchmark_model(
        cfg, args)
    print(report(result, args), flush=True)
    if args.json:
        result.update(device=device_name(torch.device(args.device)),
                      torch=torch.__version__, commit=git_commit())
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
