# Copyright (c) mmmultimae contributors. All rights reserved.
"""Inference of MultiMAE-family models on images and dicts of modalities.

:class:`MultiMAEInferencer` follows mmengine's ``BaseInferencer`` workflow
(``preprocess`` -> ``forward`` -> ``visualize`` -> ``postprocess``; the
design of mmseg's ``MMSegInferencer``) for three kinds of models:

- ``'pretrain'``: a pre-trained ``MultiMAE``. Give it any subset of the
  modalities it has adapters for, with optional token masks; it returns
  every decoder's prediction in natural units.
- ``'dense'``: a fine-tuned ``MultiModalEncoderDecoder`` /
  ``MultiModalDepthEstimator``; it returns mmseg's ``SegDataSample``
  fields (``pred_sem_seg`` class ids, ``pred_depth_map`` in the model's
  units) at the input's size.
- ``'generic'``: any other model whose ``backbone`` is a ``MultiViT``
  (e.g. a classifier); it returns the ``pred_*`` fields of its data
  samples.

The tool is ``tools/infer.py``; the file helpers (:func:`collect_inputs`,
:func:`parse_input_group`, :func:`save_predictions`) are public so that
other tools reuse them.
"""
import copy
import os
import os.path as osp
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.infer import BaseInferencer
from mmengine.model import revert_sync_batchnorm
from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_to_model)
from mmengine.structures import BaseDataElement, PixelData
from PIL import Image
from torch import Tensor, nn

from mmmultimae.datasets.multimodal_image_folder import IMAGE_EXTENSIONS
from mmmultimae.datasets.transforms import (LOADABLE_MODALITIES,
                                            DownsampleLabels,
                                            LoadMultiModalImages,
                                            PackMultiModalInputs)
from mmmultimae.datasets.transforms.processing import DEFAULT_INTERPOLATIONS
from mmmultimae.datasets.transforms.resize_pad_crop import resize_sample
from mmmultimae.models.data_preprocessors import (depth_statistics,
                                                  standardize_depth,
                                                  unstandardize_depth)
from mmmultimae.models.heads import SemSegReconstructionHead
from mmmultimae.models.utils import to_2tuple_int
from mmmultimae.registry import MODELS
from mmmultimae.utils import register_all_modules
from mmmultimae.visualization.reconstruction import (colorize_depth,
                                                     colorize_semseg,
                                                     make_grid, make_palette,
                                                     mask_image, minmax_image,
                                                     paste_visible,
                                                     robust_range)
from .pseudo_label import first_test_mode
from .reconstruction import (masks_from_spec, reconstruction_rows,
                             sample_masks, semseg_palette)

#: Modalities the loader can read from files and arrays.
SUPPORTED_MODALITIES = tuple(m for m in LOADABLE_MODALITIES
                             if m != 'mask_valid')
#: Units reported in ``units`` (pre-training models).
UNITS_UINT8 = 'uint8 [0, 255]'
UNITS_INPUT = 'input'
UNITS_STANDARDIZED = 'standardized'
UNITS_PATCH_STANDARDIZED = 'per-patch standardized'
UNITS_CLASS_IDS = 'class ids'
UNITS_MODEL = 'model'

InputItem = Union[str, np.ndarray, Dict[str, Union[str, np.ndarray]]]
MaskValue = Union[str, int, np.ndarray, Tensor]


# ----------------------------------------------------------------------
# inputs on disk
# ----------------------------------------------------------------------
def parse_input_group(text: str) -> Dict[str, str]:
    """Parse a modality-keyed group ``'rgb=a.png,depth=a_depth.png'``.

    Args:
        text (str): ``MODALITY=PATH`` entries separated by commas (paths
            must not contain commas).

    Returns:
        dict[str, str]: Modality -> path, in the given order.

    Raises:
        ValueError: An entry without ``=``, an empty name or path, or a
            modality named twice.
    """
    group: Dict[str, str] = {}
    for part in text.split(','):
        name, sep, path = part.partition('=')
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise ValueError(f'input group entries are MODALITY=PATH '
                             f'separated by commas, got {part!r} in '
                             f'{text!r}')
        if name in group:
            raise ValueError(f'input group {text!r} names {name!r} twice')
        group[name] = path
    return group


def _image_files(root: str) -> List[str]:
    """Image files under ``root`` (recursive), relative, sorted."""
    found = []
    for folder, _, files in os.walk(root, followlinks=True):
        for file in files:
            if file.lower().endswith(IMAGE_EXTENSIONS):
                found.append(osp.relpath(osp.join(folder, file), root))
    return sorted(found)


def collect_inputs(
        path: str,
        modalities: Optional[Sequence[str]] = None,
        known_modalities: Sequence[str] = SUPPORTED_MODALITIES,
        default_modality: str = 'rgb') -> List[Tuple[str, Dict[str, str]]]:
    """The samples of a file, a folder or a modality-keyed group.

    - ``'rgb=a.png,depth=b.png'``: one sample (:func:`parse_input_group`);
    - a file: one sample of ``default_modality``;
    - a folder with sub-folders named after ``known_modalities`` (our
      datasets' layout ``<root>/<modality>/<...>/<stem>.<ext>``): one
      sample per relative path without extension, paired across the
      modality folders (every chosen folder must have every sample);
    - any other folder: every image file under it (recursive) is one
      sample of ``default_modality``.

    Args:
        path (str): The input.
        modalities (Sequence[str], optional): Modalities to keep (folders
            of a layout, keys of a group); default: all found.
        known_modalities (Sequence[str]): Folder names read as modalities.
        default_modality (str): Modality of plain files.

    Returns:
        list[tuple[str, dict[str, str]]]: ``(name, {modality: path})`` per
        sample; ``name`` is the file stem, or the path relative to the
        folder (or modality folder) without extension.

    Raises:
        FileNotFoundError: A file or folder that does not exist.
        ValueError: An empty folder, a layout with unpaired files, a group
            or layout without a chosen modality.
    """
    if '=' in path and not osp.exists(path):
        group = parse_input_group(path)
        if modalities is not None:
            missing = [m for m in modalities if m not in group]
            if missing:
                raise ValueError(f'input group {path!r} has no {missing} '
                                 f'(--modalities {list(modalities)})')
            group = {m: group[m] for m in modalities}
        for file in group.values():
            if not osp.isfile(file):
                raise FileNotFoundError(f"input file '{file}' does not "
                                        f'exist (group {path!r})')
        first = next(iter(group.values()))
        return [(osp.splitext(osp.basename(first))[0], group)]
    if osp.isfile(path):
        return [(osp.splitext(osp.basename(path))[0], {
            default_modality: path
        })]
    if not osp.isdir(path):
        raise FileNotFoundError(f"input '{path}' is neither a file, a folder "
                                'nor a MODALITY=PATH,... group')
    folders = [m for m in known_modalities if osp.isdir(osp.join(path, m))]
    if folders:
        chosen = list(modalities) if modalities is not None else folders
        missing = [m for m in chosen if m not in folders]
        if missing:
            raise ValueError(f"folder '{path}' has no {missing} sub-folder "
                             f'(it has {folders})')
        files = {
            m: {
                osp.splitext(rel)[0]: osp.join(path, m, rel)
                for rel in _image_files(osp.join(path, m))
            }
            for m in chosen
        }
        keys = sorted(set().union(*files.values()))
        unpaired = [(m, k) for k in keys for m in chosen if k not in files[m]]
        if unpaired:
            listed = ', '.join(f'{m}/{k}' for m, k in unpaired[:5])
            more = ', ...' if len(unpaired) > 5 else ''
            raise ValueError(
                f"folder '{path}': {len(unpaired)} files are missing "
                f'({listed}{more}: <modality>/<name> without extension); '
                'choose the modalities with --modalities or add the files')
        samples = [(k, {m: files[m][k] for m in chosen}) for k in keys]
    else:
        samples = [(osp.splitext(rel)[0], {
            default_modality: osp.join(path, rel)
        }) for rel in _image_files(path)]
    if not samples:
        raise ValueError(f"folder '{path}' holds no image file "
                         f'({", ".join(IMAGE_EXTENSIONS)})')
    return samples


# ----------------------------------------------------------------------
# outputs on disk
# ----------------------------------------------------------------------
def save_label_png(labels: np.ndarray, palette: np.ndarray, path: str) -> None:
    """Save class ids as a palette PNG (ids < 256) or a 16-bit grey PNG
    (more classes); the pixel values are the ids either way.

    Args:
        labels (np.ndarray): Integer ``(H, W)`` ids in ``[0, 65536)``.
        palette (np.ndarray): ``(K, 3)`` uint8 colours (palette PNGs).
        path (str): Output ``.png``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.size == 0:
        raise ValueError(f'labels must be (H, W), got {labels.shape}')
    if labels.min() < 0 or labels.max() >= 2**16:
        raise ValueError(f'label ids must be in [0, 65536) to be saved as '
                         f'PNG, got [{labels.min()}, {labels.max()}]')
    if labels.max() < 256 and len(palette) <= 256:
        img = Image.fromarray(labels.astype(np.uint8), mode='P')
        colours = np.zeros((256, 3), np.uint8)
        colours[:len(palette)] = palette
        img.putpalette(colours.ravel().tolist())
    else:
        img = Image.fromarray(labels.astype(np.uint16))
    img.save(path)


def save_predictions(prediction: Dict[str, np.ndarray],
                     out_dir: str,
                     name: str,
                     palette: Optional[np.ndarray] = None) -> List[str]:
    """Write one sample's predictions as ``out_dir/<key>/<name>.png``.

    uint8 ``(H, W, 3)`` maps are saved as they are (rgb); integer
    ``(H, W)`` maps as label PNGs (:func:`save_label_png`); float maps as
    a picture (colourised for ``(H, W)``, e.g. depth; min-max scaled
    channels otherwise) plus the values in ``<name>.npy``. Other values
    (class scores, labels of classifiers) go to ``<name>.npy``.

    Args:
        prediction (dict[str, np.ndarray]): Key -> array (one entry of the
            inferencer's ``predictions``).
        out_dir (str): Output folder.
        name (str): File name without extension (may contain ``/``).
        palette (np.ndarray, optional): ``(K, 3)`` colours of label maps;
            default :func:`make_palette` of the largest id + 1.

    Returns:
        list[str]: The files written.
    """
    written = []
    for key, value in prediction.items():
        value = np.asarray(value)
        stem = osp.join(out_dir, key, name)
        os.makedirs(osp.dirname(stem), exist_ok=True)
        if value.ndim == 3 and value.shape[2] == 3 and \
                value.dtype == np.uint8:
            Image.fromarray(value).save(stem + '.png')
            written.append(stem + '.png')
        elif value.ndim == 2 and np.issubdtype(value.dtype, np.integer):
            colours = palette if palette is not None else make_palette(
                int(value.max()) + 1)
            save_label_png(value, colours, stem + '.png')
            written.append(stem + '.png')
        else:
            np.save(stem + '.npy', value)
            written.append(stem + '.npy')
            if value.ndim in (2, 3) and np.issubdtype(value.dtype,
                                                      np.floating):
                picture = colorize_depth(value, *robust_range(value)) \
                    if value.ndim == 2 else minmax_image(
                        value.transpose(2, 0, 1))
                Image.fromarray(picture).save(stem + '.png')
                written.append(stem + '.png')
    return written


# ----------------------------------------------------------------------
# the inferencer
# ----------------------------------------------------------------------
def model_kind(model: nn.Module) -> str:
    """``'pretrain'`` (MultiMAE: heads and a mask sampler), ``'dense'``
    (a multi-modal segmentor / depth estimator) or ``'generic'`` (any
    other model with a ``MultiViT`` backbone)."""
    if hasattr(model, 'heads') and hasattr(model, 'sample_masks'):
        return 'pretrain'
    backbone = getattr(model, 'backbone', None)
    if backbone is None or not hasattr(backbone, 'modalities'):
        raise TypeError(f'{type(model).__name__} is neither a MultiMAE nor '
                        'a model with a MultiViT backbone')
    if hasattr(model, 'select_inputs') and hasattr(model, 'decode_head'):
        return 'dense'
    return 'generic'


def _config_depth_scale(cfg: Config) -> Optional[float]:
    """``depth_scale`` of the config's ``LoadMultiModalImages`` (test
    pipeline first), if any."""
    pipelines = []
    for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        loader = cfg.get(key)
        if isinstance(loader, dict):
            pipelines.append(loader.get('dataset', {}).get('pipeline', []))
    pipelines += [cfg.get('test_pipeline', []), cfg.get('train_pipeline', [])]
    for pipeline in pipelines:
        for transform in pipeline or []:
            if isinstance(transform, dict) and transform.get('type') in (
                    'LoadMultiModalImages',
                    'LoadMultiModalRandomResizedCrop'):
                return transform.get('depth_scale')
    return None


def _config_metainfo(cfg: Config) -> dict:
    """Class names / palette of the config (``metainfo`` or a dataset's),
    with mmseg's ``classes`` / ``palette`` keys mapped to ours."""
    found = dict(cfg.get('metainfo') or {})
    for key in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        loader = cfg.get(key)
        if not found and isinstance(loader, dict):
            found = dict(loader.get('dataset', {}).get('metainfo') or {})
    return _semseg_meta(found)


def _semseg_meta(meta: dict) -> dict:
    out = dict(meta)
    if 'palette' in out and 'semseg_palette' not in out:
        out['semseg_palette'] = out['palette']
    if 'classes' in out and 'semseg_classes' not in out:
        out['semseg_classes'] = out['classes']
    return out


def _check_array(modality: str, array: np.ndarray, where: str) -> np.ndarray:
    """Check a user array and convert it to what the pipeline reads."""
    shape, dtype = array.shape, array.dtype
    if array.size == 0:
        raise ValueError(f'{where}: {modality} array is empty ({shape})')
    if modality == 'rgb':
        if dtype != np.uint8 or array.ndim != 3 or shape[2] != 3:
            raise ValueError(
                f'{where}: rgb array must be uint8 (H, W, 3) with values in '
                f'[0, 255], got {dtype} of shape {shape}')
        return array
    if modality == 'depth':
        if not np.issubdtype(dtype, np.floating) or array.ndim != 2:
            raise ValueError(
                f'{where}: depth array must be float (H, W) in your depth '
                f'units (e.g. metres), got {dtype} of shape {shape}')
        array = array.astype(np.float32)
        bad = ~np.isfinite(array)
        if bad.any():
            raise ValueError(f'{where}: depth array has {int(bad.sum())} '
                             'non-finite (NaN/inf) pixels')
        return array
    if modality == 'semseg':
        if not np.issubdtype(dtype, np.integer) or array.ndim != 2:
            raise ValueError(
                f'{where}: semseg array must be integer class ids (H, W) at '
                f'full resolution, got {dtype} of shape {shape}')
        low, high = int(array.min()), int(array.max())
        if low < 0 or high >= 2**31:
            raise ValueError(f'{where}: semseg class ids must be >= 0, got '
                             f'ids in [{low}, {high}]')
        return array.astype(np.uint8 if high < 256 else np.int32)
    if modality == 'normal':
        ok = array.ndim == 3 and shape[2] == 3 and (
            dtype == np.uint8 or np.issubdtype(dtype, np.floating))
        if not ok:
            raise ValueError(
                f'{where}: normal array must be (H, W, 3), uint8 codes or '
                f'float unit vectors, got {dtype} of shape {shape}')
        return array if dtype == np.uint8 else array.astype(np.float32)
    raise ValueError(f'{where}: cannot load modality {modality!r} (the '
                     f'loader reads {SUPPORTED_MODALITIES})')


def _pixel_visibility(mask: Tensor, grid: Tuple[int, int],
                      size: Tuple[int, int]) -> Tensor:
    """Token masks ``(B, h * w)`` (True = masked) as visible pixels
    ``(B, 1, H, W)``."""
    (h, w), (height, width) = grid, size
    visible = ~mask.reshape(mask.shape[0], 1, h, w)
    return visible.repeat_interleave(height // h,
                                     2).repeat_interleave(width // w, 3)


class MultiMAEInferencer(BaseInferencer):
    """Inference of MultiMAE, fine-tuned dense models and other MultiViT
    models on image files, arrays and dicts of modalities.

    The workflow and the constructor follow mmengine's ``BaseInferencer``
    (the design of mmseg's ``MMSegInferencer``); models are built with our
    registry and loaded strictly (a missing or unexpected key is an
    error).

    Inputs (one or a list; a folder is expanded by :func:`collect_inputs`):

    - a path or an array: the ``rgb`` modality (the model's only modality
      if it has no rgb adapter);
    - a dict ``{modality: path or array}``: any subset of the modalities
      the model has adapters for (a dense model needs all of its).
      Arrays: rgb uint8 ``(H, W, 3)``; depth float ``(H, W)`` in any units;
      semseg integer ``(H, W)`` class ids at full resolution; normal
      ``(H, W, 3)``. Files are read with ``LoadMultiModalImages`` (depth
      scaled by ``depth_scale``).

    Pre-training models run at ``image_size`` (every modality resized to
    it: bicubic rgb, nearest depth and labels; default the size the
    position tables were built for) and predict at that size; dense and
    generic models run at the input's size (their ``test_cfg`` mode; the
    first one of a list, the ``full`` protocol). Inputs are batched
    ``batch_size`` at a time among consecutive inputs with the same
    modalities and size; the model runs once per batch on ``device``.

    Token masks (pre-training models; True = masked): by default every
    given modality is fully visible (and modalities not given are
    predicted from them). ``mask_spec`` chooses per modality ``'visible'``,
    ``'masked'``, a number of random visible tokens or a bool mask
    ``(h, w)`` / ``(h * w,)`` (input modalities it does not name are
    masked); ``num_visible`` instead draws masks with the model's own
    sampler (Dirichlet) with that budget. The random masks of the ``i``-th
    input of a call are drawn with seed ``seed + i``: the same whatever
    the batch size.

    Natural units of the ``predictions`` (pre-training models), at
    ``image_size``, one entry per decoder (head name):

    - rgb: uint8 ``(H, W, 3)`` in ``[0, 255]`` (ImageNet normalisation
      undone);
    - depth: float32 ``(H, W)``. Depth inputs are standardised with the
      trimmed statistics of their *visible* pixels only (masked pixels
      never reach the model; all pixels when depth is fully visible, as in
      training), and the prediction is mapped back with the same
      statistics: it is in the input's units (``units`` ``'input'``).
      Without visible depth there are no statistics: the prediction is
      returned in standardised units (``'standardized'``: zero trimmed
      mean, unit variance over the image, which is what the model was
      trained to output), i.e. relative depth up to scale and shift;
    - semseg: int64 ``(H, W)`` class ids (logits upsampled bilinearly from
      the decoder's 1/4 resolution, then argmax);
    - heads with per-patch normalised targets (``norm_rgb``): float32
      ``(H, W, C)`` in those units (undoing them needs the unknown target).

    Args:
        model (str | dict | Config): Config file or object.
        weights (str, optional): Checkpoint (ours, mmengine or plain state
            dict); None keeps the random initialisation (with a warning).
        device (str, optional): Device; default mmengine's choice.
        image_size (int | tuple[int, int], optional): Size pre-training
            models run at; default the position tables' size.
        depth_scale (float, optional): Factor applied to depth files;
            default the config's ``LoadMultiModalImages`` value (metres for
            the synthetic scenes), else ``2**-16``.
        show_progress (bool): Show ``BaseInferencer``'s progress display
            over the batches. Defaults to False.

    Example:
        >>> inferencer = MultiMAEInferencer(
        ...     'configs/multimae/multimae_vit-tiny-6l-p8_1xb32-16e_'
        ...     'synthetic-demo.py', weights='work_dirs/demo/epoch_6.pth',
        ...     device='cpu')
        >>> out = inferencer(dict(rgb='scene.jpg'))  # depth, semseg from rgb
        >>> out['predictions'][0]['depth'].shape, out['units'][0]['depth']
        ((64, 64), 'standardized')
        >>> out = inferencer(dict(rgb='scene.jpg', depth='scene.png'),
        ...                  mask_spec=dict(rgb='visible', depth=8))
    """

    preprocess_kwargs: set = {'mask_spec', 'num_visible', 'seed'}
    forward_kwargs: set = set()
    visualize_kwargs: set = {'return_vis'}
    postprocess_kwargs: set = set()

    def __init__(self,
                 model: Union[str, dict, Config],
                 weights: Optional[str] = None,
                 device: Optional[str] = None,
                 image_size: Optional[Union[int, Sequence[int]]] = None,
                 depth_scale: Optional[float] = None,
                 show_progress: bool = False) -> None:
        register_all_modules(init_default_scope=True)
        if isinstance(model, str) and not osp.isfile(model):
            raise FileNotFoundError(f"config '{model}' not found")
        if weights is not None and not osp.isfile(weights):
            raise FileNotFoundError(f"checkpoint '{weights}' not found")
        self.num_inputs_seen = 0
        super().__init__(
            model=model,
            weights=weights,
            device=device,
            scope='mmmultimae',
            show_progress=show_progress)
        self.kind = model_kind(self.model)
        self.encoder = self.model.encoder if self.kind == 'pretrain' \
            else self.model.backbone
        self.modalities: List[str] = list(
            self.model.input_modalities if self.kind ==
            'pretrain' else self.encoder.modalities)
        if self.kind == 'pretrain':
            self.image_size = to_2tuple_int(
                image_size or self.encoder.table_image_size, 'image_size')
        elif image_size is not None:
            raise ValueError('image_size applies to pre-training models; '
                             f'{type(self.model).__name__} runs at the '
                             "input's size (its test_cfg)")
        else:
            self.image_size = None
        scale = depth_scale if depth_scale is not None else \
            _config_depth_scale(self.cfg)
        self.depth_scale = float(scale) if scale is not None else 2.**-16
        self.palette = self._palette()

    # -- construction -----------------------------------------------------
    def _init_model(self, cfg: Config, weights: Optional[str],
                    device: str) -> nn.Module:
        """Build with our registry, load ``weights`` strictly, keep one
        test mode (dense models)."""
        model = MODELS.build(copy.deepcopy(cfg.model))
        model.cfg = cfg
        self._load_weights_to_model(
            model,
            None if weights is None else _load_checkpoint(weights, 'cpu'), cfg)
        test_cfg = getattr(model, 'test_cfg', None)
        if isinstance(test_cfg, dict) and 'mode' in test_cfg:
            model.test_cfg = first_test_mode(test_cfg)
        if torch.device(device).type == 'cpu' or not torch.cuda.is_available():
            model = revert_sync_batchnorm(model)
        return model.to(device).eval()

    def _load_weights_to_model(self, model: nn.Module,
                               checkpoint: Optional[dict],
                               cfg: Optional[Config]) -> None:
        """Strict loading; the checkpoint's ``dataset_meta`` (classes,
        palette) wins over the config's ``metainfo``."""
        self.dataset_meta = _config_metainfo(cfg) if cfg else {}
        if checkpoint is None:
            warnings.warn('MultiMAEInferencer: no weights given, the model '
                          'keeps its random initialisation')
            return
        _load_checkpoint_to_model(model, checkpoint, strict=True)
        meta = checkpoint.get('meta', {}) if isinstance(checkpoint,
                                                        dict) else {}
        if isinstance(meta.get('dataset_meta'), dict):
            self.dataset_meta.update(_semseg_meta(meta['dataset_meta']))

    def _init_pipeline(self, cfg: Config) -> None:
        """Loading is :meth:`load_sample` (it needs the built model)."""
        return None

    def _init_collate(self, cfg: Config) -> None:
        """Batches are stacked by :meth:`preprocess`."""
        return None

    def _init_visualizer(self, cfg: Config) -> None:
        """Figures are drawn with :mod:`mmmultimae.visualization`."""
        return None

    def _palette(self) -> np.ndarray:
        if self.kind == 'pretrain':
            label_heads = [
                head for head in self.model.heads.values()
                if isinstance(head, SemSegReconstructionHead)
            ]
            num_classes = label_heads[0].out_channels if label_heads else 1
        else:
            head = getattr(self.model, 'decode_head', None)
            num_classes = getattr(head, 'num_classes', 1)
        return semseg_palette(self.dataset_meta, max(int(num_classes), 1))

    # -- inputs -----------------------------------------------------------
    def _inputs_to_list(self, inputs: Any) -> List[InputItem]:
        """A list of inputs; folders are expanded (:func:`collect_inputs`)
        in place."""
        if isinstance(inputs, (str, os.PathLike, np.ndarray, dict)):
            inputs = [inputs]
        if not isinstance(inputs, (list, tuple)):
            raise TypeError('inputs must be a path, an array, a dict of '
                            'modalities or a list of them, got '
                            f'{type(inputs).__name__}')
        out: List[InputItem] = []
        for item in inputs:
            if isinstance(item, os.PathLike):
                item = os.fspath(item)
            if isinstance(item, str) and osp.isdir(item):
                out += [
                    paths for _, paths in collect_inputs(
                        item,
                        known_modalities=self.modalities,
                        default_modality=self.default_modality)
                ]
            else:
                out.append(item)
        return out

    @property
    def default_modality(self) -> str:
        """Modality of a plain path or array: rgb, or the model's only
        modality."""
        if 'rgb' in self.modalities or len(self.modalities) != 1:
            return 'rgb'
        return self.modalities[0]

    def _as_dict(self, item: InputItem, where: str) -> Dict[str, Any]:
        if isinstance(item, (str, os.PathLike, np.ndarray)):
            item = {self.default_modality: item}
        if not isinstance(item, dict) or not item:
            raise TypeError(f'{where}: expected an image path, an array or a '
                            'non-empty dict modality -> path/array, got '
                            f'{type(item).__name__}')
        unknown = [m for m in item if m not in self.modalities]
        if unknown:
            raise ValueError(
                f'{where}: the model has no input adapter for {unknown}; it '
                f'reads {self.modalities}')
        if self.kind != 'pretrain':
            missing = [m for m in self.modalities if m not in item]
            if missing:
                raise ValueError(
                    f'{where}: {type(self.model).__name__} reads '
                    f'{self.modalities}; the input has no {missing}')
        out = {}
        for m in self.modalities:  # the model's order
            if m not in item:
                continue
            value = item[m]
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            if not isinstance(value, (str, np.ndarray)):
                raise TypeError(f'{where}: {m} must be a path or a numpy '
                                f'array, got {type(value).__name__}')
            out[m] = value
        return out

    def load_sample(self, item: InputItem, index: int) -> dict:
        """Read, check, resize and pack one input.

        Args:
            item: A path, an array or a dict of modalities.
            index (int): Position of the input in the call (messages).

        Returns:
            dict: ``inputs`` (``{modality: tensor}``, the data contract),
            ``data_sample``, ``natural`` (the arrays at the model's size, in
            the input's units, for figures) and ``name`` (file stem).
        """
        item = self._as_dict(item, f'input {index}')
        paths = {m: v for m, v in item.items() if isinstance(v, str)}
        where = f'input {index}' + (f' ({paths})' if paths else '')
        missing = [m for m in paths if m not in SUPPORTED_MODALITIES]
        if missing:
            raise ValueError(f'{where}: cannot load modality {missing} (the '
                             f'loader reads {SUPPORTED_MODALITIES})')
        results: dict = dict(img_path=dict(paths))
        if paths:
            LoadMultiModalImages(
                modalities=tuple(paths),
                depth_scale=self.depth_scale).transform(results)
        for m, value in item.items():
            if isinstance(value, np.ndarray):
                results[m] = _check_array(m, value, where)
        modalities = tuple(item)
        sizes = {m: tuple(results[m].shape[:2]) for m in modalities}
        if len(set(sizes.values())) > 1:
            raise ValueError(f'{where}: modalities must have the same '
                             f'height and width, got {sizes}')
        results['modalities'] = modalities
        results['ori_shape'] = results['img_shape'] = sizes[modalities[0]]
        if self.kind == 'pretrain':
            resize_sample(results, self.image_size, DEFAULT_INTERPOLATIONS,
                          modalities)
        natural = {m: results[m] for m in modalities}
        for m in modalities:
            stride = self.encoder.stride_level(m)
            if stride > 1:
                DownsampleLabels(keys=(m, ), factor=stride).transform(results)
        packed = PackMultiModalInputs(modalities=modalities).transform(results)
        sample = packed['data_samples']
        if self.kind == 'dense':
            from mmseg.structures import SegDataSample
            height, width = results['img_shape']
            sample = SegDataSample(
                metainfo=dict(sample.metainfo, pad_shape=(height, width)))
        first = next(iter(paths.values()), None)
        name = osp.splitext(osp.basename(first))[0] if first else \
            f'{self.num_inputs_seen + index:08d}'
        return dict(
            inputs=packed['inputs'],
            data_sample=sample,
            natural=natural,
            name=name,
            index=index)

    # -- masks ------------------------------------------------------------
    def _check_mask_args(self, mask_spec: Optional[dict],
                         num_visible: Optional[int]) -> None:
        if mask_spec is None and num_visible is None:
            return
        if self.kind != 'pretrain':
            raise ValueError('mask_spec / num_visible apply to pre-training '
                             f'models; {type(self.model).__name__} sees '
                             'every token')
        if mask_spec is not None and num_visible is not None:
            raise ValueError('give mask_spec or num_visible, not both')
        if mask_spec is not None:
            if not isinstance(mask_spec, dict):
                raise TypeError('mask_spec must be a dict modality -> '
                                "'visible' | 'masked' | count | bool mask, "
                                f'got {type(mask_spec).__name__} (parse '
                                'strings with parse_mask_spec)')
            unknown = [m for m in mask_spec if m not in self.modalities]
            if unknown:
                raise ValueError(f'mask_spec names {unknown}: the model has '
                                 f'no input adapter for them; it reads '
                                 f'{self.modalities}')

    def _spec_masks(self, inputs: Dict[str, Tensor], spec: dict, seed: int,
                    index: int) -> Dict[str, Tensor]:
        """Masks of one sample (batch of 1) from a spec."""
        layout = self.model.token_layout(inputs)
        absent = [m for m in spec if m not in layout.modalities]
        if absent:
            raise ValueError(f'mask_spec names {absent}, which input {index} '
                             f'does not provide (it has {layout.modalities})')
        arrays = {
            m: v
            for m, v in spec.items() if isinstance(v, (np.ndarray, Tensor))
        }
        rest = {m: v for m, v in spec.items() if m not in arrays}
        masks = masks_from_spec(self.model, inputs, rest, seed)
        for m, value in arrays.items():
            grid = layout.grids[m]
            mask = torch.as_tensor(np.asarray(value))
            if mask.dtype != torch.bool and not (
                    not mask.dtype.is_floating_point and bool(
                        ((mask == 0) | (mask == 1)).all())):
                raise ValueError(f'mask of {m!r} must be bool (True = '
                                 f'masked) or 0/1, got {mask.dtype}')
            if tuple(mask.shape) not in (grid, (grid[0] * grid[1], )):
                raise ValueError(
                    f'mask of {m!r} must have the token grid shape {grid} '
                    f'(or ({grid[0] * grid[1]},)), got {tuple(mask.shape)}')
            masks[m] = mask.bool().reshape(1, -1)
        return masks

    def _batch_masks(self, inputs: Dict[str, Tensor], indices: List[int],
                     mask_spec: Optional[dict], num_visible: Optional[int],
                     seed: int) -> Dict[str, Tensor]:
        """``(B, N_m)`` masks of a batch; sample ``i`` of the call uses
        seed ``seed + i``."""
        layout = self.model.token_layout(inputs)
        batch = len(indices)
        if mask_spec is None and num_visible is None:
            return {
                m: torch.zeros(batch, n, dtype=torch.bool)
                for m, n in layout.num_tokens.items()
            }
        per_sample = []
        for row, index in enumerate(indices):
            one = {m: x[row:row + 1] for m, x in inputs.items()}
            if num_visible is not None:
                masks = sample_masks(self.model, one, seed + index,
                                     num_visible)
            else:
                masks = self._spec_masks(one, mask_spec, seed + index, index)
            per_sample.append(masks)
        return {
            m: torch.cat([masks[m].cpu() for masks in per_sample])
            for m in layout.modalities
        }

    # -- workflow ---------------------------------------------------------
    def preprocess(self,
                   inputs: List[InputItem],
                   batch_size: int = 1,
                   mask_spec: Optional[dict] = None,
                   num_visible: Optional[int] = None,
                   seed: int = 0):
        """Yield batches of consecutive inputs that share modalities and
        size, at most ``batch_size`` each.

        Yields:
            dict: ``inputs`` (stacked CPU tensors, not normalised),
            ``data_samples``, ``masks`` (pre-training models: ``(B, N_m)``,
            True = masked) and ``samples`` (the :meth:`load_sample` dicts).
        """
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        self._check_mask_args(mask_spec, num_visible)
        chunk: List[dict] = []
        signature = None
        for index, item in enumerate(inputs):
            sample = self.load_sample(item, index)
            key = tuple(
                (m, tuple(x.shape)) for m, x in sample['inputs'].items())
            if chunk and (key != signature or len(chunk) == batch_size):
                yield self._collate(chunk, mask_spec, num_visible, seed)
                chunk = []
            chunk.append(sample)
            signature = key
        if chunk:
            yield self._collate(chunk, mask_spec, num_visible, seed)

    def _collate(self, chunk: List[dict], mask_spec, num_visible,
                 seed) -> dict:
        inputs = {
            m: torch.stack([s['inputs'][m] for s in chunk])
            for m in chunk[0]['inputs']
        }
        data = dict(
            inputs=inputs,
            data_samples=[s['data_sample'] for s in chunk],
            samples=chunk)
        if self.kind == 'pretrain':
            data['masks'] = self._batch_masks(inputs,
                                              [s['index'] for s in chunk],
                                              mask_spec, num_visible, seed)
        return data

    @torch.no_grad()
    def forward(self, data: dict) -> List[dict]:
        """One model call on a batch.

        Returns:
            list[dict]: Per sample ``data_sample`` (the model's output),
            ``predictions`` (numpy, natural units), ``masks`` and
            ``units`` (pre-training models), ``natural`` and ``name``.
        """
        if self.kind == 'pretrain':
            return self._forward_pretrain(data)
        batch = dict(inputs=data['inputs'])
        if self.kind == 'dense':
            batch['data_samples'] = data['data_samples']
        results = self.model.test_step(batch)
        return [
            dict(
                data_sample=result,
                predictions=prediction_arrays(result),
                natural=sample['natural'],
                name=sample['name'])
            for result, sample in zip(results, data['samples'])
        ]

    def _forward_pretrain(self, data: dict) -> List[dict]:
        model = self.model
        pre = model.data_preprocessor
        raw = data['inputs']
        processed = pre(
            dict(inputs=raw, data_samples=data['data_samples']), False)
        inputs = processed['inputs']
        device = next(iter(inputs.values())).device
        masks = {m: v.to(device) for m, v in data['masks'].items()}
        layout = model.token_layout(inputs)
        stats = {}
        for m in layout.modalities:
            settings = pre.standardization(m)
            if settings is None:
                continue
            # statistics of the visible pixels only: masked pixels never
            # reach the model (all pixels when fully visible, as training)
            values = raw[m].to(device).float()
            visible = _pixel_visibility(masks[m], layout.grids[m],
                                        tuple(values.shape[-2:]))
            inputs[m] = standardize_depth(values, visible, **settings)
            stats[m] = depth_statistics(values, visible, **settings)
        results = model(
            inputs, processed['data_samples'], mode='predict', masks=masks)
        predictions, units = self._natural_units(results, stats)
        out = []
        for i, (result, sample) in enumerate(zip(results, data['samples'])):
            out.append(
                dict(
                    data_sample=result,
                    predictions={
                        k: v[i]
                        for k, v in predictions.items()
                    },
                    units={
                        k: v[i]
                        for k, v in units.items()
                    },
                    masks={  # the CPU masks given: no device copies
                        m: data['masks'][m][i].reshape(
                            layout.grids[m]).numpy()
                        for m in layout.modalities
                    },
                    natural=sample['natural'],
                    name=sample['name']))
        return out

    def _natural_units(self, results: List[BaseDataElement],
                       stats: Dict[str, Tuple[Tensor, Tensor, Tensor]]):
        """Every head's batch of predictions in natural units (device-side,
        one transfer per head)."""
        pre = self.model.data_preprocessor
        batch = len(results)
        predictions, units = {}, {}
        for name, head in self.model.heads.items():
            pred = torch.stack([r.get(f'pred_{name}') for r in results])
            target = head.target
            unit = [UNITS_MODEL] * batch
            if isinstance(head, SemSegReconstructionHead):
                value = F.interpolate(
                    pred.float(),
                    self.image_size,
                    mode='bilinear',
                    align_corners=False).argmax(dim=1)
                unit = [UNITS_CLASS_IDS] * batch
            elif getattr(head, 'norm_target', False):
                value = pred.float()
                unit = [UNITS_PATCH_STANDARDIZED] * batch
            elif pre.normalization(target) is not None:
                mean, std = (
                    pred.new_tensor(v).view(1, -1, 1, 1)
                    for v in pre.normalization(target))
                value = pred.float() * std + mean
                unit = [UNITS_INPUT] * batch
                if target == 'rgb':
                    value = value.round().clamp(0, 255).to(torch.uint8)
                    unit = [UNITS_UINT8] * batch
            elif target in stats:
                mean, std, usable = stats[target]
                value = torch.where(
                    usable.view(-1, 1, 1, 1),
                    unstandardize_depth(pred, mean, std), pred.float())
                unit = [
                    UNITS_INPUT if ok else UNITS_STANDARDIZED
                    for ok in usable.tolist()
                ]
            elif pre.standardization(target) is not None:
                value = pred.float()
                unit = [UNITS_STANDARDIZED] * batch
            else:
                value = pred.float()
            if value.dim() == 4:  # (B, C, H, W) -> (B, H, W[, C])
                value = value[:, 0] if value.shape[1] == 1 else \
                    value.permute(0, 2, 3, 1)
            predictions[name] = value.cpu().numpy()
            units[name] = unit
        return predictions, units

    # -- figures and results ----------------------------------------------
    def visualize(self,
                  inputs: list,
                  preds: List[dict],
                  return_vis: bool = False,
                  **kwargs) -> Optional[List[np.ndarray]]:
        """One figure per input (:meth:`draw`) when ``return_vis``."""
        if not return_vis:
            return None
        return [self.draw(pred) for pred in preds]

    def draw(self, pred: dict) -> np.ndarray:
        """The figure of one result of :meth:`forward` (uint8
        ``(H, W, 3)``).

        Pre-training models: the reconstruction figures' layout, one row
        per reconstructed modality (``masked input``, ``prediction`` with
        the visible patches pasted back, ``input``; modalities not given
        have a grey input and no ground truth). Other models: the inputs
        and the predictions side by side.
        """
        natural = pred['natural']
        if self.kind != 'pretrain':
            tiles, labels = [], []
            for m, value in natural.items():
                tiles.append(self._display(m, value, None))
                labels.append(m)
            for key, value in pred['predictions'].items():
                if np.ndim(value) in (2, 3) and np.size(value) > 1:
                    tiles.append(self._display(key, value, None))
                    labels.append(f'pred {key}')
            return make_grid([tiles], [pred['name']], labels)
        rows, labels = [], []
        for row in reconstruction_rows(self.model):
            value = pred['predictions'][row.head]
            given = natural.get(row.target)
            mask = pred['masks'].get(row.target)
            kind = row.kind if row.kind != 'generic' else None
            truth_range = pred_range = None
            if row.kind == 'depth':
                pred_range = robust_range(value)
                if given is not None:
                    truth_range = robust_range(given)
                    if pred['units'][row.head] == UNITS_INPUT:
                        pred_range = truth_range  # one colour scale
            shown = self._display(kind or row.head, value, pred_range, kind)
            if given is None:
                rows.append([mask_image(shown, None), shown, None])
            else:
                truth = self._display(kind or row.head, given, truth_range,
                                      kind)
                if mask is not None and pred_range == truth_range:
                    shown = paste_visible(
                        shown.transpose(2, 0, 1), truth.transpose(2, 0, 1),
                        mask).transpose(1, 2, 0)
                rows.append([mask_image(truth, mask), shown, truth])
            labels.append(row.target)
        return make_grid(
            rows,
            labels, ['masked input', 'prediction', 'input'],
            title=pred['name'])

    def _display(self,
                 key: str,
                 value: np.ndarray,
                 vrange: Optional[Tuple[float, float]],
                 kind: Optional[str] = None) -> np.ndarray:
        value = np.asarray(value)
        kind = kind or {
            'rgb': 'rgb',
            'depth': 'depth',
            'depth_map': 'depth',
            'semseg': 'semseg',
            'sem_seg': 'semseg'
        }.get(key)
        if kind == 'rgb' and value.dtype == np.uint8:
            return value
        if kind == 'semseg' or (value.ndim == 2
                                and np.issubdtype(value.dtype, np.integer)):
            return colorize_semseg(value, self.palette)
        if value.ndim == 2:
            return colorize_depth(value, *(vrange or robust_range(value)))
        return minmax_image(value.transpose(2, 0, 1).astype(np.float32))

    def postprocess(self,
                    preds: List[dict],
                    visualization: Optional[List[np.ndarray]],
                    return_datasample: bool = False) -> Union[dict, list]:
        """Pack the results.

        Returns:
            list | dict: The models' data samples when
            ``return_datasample``; else ``dict(predictions=[...],
            visualization=[...] or None)``, plus ``masks`` and ``units``
            for pre-training models (one entry per input, see the class
            docstring).
        """
        self.num_inputs_seen += len(preds)
        if return_datasample:
            return [pred['data_sample'] for pred in preds]
        out = dict(
            predictions=[pred['predictions'] for pred in preds],
            visualization=visualization)
        if self.kind == 'pretrain':
            out['masks'] = [pred['masks'] for pred in preds]
            out['units'] = [pred['units'] for pred in preds]
        return out

    def __call__(self,
                 inputs: Union[InputItem, Sequence[InputItem]],
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 mask_spec: Optional[Dict[str, MaskValue]] = None,
                 num_visible: Optional[int] = None,
                 seed: int = 0,
                 return_vis: bool = False) -> Union[dict, list]:
        """Run the model on ``inputs``.

        Args:
            inputs: A path (file or folder), an array, a dict of modalities
                or a list of them (see the class docstring).
            return_datasamples (bool): Return the models' data samples
                instead of numpy arrays. Defaults to False.
            batch_size (int): Inputs per model call. Defaults to 1.
            mask_spec (dict, optional): Per-modality masks (pre-training
                models), e.g. ``dict(rgb='visible', depth=16)``.
            num_visible (int, optional): Visible-token budget of the
                model's mask sampler (pre-training models).
            seed (int): Seed of random masks (input ``i``: ``seed + i``).
            return_vis (bool): Also return one figure per input.

        Returns:
            dict | list: See :meth:`postprocess`.
        """
        return super().__call__(
            inputs,
            return_datasamples,
            batch_size,
            mask_spec=mask_spec,
            num_visible=num_visible,
            seed=seed,
            return_vis=return_vis)


def prediction_arrays(sample: BaseDataElement) -> Dict[str, np.ndarray]:
    """The ``pred_*`` fields of a data sample as numpy arrays, without the
    prefix: ``pred_sem_seg`` -> ``sem_seg`` int64 ``(H, W)``,
    ``pred_depth_map`` -> ``depth_map`` float32 ``(H, W)`` (``(H, W, C)``
    for several channels), tensors (e.g. ``pred_label``, ``pred_score``
    of classifiers) as they are."""
    out = {}
    for key in sample.keys():
        if not key.startswith('pred_'):
            continue
        value = sample.get(key)
        if isinstance(value, PixelData):
            value = value.data
            value = value[0] if value.shape[0] == 1 else value.permute(1, 2, 0)
        if isinstance(value, Tensor):
            value = value.detach().cpu().numpy()
        elif isinstance(value, BaseDataElement):
            value = {
                k: v.detach().cpu().numpy() if isinstance(v, Tensor) else v
                for k, v in value.items()
            }
        out[key[len('pred_'):]] = value
    return out
