# Copyright (c) mmmultimae contributors. All rights reserved.
"""Run the pre-training benchmark variants and print one table.

Each variant runs ``benchmark.py`` in its own process (so compiled
graphs and CUDA memory do not leak between variants) with a time limit; the
suite stops starting variants when ``--deadline`` seconds are spent and
always prints the table of what finished, as Markdown, with the exact
command of every row.

Example::

    python tools/analysis_tools/benchmark_suite.py --batch-size 256 \\
        --deadline 480 --json-dir work_dirs/bench
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MULTIMAE = ('configs/multimae/'
            'multimae_vit-b-p16_8xb256-amp-coslr-1600e_in1k-rgb-depth-'
            'semseg.py')
MULTIMAE_M = MULTIMAE.replace('semseg.py', 'semseg_enc-mask-tokens.py')
MAE_D8 = 'configs/multimae/mae_vit-b-p16-d8_8xb512-amp-coslr-1600e_in1k.py'
MAE_D2 = 'configs/multimae/mae_vit-b-p16-d2_8xb512-amp-coslr-1600e_in1k.py'

# (name, config, extra arguments), most important first
RO = ['--compile-mode', 'reduce-overhead']
VARIANTS = [
    ('MultiMAE bf16', MULTIMAE,
     ['--amp-dtype', 'bf16', '--check-syncs', '--profile', '3']),
    ('MultiMAE bf16 compile', MULTIMAE, ['--amp-dtype', 'bf16',
                                         '--compile']),
    ('MultiMAE bf16 compile+cudagraphs', MULTIMAE, ['--amp-dtype', 'bf16'] +
     RO),
    ('MAE-D8 bf16 compile', MAE_D8, ['--amp-dtype', 'bf16', '--compile']),
    ('MAE-D2 bf16 compile', MAE_D2, ['--amp-dtype', 'bf16', '--compile']),
    ('MultiMAE fp16 (semseg decoder fp32)', MULTIMAE,
     ['--amp-dtype', 'fp16']),
    ('MAE-D8 bf16', MAE_D8, ['--amp-dtype', 'bf16']),
    ('MAE-D2 bf16', MAE_D2, ['--amp-dtype', 'bf16']),
    ('MultiMAE w/ [M] in encoder bf16', MULTIMAE_M, ['--amp-dtype', 'bf16']),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch-size', type=int, default=256)
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--deadline', type=float, default=480.)
    parser.add_argument('--variant-timeout', type=float, default=240.)
    parser.add_argument('--only', nargs='+', type=int, help='variant indices')
    parser.add_argument('--json-dir', default='work_dirs/benchmark_suite')
    args = parser.parse_args()
    os.makedirs(args.json_dir, exist_ok=True)

    start = time.time()
    rows = []
    for index, (name, config, extra) in enumerate(VARIANTS):
        if args.only and index not in args.only:
            continue
        left = args.deadline - (time.time() - start)
        if left < 30:
            rows.append((name, None, 'skipped: deadline'))
            continue
        out = osp.join(args.json_dir, f'variant{index}.json')
        cmd = [
            sys.executable, 'tools/analysis_tools/benchmark.py',
            config, '--batch-size',
            str(args.batch_size), '--iters',
            str(args.iters), '--warmup',
            str(args.warmup)
        ] + extra
        command = ' '.join(['python'] + cmd[1:])
        cmd += ['--json', out]
        print(f'[suite] {name}: {" ".join(cmd[1:])}', flush=True)
        t0 = time.time()
        try:
            proc = subprocess.run(
                cmd,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=min(args.variant_timeout, left))
        except subprocess.TimeoutExpired:
            rows.append((name, None, f'timeout after {time.time() - t0:.0f}s'))
            continue
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr)[-1500:]
            print(tail, flush=True)
            rows.append((name, None, f'failed (rc {proc.returncode})'))
            continue
        print(proc.stdout, flush=True)
        with open(out) as f:
            result = json.load(f)
        result['command'] = command
        result['wall_s'] = time.time() - t0
        rows.append((name, result, 'ok'))

    first = next((r for _, r, _ in rows if r), None)
    if first:
        print(f"\ndevice: {first['device']}, torch {first['torch']}, "
              f"commit {first['commit']}, batch {args.batch_size}")
    print('\n| variant | img/s | s/step (median) | TFLOP/step | TFLOP/s | '
          'MFU | peak mem (GB) | host syncs | graphs/breaks |')
    print('|---|---|---|---|---|---|---|---|---|')
    for name, result, status in rows:
        if result is None:
            print(f'| {name} | {status} | | | | | | | |')
            continue
        print(f"| {name} | {result['images_per_s']:,.0f} | "
              f"{result['step_time_median_s']:.4f} | "
              f"{result['tflop_per_step']:.2f} | "
              f"{result['achieved_tflops']:.0f} | {result['mfu']:.1%} | "
              f"{result.get('peak_memory_gb', float('nan')):.1f} | "
              f"{result.get('host_sync', '-')} | "
              f"{result.get('compiled_graphs', '-')}/"
              f"{result.get('graph_breaks', '-')} |")
    print('\ncommands:')
    for name, result, _ in rows:
        if result:
            print(f'- {name}: `{result["command"]}`')
    return 0 if any(r for _, r, _ in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
