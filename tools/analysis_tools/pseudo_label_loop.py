# Copyright (c) mmmultimae contributors. All rights reserved.
"""Close the pseudo-labelling loop on synthetic scenes.

The official MultiMAE pre-trains on ImageNet with depth and segmentation
pseudo-labels of external models. This script plays the whole recipe on the
synthetic scenes, where the renderer's ground truth tells how good the
pseudo-labels are:

1. renders labelled scenes (or takes ``--labelled``, e.g. the demo's
   ``data/synthetic_scenes/train``) and other, "unlabelled" scenes (seed 2);
2. fine-tunes the demo's segmentation and depth transfer configs on the
   labelled scenes (``tools/train.py``, side by side, one thread each;
   from ``--pretrained`` or from scratch);
3. copies the unlabelled scenes' rgb into an ImageNet-layout folder
   (``<scene type>/<file>``) and pseudo-labels it with the two models
   (``tools/dataset_converters/pseudo_label.py``);
4. prints the pseudo-labels' quality against the renderer's ground truth
   (δ1 and abs rel of depth, pixel accuracy and mIoU of semseg) next to the
   best constant labels (the labelled set's median depth and majority
   class);
5. pre-trains the demo MultiMAE config on the pseudo-labelled set for
   ``--pretrain-epochs`` epochs and prints its first and last losses (and,
   when the config validates, its last held-out figures on ``--num-val``
   rendered scenes of seed 1 with their true labels).

Example (a few minutes on 2 CPU cores)::

    python tools/analysis_tools/pseudo_label_loop.py \\
        --labelled data/synthetic_scenes/train \\
        --pretrained work_dirs/demo/epoch_16.pth

Finished steps are reused when the script is run again with the same
``--work-dir`` (delete it to start over). ``--finetune-options`` and
``--pretrain-options`` take ``key=value`` overrides for the runs (the tests
make them tiny).
"""
import argparse
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

from mmmultimae.apis import label_quality  # noqa: E402
from mmmultimae.apis import pseudo_label as labelling  # noqa: E402
from mmmultimae.apis.transfer import run_config  # noqa: E402
from mmmultimae.datasets.synthetic import write_synthetic_dataset  # noqa
from mmmultimae.datasets.synthetic.metainfo import CLASSES  # noqa: E402

BENCH = osp.join(ROOT, 'configs', 'multimae', 'benchmarks')
CONFIGS = dict(
    semseg=osp.join(
        BENCH, 'semseg',
        'multimae_vit-tiny-6l-p8_convnext_1xb8-3e_synthetic-64x64-rgb.py'),
    depth=osp.join(
        BENCH, 'depth',
        'multimae_vit-tiny-6l-p8_dpt_1xb8-3e_synthetic-64x64-rgb.py'))
PRETRAIN_CONFIG = osp.join(
    ROOT, 'configs', 'multimae',
    'multimae_vit-tiny-6l-p8_1xb32-16e_synthetic-demo.py')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Fine-tune on labelled synthetic scenes, pseudo-label '
        'other scenes, score the labels against the renderer and pre-train '
        'on them.')
    parser.add_argument('--work-dir', default='work_dirs/pseudo_label_loop')
    parser.add_argument(
        '--labelled',
        help='written synthetic scenes to fine-tune on (default: render '
        '--num-labelled scenes, seed 0, into WORK_DIR/scenes/labelled)')
    parser.add_argument('--num-labelled', type=int, default=256)
    parser.add_argument(
        '--num-unlabelled',
        type=int,
        default=128,
        help='scenes (seed 2) to pseudo-label')
    parser.add_argument(
        '--num-val',
        type=int,
        default=64,
        help='held-out scenes (seed 1) of the pre-training validation')
    parser.add_argument('--image-size', type=int, default=96)
    parser.add_argument(
        '--pretrained',
        help='checkpoint the fine-tunes start from (default: scratch)')
    parser.add_argument('--pretrain-epochs', type=int, default=4)
    parser.add_argument(
        '--batch-size', type=int, default=8, help='pseudo-labelling batch')
    parser.add_argument(
        '--finetune-options',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='--cfg-options of both fine-tunes')
    parser.add_argument(
        '--pretrain-options',
        nargs='+',
        default=[],
        metavar='KEY=VALUE',
        help='--cfg-options of the pre-training')
    args = parser.parse_args(argv)
    if args.pretrain_epochs < 2:
        parser.error('--pretrain-epochs must be >= 2 (a warm-up epoch, then '
                     'the cosine schedule)')
    return args


def log(message: str) -> None:
    print(f'[pseudo-label loop] {message}', flush=True)


def run(jobs: Dict[str, Tuple[List[str], str]],
        env: Optional[dict] = None) -> None:
    """Run the commands of ``jobs`` (name -> command, log file) side by
    side, each with its output in its log file; when one fails, show the
    end of its log and stop."""
    procs = {}
    for name, (cmd, log_file) in jobs.items():
        with open(log_file, 'w') as f:
            procs[name] = subprocess.Popen(
                cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    codes = {name: proc.wait() for name, proc in procs.items()}
    for name, code in codes.items():
        if code:
            log_file = jobs[name][1]
            with open(log_file) as f:
                tail = f.read()[-4000:]
            raise RuntimeError(f'{name} failed (exit {code}); the end of '
                               f'{log_file}:\n{tail}')


def finished(work_dir: str) -> Optional[str]:
    """The last checkpoint of a finished training run, else None."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        checkpoint = f.read().strip()
    return checkpoint if osp.isfile(checkpoint) else None


def finetune(args, labelled: str) -> Dict[str, Dict[str, str]]:
    """Fine-tune both transfer configs (side by side) on ``labelled``;
    returns their dumped configs and checkpoints (``run_config``)."""
    init = (f'model.backbone.init_cfg.checkpoint={args.pretrained}'
            if args.pretrained else 'model.backbone.init_cfg=None')
    data = [
        f'train_dataloader.dataset.data_root={osp.dirname(labelled)}',
        'train_dataloader.dataset.data_prefix.img_path='
        f'{osp.basename(labelled)}'
    ]
    jobs = {}
    for task, config in CONFIGS.items():
        work_dir = osp.join(args.work_dir, f'finetune_{task}')
        if finished(work_dir):
            log(f'{task}: reusing {finished(work_dir)}')
            continue
        cmd = [
            sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
            '--cfg-options', init, *data, *args.finetune_options
        ]
        log(f'{task}: fine-tuning {osp.basename(config)} '
            f"({'from ' + args.pretrained if args.pretrained else 'scratch'})"
            f', log: {work_dir}.log')
        jobs[f'fine-tuning {task}'] = (cmd, f'{work_dir}.log')
    run(jobs, env=dict(os.environ, OMP_NUM_THREADS='1'))
    out = {}
    for task in CONFIGS:
        cfg, checkpoint = run_config(
            osp.join(args.work_dir, f'finetune_{task}'))
        out[task] = dict(config=cfg.filename, checkpoint=checkpoint)
    return out


def pretrain_records(work_dir: str) -> Tuple[List[dict], List[dict]]:
    """The logged training and validation scalars of the newest run in
    ``work_dir``."""
    files = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f"no scalars.json under '{work_dir}'")
    with open(files[-1]) as f:
        records = [json.loads(line) for line in f]
    train = [r for r in records if 'loss' in r]
    return train, [r for r in records if 'loss' not in r]


def main(argv=None) -> dict:
    args = parse_args(argv)
    args.work_dir = osp.abspath(args.work_dir)
    os.makedirs(args.work_dir, exist_ok=True)
    start = time.time()
    scenes = osp.join(args.work_dir, 'scenes')
    labelled = osp.abspath(args.labelled or osp.join(scenes, 'labelled'))
    if not args.labelled:
        log(f'rendering {args.num_labelled} labelled scenes -> {labelled}')
        write_synthetic_dataset(
            labelled,
            args.num_labelled,
            args.image_size,
            seed=0,
            progress=False)
    truth = osp.join(scenes, 'unlabelled')
    log(f'rendering {args.num_unlabelled} other scenes (seed 2) -> {truth}')
    write_synthetic_dataset(
        truth, args.num_unlabelled, args.image_size, seed=2, progress=False)
    rgb_only = osp.join(args.work_dir, 'unlabelled_rgb')
    if not osp.isdir(rgb_only):  # ImageNet layout: <scene type>/<file>
        shutil.copytree(osp.join(truth, 'rgb'), rgb_only)

    models = finetune(args, labelled)

    pseudo = osp.join(args.work_dir, 'pseudo')
    log(f'pseudo-labelling {rgb_only} -> {pseudo}')
    cmd = [
        sys.executable, 'tools/dataset_converters/pseudo_label.py', rgb_only,
        pseudo, '--semseg', models['semseg']['config'],
        models['semseg']['checkpoint'], '--depth', models['depth']['config'],
        models['depth']['checkpoint'], '--batch-size',
        str(args.batch_size), '--quiet'
    ]
    label_log = osp.join(args.work_dir, 'pseudo_label.log')
    run({'pseudo-labelling': (cmd, label_log)})
    with open(label_log) as f:
        speed = [line.strip() for line in f if 'images/s' in line]
    log(speed[-1] if speed else 'pseudo-labelling done')

    num_classes = len(CLASSES)
    median, majority = label_quality.constant_labels(labelled, num_classes)

    def scores(**constants) -> Dict[str, float]:
        """Depth and semseg quality of the pseudo-labels (or constants)."""
        depth = label_quality.depth_label_quality(
            pseudo, truth, constant=constants.get('depth'))
        semseg = label_quality.semseg_label_quality(
            pseudo, truth, num_classes, constant=constants.get('semseg'))
        return dict(**depth, **semseg)

    quality = {
        'pseudo-labels':
        scores(),
        f'constant ({median:.2f} m, {CLASSES[majority]!r})':
        scores(depth=median, semseg=majority),
    }
    print(f'\npseudo-label quality on the {args.num_unlabelled} unlabelled '
          "scenes (renderer's ground truth)")
    print(f'| {"labels":<28} | δ1    | abs rel | aAcc  | mIoU  |')
    print(f'|{"-" * 30}|-------|---------|-------|-------|')
    for name, m in quality.items():
        print(f"| {name:<28} | {m['delta1']:.3f} | {m['abs_rel']:.3f}   | "
              f"{m['aAcc']:5.1f} | {m['mIoU']:5.1f} |")

    with open(osp.join(pseudo, labelling.META_FILE)) as f:
        classes = json.load(f)['semseg']['num_classes']
    if classes != num_classes:
        raise ValueError(f'{pseudo} has {classes} semseg classes; the demo '
                         f'config has {num_classes}')
    pre_dir = osp.join(args.work_dir, 'pretrain')
    epochs = args.pretrain_epochs
    held_out = []
    if Config.fromfile(PRETRAIN_CONFIG).get('val_dataloader'):
        log(f'rendering {args.num_val} held-out scenes (seed 1) for the '
            'pre-training validation')
        write_synthetic_dataset(
            osp.join(scenes, 'val'),
            args.num_val,
            args.image_size,
            seed=1,
            progress=False)
        held_out = [
            f'val_dataloader.dataset.data_root={scenes}',
            'val_dataloader.dataset.data_prefix.img_path=val'
        ]
    if not finished(pre_dir):
        log(f'pre-training {osp.basename(PRETRAIN_CONFIG)} on the '
            f'pseudo-labels for {epochs} epochs, log: {pre_dir}.log')
        cmd = [
            sys.executable, 'tools/train.py', PRETRAIN_CONFIG, '--work-dir',
            pre_dir, '--cfg-options',
            f'train_dataloader.dataset.data_root={args.work_dir}',
            'train_dataloader.dataset.data_prefix.img_path=pseudo',
            f'train_cfg.max_epochs={epochs}',
            f'param_scheduler.1.T_max={epochs - 1}',
            f'param_scheduler.1.end={epochs}',
            'default_hooks.logger.interval=1', *held_out,
            *args.pretrain_options
        ]
        run({'pre-training': (cmd, f'{pre_dir}.log')})
    losses, validation = pretrain_records(pre_dir)
    first, last = losses[0], losses[-1]
    log(f"pre-training on pseudo-labels: loss {first['loss']:.3f} (step "
        f"{first['step']}) -> {last['loss']:.3f} (step {last['step']}); "
        f'checkpoint {finished(pre_dir)}')
    if validation:
        figures = {k: v for k, v in validation[-1].items() if 'rgb_only' in k}
        log('held-out scenes after pre-training: ' +
            ', '.join(f'{k} {v:.3f}' for k, v in figures.items()))
    summary = dict(
        quality=quality,
        constants=dict(median_depth=median, majority_class=CLASSES[majority]),
        labelling=speed[-1] if speed else None,
        pretrain=dict(
            first_loss=first['loss'],
            last_loss=last['loss'],
            steps=last['step'],
            validation=validation[-1] if validation else None,
            checkpoint=finished(pre_dir)),
        pseudo_root=pseudo,
        seconds=time.time() - start)
    with open(osp.join(args.work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    log(f"done in {summary['seconds']:.0f} s; "
        f"{osp.join(args.work_dir, 'summary.json')}")
    return summary


if __name__ == '__main__':
    main()
