# Copyright (c) mmmultimae contributors. All rights reserved.
"""Compare fine-tuning runs (segmentation, depth, surface normals or image
classification) against each other and against a constant prediction;
draw their (dense) predictions.

Each run is a work dir written by ``tools/train.py`` (its dumped config and
``last_checkpoint``). Every run is tested on its config's test set with
every test mode of its model (e.g. ``resize_pad`` and ``slide``); the
baseline predicts the training set's most frequent class (segmentation:
of the pixels; classification: of the images), its median depth or its
mean normal (a ``SurfaceNormalMetric`` test evaluator) everywhere and is
scored by the same metric. Prints one table, writes ``metrics.json`` and,
for dense tasks, ``predictions.png`` (rgb, depth, ground truth, each run)
into ``--out``.

Example (what ``tools/run_demo.sh`` runs)::

    python tools/analysis_tools/compare_transfers.py \\
        pretrained=work_dirs/demo/seg_rgb_pretrained \\
        scratch=work_dirs/demo/seg_rgb_scratch --out work_dirs/demo/seg
"""
import argparse
import contextlib
import copy
import json
import os
import os.path as osp
import sys

from PIL import Image

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmultimae.apis.transfer import build_test_runner  # noqa: E402
from mmmultimae.apis.transfer import class_histogram  # noqa: E402
from mmmultimae.apis.transfer import (  # noqa: E402
    constant_prediction_metrics, draw_predictions, label_histogram,
    mean_target, median_target, run_config)
from mmmultimae.registry import DATASETS  # noqa: E402
from mmmultimae.utils import register_all_modules  # noqa: E402
from mmmultimae.visualization.dense import dataset_palette  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Test segmentation runs and compare them with the '
        'majority-class baseline')
    parser.add_argument(
        'runs', nargs='+', metavar='NAME=WORK_DIR', help='runs to compare')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--num-figures', type=int, default=4, help='test samples drawn')
    args = parser.parse_args(argv)
    runs = {}
    for item in args.runs:
        name, sep, work_dir = item.partition('=')
        if not sep or not name or not work_dir:
            parser.error(f'runs are NAME=WORK_DIR, got {item!r}')
        if name in runs:
            parser.error(f'run name {name!r} given twice')
        runs[name] = work_dir
    args.runs = runs
    return args


#: Columns of the table: (metric, higher is better); the first is shown
#: for every test mode, the others for the first mode.
COLUMNS = dict(
    segmentation=(('mIoU', True), ('aAcc', True)),
    depth=(('delta1', True), ('abs_rel', False), ('rmse', False)),
    normals=(('mean_angle', False), ('l1', False), ('within_11.25', True)),
    classification=(('accuracy', True), ))


def main(argv=None) -> dict:
    args = parse_args(argv)
    register_all_modules()
    os.makedirs(args.out, exist_ok=True)
    results, models, inputs = {}, {}, {}
    for name, work_dir in args.runs.items():
        cfg, checkpoint = run_config(work_dir)
        # the runners' messages go to stderr, the table to stdout
        with contextlib.redirect_stdout(sys.stderr):
            runner = build_test_runner(cfg, checkpoint,
                                       osp.join(args.out, name))
            metrics = runner.test()
        results[name] = {k: float(v) for k, v in metrics.items()}
        models[name] = runner.model.eval()
        inputs[name] = '+'.join(
            sorted(runner.model.backbone.modalities,
                   key=lambda m: (m != 'rgb', m)))
        if len(models) == 1:
            first_cfg, test_set = cfg, runner.test_dataloader.dataset

    # the baseline: the best constant on the training set
    train_cfg = copy.deepcopy(first_cfg.train_dataloader.dataset)
    train_cfg.pipeline = first_cfg.test_dataloader.dataset.pipeline
    train_set = DATASETS.build(train_cfg)
    # dense runs wrap their metric in PerTestModeMetric, classifiers do not
    metric_cfg = first_cfg.test_evaluator.get('metric',
                                              first_cfg.test_evaluator)
    sample = test_set[0]['data_samples']
    task = 'segmentation' if 'gt_sem_seg' in sample \
        else 'classification' if 'gt_depth_map' not in sample \
        else 'normals' if metric_cfg.type == 'SurfaceNormalMetric' \
        else 'depth'
    palette = None
    if task == 'classification':
        classes = test_set.metainfo['classes']
        constant = int(class_histogram(train_set, len(classes)).argmax())
        baseline = f"majority class ('{classes[constant]}')"
    elif task == 'segmentation':
        classes = test_set.metainfo['classes']
        counts = label_histogram(train_set, len(classes))
        constant = int(counts.argmax())
        baseline = f"majority class ('{classes[constant]}')"
        palette = dataset_palette(test_set.metainfo)
    elif task == 'normals':
        constant = mean_target(train_set)
        baseline = 'mean normal ({:.2f}, {:.2f}, {:.2f})'.format(*constant)
    else:
        constant = median_target(train_set)
        baseline = f'median depth ({constant:.2f})'
    metrics = constant_prediction_metrics(test_set, constant, metric_cfg)
    # classification keys are <metric>/top<k> already, dense ones get the
    # test modes
    results[baseline] = {
        key: float(value)
        for key, value in metrics.items()
    } if task == 'classification' else {
        f'{key}/{mode}': float(value)
        for key, value in metrics.items()
        for mode in modes_of(results)
    }
    inputs[baseline] = '-'

    print(
        format_table(results, inputs, COLUMNS[task],
                     f'{task} on {len(test_set)} test images'))
    with open(osp.join(args.out, 'metrics.json'), 'w') as f:
        json.dump(results, f, indent=1)
    if task == 'classification':
        return results
    figure = draw_predictions(test_set,
                              range(min(args.num_figures, len(test_set))),
                              models, palette)
    path = osp.join(args.out, 'predictions.png')
    Image.fromarray(figure).save(path)
    print(f'predictions of {args.num_figures} test images: {path}')
    return results


def modes_of(results: dict) -> list:
    """Test modes in the runs' metric keys (``<metric>/<mode>``), in
    order."""
    modes = []
    for metrics in results.values():
        for key in metrics:
            mode = key.partition('/')[2]
            if mode and mode not in modes:
                modes.append(mode)
    return modes


def format_table(results: dict, inputs: dict, columns, title: str) -> str:
    """One row per run: the first metric for every test mode, the others
    for the first mode."""
    modes = modes_of(results)
    keys = [(columns[0], mode) for mode in modes] + \
        [(column, modes[0]) for column in columns[1:]]
    header = ['run', 'inputs'] + [
        f"{name} {mode} {'(+)' if up else '(-)'}" for (name, up), mode in keys
    ]
    rows = [[name, inputs[name]] +
            [f'{metrics[f"{key}/{mode}"]:.3f}' for (key, _), mode in keys]
            for name, metrics in results.items()]
    widths = [
        max(len(r[i]) for r in rows + [header]) for i in range(len(header))
    ]
    lines = [f'\n{title} ((+) higher is better, (-) lower is better)']
    for row in [header] + rows:
        lines.append('  '.join(v.ljust(w) for v, w in zip(row, widths)))
    return '\n'.join(lines)


if __name__ == '__main__':
    main()
