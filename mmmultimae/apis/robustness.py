# Copyright (c) mmmultimae contributors. All rights reserved.
"""Robustness evaluation of image classifiers (MultiMAE Table 9).

Glue of ``tools/analysis_tools/eval_robustness.py``: any mmpretrain-style
classifier (``test_step`` returns mmpretrain ``DataSample``s with
``pred_score``) built from its config and checkpoint is evaluated,
unmodified, with the config's test pipeline and dataloader settings on

- ImageNet-1K val (``<wnid>/<file>``, or mmpretrain's ``meta/val.txt``
  layout), ImageNet-Sketch (``<wnid>/<file>``): 1000 classes;
- ImageNet-A and ImageNet-R (``<wnid>/<file>``): 200 classes each; the
  scores are restricted to those classes (official protocol:
  ``logits[:, indices_in_1k]``);
- ImageNet-C (``<corruption>/<severity>/<wnid>/<file>``): mCE normalised
  by AlexNet's errors (:class:`~mmmultimae.evaluation.MeanCorruptionError`);
- the config's own test set under on-the-fly corruptions
  (:class:`~mmmultimae.datasets.transforms.ImageCorruption`).

Every dataset goes through one path: a dataset object with the config's
test pipeline (its ``LoadImageFromFile`` replaced by
:class:`~mmmultimae.datasets.transforms.LoadImageFromFileStrict`, so corrupt
or truncated files are errors naming them and grey-scale / CMYK images
become RGB), mmengine's dataloader builder with the config's test
dataloader settings, ``model.test_step`` and an mmengine ``Evaluator``
(mmpretrain's ``Accuracy``, or our ``MeanCorruptionError``).

This module imports mmpretrain; it is not exported by ``mmmultimae.apis``.
"""
import copy
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.evaluator import Evaluator
from mmengine.logging import print_log
from mmengine.registry import DATASETS, MODELS, DefaultScope
from mmengine.runner import Runner, load_checkpoint
from mmpretrain.datasets import CustomDataset
from mmpretrain.evaluation import Accuracy

from mmmultimae.datasets.transforms.corruptions import (ALL_CORRUPTIONS,
                                                        COMMON_CORRUPTIONS,
                                                        ImageCorruption,
                                                        check_corruption)
from mmmultimae.datasets.transforms.image_loading import \
    LoadImageFromFileStrict
from mmmultimae.evaluation.imagenet_variants import load_wnids, subset_indices
from mmmultimae.evaluation.metrics.mce_metric import (CLEAN, SEVERITIES,
                                                      MeanCorruptionError)
from mmmultimae.utils import register_all_modules

#: Datasets of Table 9, in its column order.
DATASET_NAMES = ('in1k', 'in-a', 'in-c', 'in-r', 'in-sketch')

#: Folder of each dataset under ``--data-root``.
DEFAULT_DIRS = {
    'in1k': 'imagenet',
    'in-a': 'imagenet-a',
    'in-r': 'imagenet-r',
    'in-sketch': 'imagenet-sketch',
    'in-c': 'imagenet-c',
}

#: Class list (``evaluation/data``) of each dataset.
CLASS_LISTS = {
    'in1k': 'imagenet',
    'in-a': 'imagenet-a',
    'in-r': 'imagenet-r',
    'in-sketch': 'imagenet',
    'in-c': 'imagenet',
}

#: Table 9 columns: (header, dataset, metric key).
TABLE9_COLUMNS = (
    ('IN-1K top-1', 'in1k', 'accuracy/top1'),
    ('IN-A', 'in-a', 'accuracy/top1'),
    ('IN-C mCE', 'in-c', 'mCE'),
    ('IN-R', 'in-r', 'accuracy/top1'),
    ('IN-S', 'in-sketch', 'accuracy/top1'),
)

#: Number of ImageNet-1K classes the model's head must predict.
NUM_IMAGENET_CLASSES = 1000


# ---------------------------------------------------------------- datasets
class WnidFolderDataset(CustomDataset):
    """An ImageNet-style folder ``<root>/<wnid>/<file>`` labelled by a
    fixed class list.

    mmpretrain's ``CustomDataset`` labels the sub-folders by their sorted
    position among the folders *present*; ImageNet variants need the class
    index of the wnid in the benchmark's list (a partial download would
    otherwise be mislabelled), and an unknown folder must be an error. Only
    the folder scan is replaced; the rest (pipeline, metainfo) is
    mmpretrain's.

    Args:
        wnids (Sequence[str]): Class list; a sample's label is the
            position of its folder in it.
        dataset_name (str): Name for messages. Defaults to 'dataset'.
        **kwargs: :class:`mmpretrain.datasets.CustomDataset` arguments
            (``data_root`` / ``data_prefix`` is the folder of wnid
            folders, ``pipeline``...).

    Raises:
        ValueError: For folders not in ``wnids`` (named), wnid folders
            without images, or files that are not images.
    """

    def __init__(self,
                 wnids: Sequence[str],
                 dataset_name: str = 'dataset',
                 **kwargs) -> None:
        self.wnids = tuple(wnids)
        self.dataset_name = dataset_name
        kwargs.setdefault('metainfo', dict(classes=self.wnids))
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        """Scan ``<root>/<wnid>/**`` and label each image by its wnid."""
        root = self.img_prefix
        if not osp.isdir(root):
            raise FileNotFoundError(
                f"{self.dataset_name}: folder '{root}' does not exist")
        folders = sorted(
            entry.name for entry in os.scandir(root)
            if entry.is_dir() and not entry.name.startswith('.'))
        index = {wnid: i for i, wnid in enumerate(self.wnids)}
        unknown = [f for f in folders if f not in index]
        if unknown:
            raise ValueError(
                f"{self.dataset_name}: '{root}' has {len(unknown)} folders "
                f'that are not classes of its {len(self.wnids)}-class list: '
                f'{unknown[:20]}{" ..." if len(unknown) > 20 else ""}')
        if not folders:
            raise ValueError(f"{self.dataset_name}: '{root}' has no class "
                             'folders (expected <wnid>/<image files>)')
        data_list, empty, not_images = [], [], []
        for wnid in folders:
            found = 0
            for dirpath, dirnames, filenames in os.walk(osp.join(root, wnid)):
                dirnames.sort()
                for name in sorted(filenames):
                    if name.startswith('.'):
                        continue
                    path = osp.join(dirpath, name)
                    if not self.is_valid_file(name):
                        not_images.append(path)
                        continue
                    data_list.append(dict(img_path=path, gt_label=index[wnid]))
                    found += 1
            if not found:
                empty.append(wnid)
        if not_images:
            raise ValueError(
                f'{self.dataset_name}: {len(not_images)} files are not images '
                f'(extensions {sorted(self.extensions)}): {not_images[:10]}')
        if empty:
            raise ValueError(f"{self.dataset_name}: class folders of '{root}' "
                             f'without images: {empty[:20]}')
        return data_list


def resolve_imagenet_val(path: str) -> Dict:
    """Dataset arguments for an ImageNet-1K val folder.

    ``path/meta/val.txt`` (mmpretrain's ImageNet layout, images in
    ``path/val``) is used when present; else ``path/val/<wnid>/`` when
    ``path/val`` exists; else ``path/<wnid>/``.
    """
    if osp.isfile(osp.join(path, 'meta', 'val.txt')):
        return dict(
            data_root=path, ann_file='meta/val.txt', data_prefix='val')
    if osp.isdir(osp.join(path, 'val')):
        return dict(data_prefix=osp.join(path, 'val'))
    return dict(data_prefix=path)


def build_eval_dataset(name: str, path: str, pipeline: List[dict]):
    """The dataset object of an ImageNet variant folder.

    Args:
        name (str): One of ``in1k``, ``in-a``, ``in-r``, ``in-sketch`` or
            ``in-c/<corruption>/<severity>``.
        path (str): Its folder.
        pipeline (list[dict]): Test pipeline.
    """
    base = name.split('/')[0]
    wnids = load_wnids(CLASS_LISTS[base])
    if base == 'in1k':
        kwargs = resolve_imagenet_val(path)
        if 'ann_file' in kwargs:
            dataset = CustomDataset(
                pipeline=pipeline, metainfo=dict(classes=wnids), **kwargs)
            labels = dataset.get_gt_labels().tolist()
            bad = [lab for lab in labels if not 0 <= lab < len(wnids)]
            if bad:
                raise ValueError(
                    f"in1k: '{osp.join(path, kwargs['ann_file'])}' has "
                    f'labels outside [0, {len(wnids)}): '
                    f'{sorted(set(bad))[:10]}')
            return dataset
        path = kwargs['data_prefix']
    return WnidFolderDataset(
        wnids=wnids, dataset_name=name, data_prefix=path, pipeline=pipeline)


# ---------------------------------------------------------------- pipeline
# Our transforms enter the config's pipelines as objects (mmengine's Compose
# takes callables): the config's default scope may be mmpretrain's, from
# which mmengine does not find our registry (a grandchild of the root) by a
# ``mmmultimae.`` prefix.
def _transform_name(transform) -> str:
    if isinstance(transform, dict):
        return str(transform.get('type')).split('.')[-1]
    return type(transform).__name__


def strict_test_pipeline(pipeline: Sequence) -> List:
    """The test pipeline with mmcv's ``LoadImageFromFile`` replaced by a
    ``LoadImageFromFileStrict`` object (same outputs, decoded by PIL
    whatever ``imdecode_backend``; decoding errors name the file; grey-scale
    and CMYK become RGB; ``color_type`` ``'color'`` or
    ``'color_ignore_orientation'`` kept).

    Raises:
        ValueError: If the loader is set up to skip unreadable files
            (``ignore_empty``) or to load other than colour images.
    """
    out = []
    for transform in pipeline:
        transform = copy.deepcopy(transform)
        if _transform_name(transform) == 'LoadImageFromFile' and \
                isinstance(transform, dict):
            if transform.get('ignore_empty', False):
                raise ValueError('LoadImageFromFile(ignore_empty=True) skips '
                                 'unreadable images; robustness evaluation '
                                 'reads every image')
            color_type = transform.get('color_type', 'color')
            if color_type not in ('color', 'color_ignore_orientation'):
                raise ValueError(
                    'robustness evaluation loads colour images; the test '
                    f"pipeline's LoadImageFromFile has color_type="
                    f'{color_type!r}')
            transform = LoadImageFromFileStrict(
                to_float32=transform.get('to_float32', False),
                ignore_orientation=color_type == 'color_ignore_orientation')
        out.append(transform)
    return out


def insert_before_packing(pipeline: Sequence, transform) -> List:
    """``pipeline`` with ``transform`` right before its last packing
    transform (``Pack*``): after the test-time resize and crop, as
    ImageNet-C corrupts 224 x 224 crops."""
    names = [_transform_name(t) for t in pipeline]
    packs = [i for i, name in enumerate(names) if name.startswith('Pack')]
    if not packs:
        raise ValueError(f'the test pipeline has no packing transform '
                         f'(Pack*): {names}')
    i = packs[-1]
    return list(pipeline[:i]) + [transform] + list(pipeline[i:])


# ---------------------------------------------------------------- model
def test_dataloader_cfg(cfg: Config) -> dict:
    """The config's test dataloader settings (else its val dataloader)."""
    for key in ('test_dataloader', 'val_dataloader'):
        if cfg.get(key):
            return copy.deepcopy(cfg[key].to_dict() if hasattr(
                cfg[key], 'to_dict') else dict(cfg[key]))
    raise KeyError('the config has no test_dataloader nor val_dataloader')


def config_scope(cfg: Config):
    """Context in which the config's modules are built: its default scope
    (mmpretrain's or ours), restored on exit."""
    register_all_modules(init_default_scope=False)
    return DefaultScope.overwrite_default_scope(
        cfg.get('default_scope') or 'mmmultimae')


def init_classifier(cfg: Config, checkpoint: str, device: str):
    """Build the config's model and load every weight from ``checkpoint``
    (call it under :func:`config_scope`).

    ``init_weights`` is not called, so pre-training ``init_cfg``s are not
    read (the fine-tuned checkpoint holds every weight); loading is strict:
    a missing or unexpected key is an error.
    """
    model = MODELS.build(copy.deepcopy(cfg.model))
    load_checkpoint(
        model, checkpoint, map_location='cpu', strict=True, logger='silent')
    return model.to(device).eval()


def restrict_to_classes(data_samples: Sequence,
                        class_indices: Sequence[int]) -> None:
    """Keep the scores of ``class_indices`` only (in place), in their
    order, and predict the best of them (``pred_label`` in ``[0,
    len(class_indices))``), as the official ImageNet-A/R evaluation slices
    the logits: softmax is monotonic, so the ranking is that of the sliced
    logits."""
    index = torch.as_tensor(list(class_indices), dtype=torch.long)
    # one gather and one argmax for the batch (its scores share a shape
    # and the model's device)
    scores = torch.stack([sample.pred_score for sample in data_samples])
    last = int(index.max())
    if scores.ndim != 2 or scores.shape[1] <= last:
        raise ValueError(
            f'cannot restrict scores of shape {tuple(scores.shape[1:])} to '
            f'class indices up to {last}')
    scores = scores[:, index.to(scores.device)]
    labels = scores.argmax(1, keepdim=True)
    for sample, score, label in zip(data_samples, scores, labels):
        if 'num_classes' in sample.metainfo_keys():
            sample.set_metainfo(dict(num_classes=len(index)))
        sample.set_field(score, 'pred_score')
        sample.set_field(label, 'pred_label')


def _check_num_classes(name: str, data_samples: Sequence,
                       expected: int) -> None:
    num = data_samples[0].pred_score.shape[-1]
    if num != expected:
        raise ValueError(
            f'{name}: the model predicts {num} classes; ImageNet robustness '
            f'sets need an ImageNet-1K head with {expected} classes '
            '(class index = position of the wnid in sorted order)')


def run_model(model,
              name: str,
              dataset,
              dataloader_cfg: dict,
              evaluator: Evaluator,
              class_indices: Optional[Sequence[int]] = None,
              metainfo: Optional[dict] = None,
              num_classes: Optional[int] = NUM_IMAGENET_CLASSES) -> int:
    """Predict every sample of ``dataset`` and feed ``evaluator``.

    Args:
        model: Classifier (``test_step`` -> ``DataSample`` list).
        name (str): Dataset name for messages.
        dataset: Dataset object.
        dataloader_cfg (dict): mmengine dataloader config (its
            ``dataset`` is replaced).
        evaluator (Evaluator): Receives the predictions.
        class_indices (Sequence[int], optional): Restrict scores to these
            classes (ImageNet-A/R).
        metainfo (dict, optional): Set on every prediction (e.g.
            ``corruption`` and ``severity``).
        num_classes (int, optional): Required width of ``pred_score``.

    Returns:
        int: Number of samples.
    """
    loader = Runner.build_dataloader(dict(dataloader_cfg, dataset=dataset))
    count = 0
    with torch.no_grad():
        for data_batch in loader:
            outputs = model.test_step(data_batch)
            if num_classes is not None:
                _check_num_classes(name, outputs, num_classes)
            if class_indices is not None:
                restrict_to_classes(outputs, class_indices)
            if metainfo:
                for sample in outputs:
                    sample.set_metainfo(metainfo)
            evaluator.process(data_samples=outputs, data_batch=data_batch)
            count += len(outputs)
    return count


def _accuracy_evaluator(num_classes: int) -> Evaluator:
    topk = (1, 5) if num_classes >= 5 else (1, )
    return Evaluator([Accuracy(topk=topk)])


# ---------------------------------------------------------------- suites
def find_missing(data_root: Optional[str], paths: Dict[str, str],
                 datasets: Sequence[str], corruptions: Sequence[str],
                 severities: Sequence[int]) -> Dict[str, str]:
    """``{name: expected path}`` of every requested dataset (and ImageNet-C
    corruption / severity folder) that is not there."""
    missing = {}
    for name in datasets:
        path = dataset_path(data_root, paths, name)
        if path is None or not osp.isdir(path):
            missing[name] = path or f'(no --data-root or path for {name})'
            continue
        if name == 'in-c':
            for corruption in corruptions:
                for severity in severities:
                    sub = osp.join(path, corruption, str(severity))
                    if not osp.isdir(sub):
                        missing[f'in-c/{corruption}/{severity}'] = sub
    return missing


def dataset_path(data_root: Optional[str], paths: Dict[str, str],
                 name: str) -> Optional[str]:
    """Folder of ``name``: ``paths[name]``, else ``data_root/<default>``."""
    if name in paths:
        return paths[name]
    if data_root is None:
        return None
    return osp.join(data_root, DEFAULT_DIRS[name])


def evaluate_folder_dataset(model, name: str, path: str, pipeline: List[dict],
                            dataloader_cfg: dict) -> Dict:
    """Top-1/top-5 of one ImageNet variant (restricted to its 200 classes
    for ImageNet-A/R)."""
    dataset = build_eval_dataset(name, path, pipeline)
    wnids = load_wnids(CLASS_LISTS[name])
    class_indices = None if len(wnids) == NUM_IMAGENET_CLASSES \
        else subset_indices(wnids)
    evaluator = _accuracy_evaluator(len(wnids))
    start = time.time()
    count = run_model(model, name, dataset, dataloader_cfg, evaluator,
                      class_indices)
    metrics = evaluator.evaluate(count)
    present = len(set(dataset.get_gt_labels().tolist()))
    if present < len(wnids):
        print_log(
            f'{name}: only {present} of its {len(wnids)} classes are in '
            f"'{path}'", logger='current')
    return dict(
        path=path,
        num_images=count,
        num_classes=len(wnids),
        num_classes_present=present,
        seconds=round(time.time() - start, 1),
        **metrics)


def evaluate_imagenet_c(model, path: str, pipeline: List[dict],
                        dataloader_cfg: dict, corruptions: Sequence[str],
                        severities: Sequence[int]) -> Dict:
    """Accuracy per corruption and severity and the AlexNet-normalised mCE
    on ``<path>/<corruption>/<severity>/<wnid>/<file>``."""
    evaluator = Evaluator([MeanCorruptionError(reference='alexnet')])
    total, start = 0, time.time()
    for corruption in corruptions:
        for severity in severities:
            name = f'in-c/{corruption}/{severity}'
            dataset = build_eval_dataset(
                name, osp.join(path, corruption, str(severity)), pipeline)
            total += run_model(
                model,
                name,
                dataset,
                dataloader_cfg,
                evaluator,
                metainfo=dict(corruption=corruption, severity=severity))
    metrics = evaluator.evaluate(total)
    return dict(
        path=path,
        num_images=total,
        corruptions=list(corruptions),
        severities=list(severities),
        complete=(sorted(corruptions) == sorted(COMMON_CORRUPTIONS)
                  and sorted(severities) == list(SEVERITIES)),
        seconds=round(time.time() - start, 1),
        **metrics)


def evaluate_robustness(cfg: Config,
                        checkpoint: str,
                        data_root: Optional[str],
                        datasets: Sequence[str] = DATASET_NAMES,
                        paths: Optional[Dict[str, str]] = None,
                        corruptions: Sequence[str] = COMMON_CORRUPTIONS,
                        severities: Sequence[int] = SEVERITIES,
                        skip_missing: bool = False,
                        device: str = 'cpu',
                        dataloader_overrides: Optional[Dict] = None) -> Dict:
    """Evaluate a fine-tuned ImageNet-1K classifier on Table 9's datasets.

    Args:
        cfg (Config): The classifier's config (model, test pipeline and
            dataloader settings).
        checkpoint (str): Its fine-tuned weights.
        data_root (str, optional): Folder holding ``imagenet``,
            ``imagenet-a``, ``imagenet-r``, ``imagenet-sketch`` and
            ``imagenet-c``.
        datasets (Sequence[str]): Datasets to evaluate
            (:data:`DATASET_NAMES`).
        paths (dict, optional): Folder of a dataset, overriding
            ``data_root/<default>``.
        corruptions (Sequence[str]): ImageNet-C corruptions evaluated.
        severities (Sequence[int]): ImageNet-C severities evaluated.
        skip_missing (bool): Skip missing datasets / ImageNet-C folders
            (reported) instead of raising.
        device (str): Torch device.
        dataloader_overrides (dict, optional): E.g. ``batch_size``,
            ``num_workers``.

    Returns:
        dict: ``datasets`` (metrics per dataset), ``table9`` (the row) and
        ``skipped`` (name -> missing path).

    Raises:
        FileNotFoundError: Naming every missing dataset / folder, unless
            ``skip_missing``.
    """
    paths = dict(paths or {})
    unknown = [d for d in datasets if d not in DATASET_NAMES]
    if unknown:
        raise ValueError(f'unknown datasets {unknown}; expected a subset of '
                         f'{DATASET_NAMES}')
    for corruption in corruptions:
        check_corruption(corruption, 1)
    missing = find_missing(data_root, paths, datasets, corruptions,
                           severities)
    if missing and not skip_missing:
        listed = '\n'.join(f'  {k}: {v}' for k, v in missing.items())
        raise FileNotFoundError(
            f'missing robustness datasets (pass --skip-missing to evaluate '
            f'the others):\n{listed}')
    with config_scope(cfg):
        results = _evaluate_datasets(cfg, checkpoint, data_root, datasets,
                                     paths, corruptions, severities, missing,
                                     device, dataloader_overrides)
    table = {
        header: results[name].get(key) if name in results else None
        for header, name, key in TABLE9_COLUMNS
    }
    return dict(datasets=results, table9=table, skipped=missing)


def _prepare(cfg: Config, checkpoint: str, device: str,
             dataloader_overrides: Optional[Dict]
             ) -> Tuple[dict, List, torch.nn.Module]:
    """The test dataloader settings (with the overrides), the strict test
    pipeline and the loaded model."""
    dataloader_cfg = test_dataloader_cfg(cfg)
    dataloader_cfg.update(dataloader_overrides or {})
    if not dataloader_cfg.get('num_workers'):
        dataloader_cfg['persistent_workers'] = False
    pipeline = strict_test_pipeline(dataloader_cfg['dataset']['pipeline'])
    return dataloader_cfg, pipeline, init_classifier(cfg, checkpoint, device)


def _evaluate_datasets(cfg, checkpoint, data_root, datasets, paths,
                       corruptions, severities, missing, device,
                       dataloader_overrides) -> Dict[str, Dict]:
    dataloader_cfg, pipeline, model = _prepare(cfg, checkpoint, device,
                                               dataloader_overrides)

    results: Dict[str, Dict] = {}
    for name in datasets:
        if name in missing:
            print_log(f'skipped {name}: {missing[name]} not found',
                      logger='current')
            continue
        path = dataset_path(data_root, paths, name)
        if name == 'in-c':
            present = [
                c for c in corruptions if not any(
                    f'in-c/{c}/{s}' in missing for s in severities)
            ]
            skipped = [c for c in corruptions if c not in present]
            if skipped:
                print_log(
                    f'in-c: skipped corruptions with missing severities: '
                    f'{skipped}',
                    logger='current')
            if not present:
                continue
            results[name] = evaluate_imagenet_c(model, path, pipeline,
                                                dataloader_cfg, present,
                                                severities)
        else:
            results[name] = evaluate_folder_dataset(model, name, path,
                                                    pipeline, dataloader_cfg)
        print_log(f'{name}: {summary(name, results[name])}', logger='current')
    return results


def summary(name: str, metrics: Dict) -> str:
    """One line of a dataset's numbers."""
    if name == 'in-c':
        return (f"mCE {metrics['mCE']:.2f} over {metrics['num_corruptions']} "
                f"corruptions, mean accuracy {metrics['mean_accuracy']:.2f} "
                f"({metrics['num_images']} images)")
    top5 = metrics.get('accuracy/top5')
    top5 = f', top-5 {top5:.2f}' if top5 is not None else ''
    return (f"top-1 {metrics['accuracy/top1']:.2f}{top5} "
            f"({metrics['num_images']} images, "
            f"{metrics['num_classes_present']}/{metrics['num_classes']} "
            'classes)')


def format_table9(results: Dict) -> str:
    """Table 9's row as a markdown table (``-`` for datasets not
    evaluated; ``*`` marks an mCE over fewer than the 15 corruptions x 5
    severities)."""
    headers, cells = [], []
    for header, name, key in TABLE9_COLUMNS:
        headers.append(header)
        value = results['table9'][header]
        cell = '-' if value is None else f'{value:.2f}'
        if name == 'in-c' and name in results['datasets'] and \
                not results['datasets'][name]['complete']:
            cell += '*'
        cells.append(cell)
    lines = [
        '| ' + ' | '.join(headers) + ' |',
        '|' + '|'.join('---' for _ in headers) + '|',
        '| ' + ' | '.join(cells) + ' |',
    ]
    inc = results['datasets'].get('in-c')
    if inc is not None and not inc['complete']:
        lines.append(f"* mCE over {len(inc['corruptions'])} corruptions x "
                     f"{len(inc['severities'])} severities, not the "
                     'benchmark\'s 15 x 5')
    return '\n'.join(lines)


# ---------------------------------------------------------------- any val
def reference_from_json(data: Dict) -> Dict:
    """Reference errors (fractions) for :class:`MeanCorruptionError` from
    the ``corrupt_val`` metrics of an earlier ``--corrupt-val`` run."""
    metrics = data.get('corrupt_val', data)
    reference: Dict = {}
    for key, value in metrics.items():
        parts = key.split('/')
        if parts[0] != 'accuracy' or len(parts) not in (2, 3):
            continue
        if len(parts) == 2 and parts[1] == CLEAN:
            reference[CLEAN] = 1 - value / 100
        elif len(parts) == 3:
            reference.setdefault(parts[1], {})[int(parts[2])] = \
                1 - value / 100
    if not any(k != CLEAN for k in reference):
        raise ValueError('the reference JSON has no accuracy/<corruption>/'
                         '<severity> entries (write it with --corrupt-val)')
    return reference


def evaluate_corrupted_val(cfg: Config,
                           checkpoint: str,
                           corruptions: Sequence[str] = COMMON_CORRUPTIONS,
                           severities: Sequence[int] = SEVERITIES,
                           seed: int = 0,
                           reference: Optional[Dict] = None,
                           device: str = 'cpu',
                           dataloader_overrides: Optional[Dict] = None
                           ) -> Dict:
    """Accuracy of a classifier on its config's test set, clean and under
    on-the-fly ImageNet-C corruptions.

    The corruption is inserted right before the pipeline's packing
    transform (after the test-time resize and crop); each sample's
    corruption depends only on ``(seed, corruption, severity, sample
    index)``.

    Returns:
        dict: ``corrupt_val`` (:class:`MeanCorruptionError`'s numbers:
        ``accuracy/clean``, ``accuracy/<c>/<s>``, ``accuracy/<c>``,
        ``mean_accuracy``, ``mean_error``, ``relative_mean_error``; with a
        ``reference``, ``CE/<c>``, ``mCE`` and ``relative_mCE``), ``seed``
        and ``num_images``.
    """
    for corruption in corruptions:
        for severity in severities:
            check_corruption(corruption, severity)
    with config_scope(cfg):
        return _evaluate_corrupted_val(cfg, checkpoint, corruptions,
                                       severities, seed, reference, device,
                                       dataloader_overrides)


def _evaluate_corrupted_val(cfg, checkpoint, corruptions, severities, seed,
                            reference, device, dataloader_overrides) -> Dict:
    dataloader_cfg, pipeline, model = _prepare(cfg, checkpoint, device,
                                               dataloader_overrides)
    dataset = DATASETS.build(dict(dataloader_cfg['dataset'],
                                  pipeline=pipeline))
    if hasattr(dataset, 'full_init'):
        dataset.full_init()

    evaluator = Evaluator([MeanCorruptionError(reference=reference)])
    name = 'val'
    total = run_model(
        model,
        name,
        dataset,
        dataloader_cfg,
        evaluator,
        metainfo=dict(corruption=CLEAN),
        num_classes=None)
    for corruption in corruptions:
        for severity in severities:
            corrupted = copy.copy(dataset)
            corrupted.pipeline = Compose(
                insert_before_packing(
                    pipeline, ImageCorruption(corruption, severity,
                                              seed=seed)))
            total += run_model(
                model,
                f'val/{corruption}/{severity}',
                corrupted,
                dataloader_cfg,
                evaluator,
                metainfo=dict(corruption=corruption, severity=severity),
                num_classes=None)
    return dict(
        corrupt_val=evaluator.evaluate(total),
        num_images=len(dataset),
        seed=seed,
        corruptions=list(corruptions),
        severities=list(severities))


def format_corrupt_val(results: Dict) -> str:
    """Accuracy per corruption (rows) and severity (columns), then the
    summary numbers."""
    metrics = results['corrupt_val']
    severities = results['severities']
    header = '| corruption | ' + ' | '.join(
        f's{s}' for s in severities) + ' | mean |'
    lines = [header, '|' + '---|' * (len(severities) + 2)]
    for corruption in results['corruptions']:
        cells = [f"{metrics[f'accuracy/{corruption}/{s}']:.2f}"
                 for s in severities]
        lines.append(f'| {corruption} | ' + ' | '.join(cells) +
                     f" | {metrics[f'accuracy/{corruption}']:.2f} |")
    keys = ('accuracy/clean', 'mean_accuracy', 'mean_error',
            'relative_mean_error', 'mCE', 'relative_mCE')
    lines += [f'{k}: {metrics[k]:.2f}' for k in keys if k in metrics]
    return '\n'.join(lines)


def parse_paths(items: Sequence[str]) -> Dict[str, str]:
    """``NAME=DIR`` items to a dict (names from :data:`DATASET_NAMES`)."""
    paths = {}
    for item in items or ():
        name, sep, path = item.partition('=')
        if not sep or name not in DATASET_NAMES or not path:
            raise ValueError(f'--paths items are NAME=DIR with NAME in '
                             f'{DATASET_NAMES}, got {item!r}')
        paths[name] = path
    return paths


def parse_corruptions(items: Optional[Sequence[str]]) -> Tuple[str, ...]:
    """Corruption names; ``all`` = the 19, ``common`` (default) = the 15
    of the mCE, ``extra`` = the 4 held-out ones."""
    if not items:
        return COMMON_CORRUPTIONS
    out: List[str] = []
    groups = dict(
        all=ALL_CORRUPTIONS,
        common=COMMON_CORRUPTIONS,
        extra=ALL_CORRUPTIONS[len(COMMON_CORRUPTIONS):])
    for item in items:
        names = groups.get(item, (item, ))
        for name in names:
            check_corruption(name, 1)
            if name not in out:
                out.append(name)
    return tuple(out)
