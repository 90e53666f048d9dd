# Copyright (c) mmmultimae contributors. All rights reserved.
"""Glue between a pre-training model and the reconstruction figures.

Used by :class:`~mmmultimae.engine.hooks.ReconstructionVisualizationHook`,
``tools/visualize_reconstruction.py`` and
``tools/analysis_tools/eval_reconstruction.py``: build a model from a
config (and checkpoint), load samples deterministically, run ``predict``
with chosen masks, and turn the outputs into display tiles with the drawing
functions of :mod:`mmmultimae.visualization.reconstruction`. Everything it
needs from the model goes through the model's public methods
(``token_layout``, ``sample_masks``, ``heads``, the preprocessor's
``normalization``).
"""
import copy
import logging
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import load_checkpoint
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from mmmultimae.models.heads import (PixelReconstructionHead,
                                     SemSegReconstructionHead)
from mmmultimae.registry import DATASETS, MODELS
from mmmultimae.utils import register_all_modules
from mmmultimae.visualization.reconstruction import (colorize_depth,
                                                     colorize_semseg,
                                                     denormalize_rgb,
                                                     make_palette, mask_image,
                                                     minmax_image,
                                                     paste_visible,
                                                     robust_range)

Masks = Dict[str, Tensor]


@dataclass(frozen=True)
class RowSpec:
    """How one displayed modality is drawn.

    Args:
        head (str): Head whose prediction is shown.
        target (str): Modality it reconstructs (the ground truth).
        kind (str): ``'rgb'`` (normalised image), ``'depth'`` (one-channel
            map, colour-mapped), ``'semseg'`` (labels, palette) or
            ``'generic'`` (min-max scaled channels).
    """

    head: str
    target: str
    kind: str


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a DDP (or other mmengine) wrapper."""
    return model.module if is_model_wrapper(model) else model


def _check_pretrain_model(model: nn.Module) -> None:
    needed = ('heads', 'sample_masks', 'token_layout', 'data_preprocessor')
    missing = [name for name in needed if not hasattr(model, name)]
    if missing:
        raise TypeError(
            f'{type(model).__name__} is not a masked pre-training model '
            f'(MultiMAE): it lacks {missing}')


def reconstruction_rows(model: nn.Module) -> List[RowSpec]:
    """One row per reconstructed modality, in head order.

    When several heads reconstruct the same modality (``rgb`` and
    ``norm_rgb``), the one without a per-patch normalised target is shown
    (as in the official demo).

    Args:
        model (nn.Module): A ``MultiMAE`` (possibly wrapped).

    Returns:
        list[RowSpec]: The rows.
    """
    model = unwrap_model(model)
    _check_pretrain_model(model)
    pre = model.data_preprocessor
    chosen: Dict[str, Tuple[RowSpec, bool]] = {}
    for name, head in model.heads.items():
        norm = bool(getattr(head, 'norm_target', False))
        if isinstance(head, SemSegReconstructionHead):
            kind = 'semseg'
        elif not isinstance(head, PixelReconstructionHead):
            raise TypeError(f'head {name!r} ({type(head).__name__}) has no '
                            'display rule')
        elif pre.normalization(head.target) is not None and \
                head.out_channels == 3:
            kind = 'rgb'
        elif head.out_channels == 1:
            kind = 'depth'
        else:
            kind = 'generic'
        spec = RowSpec(name, head.target, kind)
        if head.target not in chosen or (chosen[head.target][1] and not norm):
            chosen[head.target] = (spec, norm)
    return [spec for spec, _ in chosen.values()]


def semseg_palette(metainfo: Optional[dict], num_classes: int) -> np.ndarray:
    """The dataset's ``semseg_palette`` if it has one for every class, else
    :func:`make_palette`."""
    palette = (metainfo or {}).get('semseg_palette')
    if palette is not None and len(palette) >= num_classes:
        return np.asarray(palette, dtype=np.uint8)
    return make_palette(num_classes)


def _num_classes(model: nn.Module, rows: Sequence[RowSpec]) -> int:
    for row in rows:
        if row.kind == 'semseg':
            return int(model.heads[row.head].out_channels)
    return 1


class TileRenderer:
    """Turns one sample's inputs and predictions into display tiles.

    Args:
        model (nn.Module): The ``MultiMAE`` (possibly wrapped).
        palette (np.ndarray, optional): ``(K, 3)`` semseg colours; default
            :func:`semseg_palette` of ``metainfo``.
        metainfo (dict, optional): Dataset meta information.
    """

    def __init__(self,
                 model: nn.Module,
                 palette: Optional[np.ndarray] = None,
                 metainfo: Optional[dict] = None) -> None:
        self.model = unwrap_model(model)
        self.rows = reconstruction_rows(self.model)
        if palette is None:
            palette = semseg_palette(metainfo,
                                     _num_classes(self.model, self.rows))
        self.palette = np.asarray(palette, dtype=np.uint8)
        pre = self.model.data_preprocessor
        self.rgb_stats = {
            row.target: pre.normalization(row.target)
            for row in self.rows if row.kind == 'rgb'
        }

    @property
    def row_labels(self) -> List[str]:
        """Row names (the reconstructed modalities)."""
        return [row.target for row in self.rows]

    def _display(self, row: RowSpec, value: np.ndarray,
                 vrange: Tuple[float, float]) -> np.ndarray:
        if row.kind == 'rgb':
            return denormalize_rgb(value, *self.rgb_stats[row.target])
        if row.kind == 'depth':
            return colorize_depth(value[0], *vrange)
        if row.kind == 'semseg':
            return colorize_semseg(value, self.palette)
        return minmax_image(value)

    def _prediction(self, row: RowSpec, result: BaseDataElement,
                    target: Tensor) -> np.ndarray:
        if row.kind == 'semseg':
            return result.get(f'pred_{row.head}_label').cpu().numpy()
        pred = result.get(f'pred_{row.head}').float().cpu()
        head = self.model.heads[row.head]
        pred = head.in_target_units(pred[None], target.float().cpu()[None])
        return pred[0].numpy()

    def tiles(self, inputs: Dict[str, Tensor], result: BaseDataElement,
              index: int) -> List[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Tiles of one sample.

        Args:
            inputs (dict[str, Tensor]): Preprocessed batch ``(B, ...)``
                (the targets).
            result (BaseDataElement): ``predict`` output of the sample.
            index (int): Index of the sample in the batch.

        Returns:
            list[tuple]: Per row, uint8 ``(H, W, 3)`` masked input,
            prediction (visible patches pasted back) and ground truth.
        """
        out = []
        for row in self.rows:
            if row.target not in inputs:
                raise KeyError(f'ground truth {row.target!r} of head '
                               f'{row.head!r} is not in the inputs '
                               f'{list(inputs)}')
            target = inputs[row.target][index]
            gt = target.float().cpu().numpy() if row.kind != 'semseg' \
                else target.cpu().numpy()
            pred = self._prediction(row, result, target)
            mask = result.get(f'mask_{row.target}')
            mask = None if mask is None else mask.cpu().numpy().astype(bool)
            if mask is not None:
                pred = paste_visible(pred, gt, mask)
            vrange = robust_range(gt) if row.kind == 'depth' else (0., 1.)
            gt_img = self._display(row, gt, vrange)
            pred_img = self._display(row, pred, vrange)
            out.append((mask_image(gt_img, mask), pred_img, gt_img))
        return out


# ----------------------------------------------------------------------
# models, masks and data
# ----------------------------------------------------------------------
def init_pretrain_model(config: Union[str, Config],
                        checkpoint: Optional[str] = None,
                        device: Union[str, torch.device] = 'cpu',
                        seed: Optional[int] = None) -> nn.Module:
    """Build the config's model, initialise it and load a checkpoint.

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): Checkpoint (mmengine ``state_dict`` or
            a plain state dict); None keeps the initialisation.
        device (str | torch.device): Device. Defaults to ``'cpu'``.
        seed (int, optional): Seed of the initialisation.

    Returns:
        nn.Module: The model in eval mode.
    """
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    _init_scope(cfg)
    if seed is not None:
        torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg.model))
    _check_pretrain_model(model)
    _quiet_init(model)
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f"checkpoint '{checkpoint}' not found")
        load_checkpoint(
            model,
            checkpoint,
            map_location='cpu',
            strict=True,
            logger='silent')
    return model.to(device).eval()


def _init_scope(cfg: Config) -> None:
    """Register mmmultimae's modules and enter the config's default scope
    (mmengine builds dataset pipelines through the default scope)."""
    register_all_modules(init_default_scope=False)
    init_default_scope(cfg.get('default_scope', 'mmmultimae'))


def _quiet_init(model: nn.Module) -> None:
    """``init_weights`` without mmengine's per-parameter INFO log."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)


def sample_masks(model: nn.Module,
                 inputs: Dict[str, Tensor],
                 seed: int,
                 num_visible: Optional[int] = None) -> Masks:
    """Masks from the model's own sampler, drawn with a private CPU
    generator (the global RNG is not touched; the same on every device).

    Args:
        model (nn.Module): The ``MultiMAE`` (possibly wrapped).
        inputs (dict[str, Tensor]): Preprocessed batch.
        seed (int): Seed of the draw.
        num_visible (int, optional): Overrides the sampler's budget.

    Returns:
        dict[str, Tensor]: ``(B, N_m)`` bool masks on the inputs' device.
    """
    generator = torch.Generator().manual_seed(seed)
    masks = unwrap_model(model).sample_masks(inputs, num_visible, generator)
    device = next(iter(inputs.values())).device
    return {k: v.to(device) for k, v in masks.items()}


def masks_from_spec(model: nn.Module, inputs: Dict[str, Tensor],
                    spec: Dict[str, Union[str, int]], seed: int) -> Masks:
    """Masks chosen per modality: ``'visible'`` (all tokens), ``'masked'``
    (none) or a number of random visible tokens; input modalities not in
    ``spec`` are fully masked.

    Args:
        model (nn.Module): The ``MultiMAE`` (possibly wrapped).
        inputs (dict[str, Tensor]): Preprocessed batch.
        spec (dict[str, str | int]): Modality -> ``'visible'``,
            ``'masked'`` or a count.
        seed (int): Seed of the random choices.

    Returns:
        dict[str, Tensor]: ``(B, N_m)`` bool masks.
    """
    model = unwrap_model(model)
    layout = model.token_layout(inputs)
    unknown = sorted(set(spec) - set(layout.modalities))
    if unknown:
        raise ValueError(f'mask spec names {unknown}, which are not input '
                         f'modalities of the model {layout.modalities}')
    batch = next(iter(inputs.values())).shape[0]
    device = next(iter(inputs.values())).device
    generator = torch.Generator().manual_seed(seed)
    masks = {}
    for name, n in layout.num_tokens.items():
        value = spec.get(name, 'masked')
        if value == 'visible':
            mask = torch.zeros(batch, n, dtype=torch.bool)
        elif value == 'masked':
            mask = torch.ones(batch, n, dtype=torch.bool)
        else:
            if not isinstance(value, int) or value < 0:
                raise ValueError(f'mask spec of {name!r} must be '
                                 "'visible', 'masked' or a number of "
                                 f'visible tokens, got {value!r}')
            if value > n:
                raise ValueError(f'{value} visible tokens requested for '
                                 f'{name!r}, which has {n}')
            order = torch.rand(batch, n, generator=generator).argsort(dim=1)
            mask = torch.ones(
                batch, n, dtype=torch.bool).scatter(1, order[:, :value], False)
        masks[name] = mask.to(device)
    return masks


def parse_mask_spec(spec: Sequence[str]) -> Dict[str, Union[str, int]]:
    """Parse ``['rgb=visible', 'depth=masked', 'semseg=16']`` (entries may
    also be comma-separated).

    Values: ``visible`` (all tokens), ``masked`` (no token visible) or an
    integer (that many random visible tokens). Used by
    ``tools/visualize_reconstruction.py`` and ``tools/infer.py``.

    Raises:
        ValueError: An entry that is not ``MODALITY=VALUE``, another value,
            or a modality named twice.

    Returns:
        dict[str, str | int]: Modality -> ``'visible'``, ``'masked'`` or
        a count.
    """
    out: Dict[str, Union[str, int]] = {}
    for item in spec:
        for part in item.split(','):
            part = part.strip()
            if not part:
                continue
            name, sep, value = part.partition('=')
            if not sep or not name:
                raise ValueError(f'mask spec entries are MODALITY=VALUE, got '
                                 f'{part!r}')
            name, value = name.strip(), value.strip()
            if name in out:
                raise ValueError(f'mask spec names {name!r} twice')
            if value in ('visible', 'masked'):
                out[name] = value
            elif value.isdigit():
                out[name] = int(value)
            else:
                raise ValueError(f'mask spec value of {name!r} must be '
                                 f"'visible', 'masked' or a number of "
                                 f'visible tokens, got {value!r}')
    return out


@torch.no_grad()
def preprocess(model: nn.Module, batch: dict) -> dict:
    """Run the model's data preprocessor (eval mode) on a copy of a
    collated batch.

    Returns:
        dict: ``dict(inputs={modality: Tensor}, data_samples=[...])``.
    """
    return unwrap_model(model).data_preprocessor(copy.deepcopy(batch), False)


@torch.no_grad()
def predict(model: nn.Module, batch: dict,
            masks: Masks) -> Tuple[Dict[str, Tensor], List[BaseDataElement]]:
    """Preprocess a collated batch and run ``predict`` with given masks.

    Args:
        model (nn.Module): The ``MultiMAE`` (possibly wrapped); its
            train/eval mode is restored afterwards.
        batch (dict): ``pseudo_collate`` output; not modified.
        masks (dict[str, Tensor]): Masks ``(B, N_m)``, True = masked (e.g.
            from :func:`sample_masks`, which does not touch the global RNG).

    Returns:
        tuple: The preprocessed inputs and the per-sample results.
    """
    model = unwrap_model(model)
    was_training = model.training
    model.eval()
    try:
        data = preprocess(model, batch)
        inputs = data['inputs']
        results = model(
            inputs, data['data_samples'], mode='predict', masks=masks)
    finally:
        model.train(was_training)
    return inputs, results


def eval_pipeline(pipeline: Sequence[dict]) -> List[dict]:
    """A deterministic version of a training pipeline.

    ``MultiModalRandomResizedCrop`` (or the crop of
    ``LoadMultiModalRandomResizedCrop``) becomes the central square crop
    resized to its output size (``scale=(1, 1)`` and ``ratio=(1, 1)``: a
    square image is used whole, otherwise the random draws cannot fit and
    the transform falls back to the central square), and
    ``MultiModalRandomFlip`` is dropped. Other transforms are kept.

    Args:
        pipeline (Sequence[dict]): Transform configs.

    Returns:
        list[dict]: The new transform configs.
    """
    out = []
    for transform in pipeline:
        transform = copy.deepcopy(dict(transform))
        kind = transform.get('type')
        if kind == 'MultiModalRandomFlip':
            continue
        if kind in ('MultiModalRandomResizedCrop',
                    'LoadMultiModalRandomResizedCrop'):
            transform.update(scale=(1.0, 1.0), ratio=(1.0, 1.0))
        out.append(transform)
    return out


def build_eval_dataset(cfg: Config, data_root: Optional[str] = None):
    """The config's training dataset with :func:`eval_pipeline`.

    Args:
        cfg (Config): The config.
        data_root (str, optional): A folder holding the modality folders
            (``root/<modality>/<class>/<file>``) to use instead of the
            config's.

    Returns:
        BaseDataset: The dataset.
    """
    _init_scope(cfg)
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    if dataset_cfg.get('type') in ('ConcatDataset', 'RepeatDataset',
                                   'ClassBalancedDataset'):
        raise TypeError(f'{dataset_cfg["type"]} is not supported here; '
                        'point the tool at one dataset')
    dataset_cfg['pipeline'] = eval_pipeline(dataset_cfg.get('pipeline', []))
    if data_root is not None:
        if not osp.isdir(data_root):
            raise FileNotFoundError(f"data root '{data_root}' not found")
        if 'data_root' not in dataset_cfg:
            raise ValueError(f'{dataset_cfg.get("type")} has no data_root '
                             'to override with --data-root')
        dataset_cfg['data_root'] = data_root
        dataset_cfg['data_prefix'] = dict(img_path='')
    return DATASETS.build(dataset_cfg)


def _strip_ext(path: str) -> str:
    return osp.splitext(path)[0]


def find_samples(dataset, queries: Sequence[str]) -> List[int]:
    """Indices of the samples named by ``queries``.

    A query is a path to a file of the first modality, the path of such a
    file relative to the first modality's folder (``<class>/<file>``, the
    extension optional), or a bare file stem when it is unique.

    Args:
        dataset: A dataset whose data infos hold ``img_path`` dicts.
        queries (Sequence[str]): The queries.

    Returns:
        list[int]: One index per query.
    """
    by_abs, by_rel, by_stem = {}, {}, {}
    for idx in range(len(dataset)):
        paths = dataset.get_data_info(idx)['img_path']
        first = next(iter(paths.values()))
        by_abs[osp.abspath(first)] = idx
        parts = osp.normpath(first).split(osp.sep)
        for depth in range(2, len(parts) + 1):
            by_rel.setdefault(_strip_ext('/'.join(parts[-depth:])), idx)
        by_stem.setdefault(_strip_ext(parts[-1]), []).append(idx)
    out = []
    for query in queries:
        if osp.isfile(query) and osp.abspath(query) in by_abs:
            out.append(by_abs[osp.abspath(query)])
            continue
        key = _strip_ext(osp.normpath(query).replace(osp.sep, '/'))
        if key in by_rel:
            out.append(by_rel[key])
            continue
        stems = by_stem.get(key, [])
        if len(stems) == 1:
            out.append(stems[0])
            continue
        examples = [
            _strip_ext('/'.join(
                osp.normpath(
                    next(iter(
                        dataset.get_data_info(i)['img_path'].values()))).split(
                            osp.sep)[-2:]))
            for i in range(min(3, len(dataset)))
        ]
        reason = 'is ambiguous' if stems else 'matches no sample'
        raise ValueError(f'image {query!r} {reason} in the dataset of '
                         f'{len(dataset)} samples; give a file path, '
                         f'<class>/<stem> (e.g. {examples}) or a unique stem')
    return out


def load_batch(dataset, indices: Sequence[int]) -> dict:
    """Fetch and collate samples with ``pseudo_collate``."""
    return pseudo_collate([dataset[i] for i in indices])
