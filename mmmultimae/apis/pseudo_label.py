# Copyright (c) mmmultimae contributors. All rights reserved.
"""Pseudo-labelling an image folder into the multi-modal pre-training set.

The official MultiMAE pre-trains on ImageNet with depth and semantic
segmentation pseudo-labels that a Colab notebook makes with external models.
Here any mmseg segmentor (our ``MultiModalEncoderDecoder`` reading rgb, or a
plain mmseg ``EncoderDecoder``) and any depth model (our
``MultiModalDepthEstimator`` or mmseg's ``DepthEstimator``) label a folder in
ImageNet layout ``SRC/<class>/<file>`` into
``OUT/{rgb,depth,semseg}/<class>/<stem>.<ext>``, the layout and encodings
that :class:`~mmmultimae.datasets.MultiModalImageFolder` and
:class:`~mmmultimae.datasets.transforms.LoadMultiModalImages` read:

- ``rgb``: the source file, copied byte for byte (or symlinked); a source in
  a format the folder dataset does not take for rgb (``.bmp``, ``.webp``,
  ...) is re-encoded as PNG (lossless);
- ``depth/<class>/<stem>.png``: 16-bit grey PNG in the synthetic scenes'
  Omnidata code ``value = round(depth_m / 128 * 2**16)``; load it with
  ``LoadMultiModalImages(depth_scale=128 / 2**16)`` for metres (depth is
  standardised per image before the model, so the scale does not change
  pre-training). Predictions are clipped to ``[0, 128)`` m (counted);
- ``semseg/<class>/<stem>.png``: palette PNG for up to 255 classes, 16-bit
  grey PNG for 256 to 65535 classes; the top code of each encoding (255,
  mmseg's ignore index, and 65535) is never a class. More classes are an
  error;
- ``pseudo_labels.json``: the models, the class count, names and palette,
  the encodings. Writing into a root made with other classes, encodings or
  modalities, or into a non-empty folder without this file, is an error.

Labels are computed on the image as the pre-training loader decodes it
(PIL, no EXIF rotation, converted to RGB) at its full resolution, by the
model's own test-time geometry, and resized back to the image size, so they
stay aligned with the rgb file under any later augmentation (official
MultiMAE issue #7): our models get the whole image and their
``test_cfg.mode`` (``whole`` / ``slide`` / ``resize_pad``; the first mode of
a list, ``protocol='full'``); plain mmseg models get their config's test
pipeline (its resize; annotation loading dropped, crops refused) and mmseg's
``postprocess_result`` resizes the prediction to ``ori_shape``.

A run resumes: files that exist, decode and have the source's size (and the
expected encoding) are kept; rgb files are written last, so an interrupted
sample is no sample of the folder dataset. Images are split between
processes by ``rank::world_size`` (torchrun's ``RANK`` / ``WORLD_SIZE``),
so ranks never write the same file. Images that cannot be read are
reported by path at the end; the run goes on.
"""
import json
import logging
import os
import os.path as osp
import shutil
import sys
import time
from collections import OrderedDict
from copy import deepcopy
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.dataset import Compose, pseudo_collate
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from mmengine.runner import load_checkpoint
from mmengine.utils import ProgressBar
from PIL import Image

from mmmultimae.datasets.multimodal_image_folder import (DEFAULT_EXTENSIONS,
                                                         IMAGE_EXTENSIONS,
                                                         scan_modality)
from mmmultimae.datasets.synthetic.codecs import encode_depth, palette_image
from mmmultimae.datasets.synthetic.metainfo import DEPTH_PNG_MAX_M
from mmmultimae.utils import register_all_modules
from mmmultimae.visualization.reconstruction import make_palette

#: Name of the meta file at the output root.
META_FILE = 'pseudo_labels.json'
#: ``generator`` entry of the meta file.
GENERATOR = 'mmmultimae.apis.pseudo_label'
#: Label modalities, in the order the models run.
TASKS = ('semseg', 'depth')
#: Most classes of a palette PNG: ids 0..254 (255 is mmseg's ignore index).
MAX_PALETTE_CLASSES = 255
#: Most classes of a 16-bit label PNG: ids 0..65534.
MAX_UINT16_CLASSES = 65535
#: Metres per depth code (``LoadMultiModalImages(depth_scale=...)``).
DEPTH_SCALE = DEPTH_PNG_MAX_M / 2**16
DEPTH_ENCODING = ('uint16 PNG, value = round(depth_m / 128 * 2**16), '
                  'depth_m = value / 2**16 * 128 (Omnidata); clipped to '
                  '[0, 128) m')
SEMSEG_ENCODINGS = dict(
    palette='palette (P) PNG of class ids 0..254',
    uint16='16-bit grey PNG of class ids 0..65534')
#: PIL errors of unreadable or broken image files.
READ_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)

# PIL modes of a written (and accepted) output file
_DEPTH_MODES = ('I;16', 'I;16L', 'I;16B', 'I')
_FILE_MODES = dict(
    depth=_DEPTH_MODES, palette=('P', ), uint16=('I;16', 'I;16L', 'I'))


# -- encodings ---------------------------------------------------------------
def semseg_encoding(num_classes: int) -> str:
    """The label encoding of ``num_classes`` classes.

    Returns:
        str: ``'palette'`` (at most :data:`MAX_PALETTE_CLASSES`) or
        ``'uint16'`` (at most :data:`MAX_UINT16_CLASSES`).

    Raises:
        ValueError: Fewer than one class, or more than a 16-bit PNG holds.
    """
    if num_classes < 1:
        raise ValueError(f'num_classes must be >= 1, got {num_classes}')
    if num_classes <= MAX_PALETTE_CLASSES:
        return 'palette'
    if num_classes <= MAX_UINT16_CLASSES:
        return 'uint16'
    raise ValueError(
        f'a segmentor with {num_classes} classes cannot be stored: label '
        f'PNGs hold at most {MAX_UINT16_CLASSES} classes (16-bit ids '
        f'0..{MAX_UINT16_CLASSES - 1})')


def encode_semseg(
        labels: np.ndarray,
        encoding: str,
        palette: Optional[Sequence[Sequence[int]]] = None) -> Image.Image:
    """Class ids ``(H, W)`` -> the PIL image of ``encoding``.

    Args:
        labels (np.ndarray): Integer ids ``(H, W)``.
        encoding (str): ``'palette'`` or ``'uint16'``
            (:func:`semseg_encoding`).
        palette (Sequence, optional): ``(K, 3)`` colours of a palette PNG.

    Raises:
        ValueError: Ids outside the encoding's range.
    """
    top = MAX_PALETTE_CLASSES if encoding == 'palette' else MAX_UINT16_CLASSES
    if labels.size and (labels.min() < 0 or labels.max() >= top):
        raise ValueError(f'class ids [{labels.min()}, {labels.max()}] do not '
                         f'fit the {encoding} encoding (0..{top - 1})')
    if encoding == 'uint16':
        return Image.fromarray(labels.astype(np.uint16))
    return palette_image(labels, palette or ())


def encode_depth_png(depth: np.ndarray) -> Tuple[np.ndarray, int]:
    """Metres ``(H, W)`` -> uint16 Omnidata code (the synthetic scenes'
    :func:`~mmmultimae.datasets.synthetic.codecs.encode_depth`) of depth
    clipped to ``[0, 128)`` m.

    Returns:
        tuple: The code and the number of clipped pixels.

    Raises:
        ValueError: Non-finite depth.
    """
    if not np.isfinite(depth).all():
        raise ValueError(f'depth has {int((~np.isfinite(depth)).sum())} '
                         'non-finite pixels')
    # pixels whose code (encode_depth rounds) falls outside 0..2**16 - 1
    half = DEPTH_SCALE / 2
    clipped = int(((depth < -half) | (depth >= DEPTH_PNG_MAX_M - half)).sum())
    top = DEPTH_PNG_MAX_M - DEPTH_SCALE
    return encode_depth(np.clip(depth, 0, top)), clipped


# -- source images and output files -----------------------------------------
class SourceImage(NamedTuple):
    """One image of the source folder: ``SRC/<folder>/<stem><ext>``."""
    folder: str
    stem: str
    path: str


def list_source_images(src_folder: str) -> List[SourceImage]:
    """The images of ``src_folder/<class>/...`` (sorted; files directly in
    ``src_folder`` are not in a class and are ignored, as by
    :class:`MultiModalImageFolder`).

    Raises:
        FileNotFoundError: No folder, or no image in its class folders.
        ValueError: Two files of one folder share a stem (``a.jpg`` and
            ``a.png`` would be one sample of the folder dataset).
    """
    if not osp.isdir(src_folder):
        raise FileNotFoundError(f"source folder '{src_folder}' not found")
    index = scan_modality(src_folder, '', IMAGE_EXTENSIONS)
    if not index:
        raise FileNotFoundError(
            f"no image ({', '.join(IMAGE_EXTENSIONS)}) in the class folders "
            f"of '{src_folder}' (expected SRC/<class>/<file>)")
    return [
        SourceImage(rel, stem, index[rel, stem]) for rel, stem in sorted(index)
    ]


def shard(items: Sequence, rank: int, world_size: int) -> list:
    """The disjoint slice ``items[rank::world_size]`` of one process."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f'rank {rank} is not in [0, world_size={world_size})')
    return list(items[rank::world_size])


def output_paths(out_root: str, item: SourceImage,
                 tasks: Sequence[str]) -> Dict[str, str]:
    """Files of one image: ``rgb`` (the source's extension when the folder
    dataset reads it, else ``.png``) and the label PNGs of ``tasks``."""
    ext = osp.splitext(item.path)[1]
    if ext.lower() not in DEFAULT_EXTENSIONS['rgb']:
        ext = '.png'
    paths = dict(rgb=osp.join(out_root, 'rgb', item.folder, item.stem + ext))
    for task in tasks:
        paths[task] = osp.join(out_root, task, item.folder, item.stem + '.png')
    return paths


def is_valid_output(path: str,
                    size: Tuple[int, int],
                    modes: Optional[Sequence[str]] = None) -> bool:
    """Whether ``path`` exists, decodes fully and is ``size = (W, H)`` (and,
    if given, of one of the PIL ``modes``)."""
    if not osp.isfile(path):
        return False
    try:
        with Image.open(path) as img:
            img.load()
            return img.size == tuple(size) and (modes is None
                                                or img.mode in modes)
    except READ_ERRORS:
        return False


def read_rgb(path: str) -> np.ndarray:
    """The image as :class:`LoadMultiModalImages` decodes rgb: uint8
    ``(H, W, 3)`` (PIL, converted to RGB; errors are PIL's)."""
    with Image.open(path) as img:
        img.load()
        return np.array(img.convert('RGB'))


def _save_atomic(img: Image.Image, path: str) -> None:
    """Write a PNG through a temporary file: a file that exists is whole."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    img.save(tmp, format='PNG')
    os.replace(tmp, path)


def write_rgb(src: str, dst: str, image: np.ndarray, mode: str) -> None:
    """Store the source image at ``dst``: a copy or a symlink of the file,
    or a PNG of ``image`` when ``dst`` is a ``.png`` and ``src`` is not."""
    os.makedirs(osp.dirname(dst), exist_ok=True)
    tmp = f'{dst}.tmp{os.getpid()}'
    if osp.splitext(dst)[1].lower() != osp.splitext(src)[1].lower():
        Image.fromarray(image).save(tmp, format='PNG')
    elif mode == 'symlink':
        os.symlink(osp.abspath(src), tmp)
    else:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


# -- models ------------------------------------------------------------------
def first_test_mode(test_cfg: Optional[dict]) -> ConfigDict:
    """Our segmentors' ``test_cfg`` with only the mode that fills
    ``pred_sem_seg`` / ``pred_depth_map`` (the first), in the ``full``
    protocol (the prediction at the original image size)."""
    cfg = ConfigDict(deepcopy(dict(test_cfg or {})))
    modes = cfg.get('mode', 'whole')
    cfg.mode = modes if isinstance(modes, str) else list(modes)[0]
    if cfg.get('protocol') == 'official':
        cfg.protocol = 'full'
    return cfg


def _mmseg_pipeline(cfg: Config) -> List[dict]:
    """A plain mmseg config's test pipeline on an in-memory BGR image
    (mmseg's ``inference_model`` recipe: the loader reads an array,
    annotation loading is dropped)."""
    pipeline = cfg.get('test_pipeline') or cfg.get('test_dataloader', {}).get(
        'dataset', {}).get('pipeline')
    if not pipeline:
        raise ValueError('the config has no test_pipeline (nor '
                         'test_dataloader.dataset.pipeline)')
    out = []
    for step in deepcopy(list(pipeline)):
        name = step.get('type', '')
        name = getattr(name, '__name__', name)
        if name in ('LoadAnnotations', 'LoadDepthAnnotation'):
            continue
        if name == 'LoadImageFromFile':
            step['type'] = 'LoadImageFromNDArray'
        elif 'Crop' in name or name == 'TestTimeAug':
            raise ValueError(
                f"the test pipeline has {name}: pseudo-labels must cover the "
                'whole image at its resolution (use a pipeline that only '
                'resizes)')
        out.append(step)
    if out[0].get('type') != 'LoadImageFromNDArray':
        raise ValueError('the test pipeline of a plain mmseg model must '
                         f"start with LoadImageFromFile, got {out[0]}")
    return out


class DenseLabeller:
    """A segmentor or depth model labelling rgb images at full resolution.

    Builds the config's model (mmseg's ``init_model`` recipe: no training
    settings, no pre-trained backbone file; the checkpoint holds every
    weight and is loaded strictly), then predicts batches of same-size
    images (see the module docstring for the geometry). mmseg's
    ``init_model`` / ``inference_model`` themselves are not used: they load
    non-strictly, guess classes of a checkpoint without ``dataset_meta``
    and rebuild the test pipeline on every call.

    Args:
        task (str): ``'semseg'`` or ``'depth'``.
        config (str | Config): Model config.
        checkpoint (str): Checkpoint of the trained model.
        device (str): Torch device. Defaults to ``'cpu'``.

    Attributes:
        num_classes (int): Classes of a segmentor (1 for depth).
        classes (list[str] | None): Class names of the checkpoint's
            ``dataset_meta`` (None when it has none of the right length).
        palette (list | None): Colours of the classes (palette encoding).
        encoding (str): ``'palette'``, ``'uint16'`` or ``'depth'``.
    """

    def __init__(self,
                 task: str,
                 config: Union[str, Config],
                 checkpoint: str,
                 device: str = 'cpu') -> None:
        from mmseg.models.segmentors import DepthEstimator
        from mmseg.registry import MODELS

        from mmmultimae.models.segmentors.inference_modes import \
            MultiModalSegmentorMixin
        if task not in TASKS:
            raise ValueError(f'task must be one of {TASKS}, got {task!r}')
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f"--{task} checkpoint '{checkpoint}' not found")
        self.task = task
        self.config_path = config if isinstance(config, str) else None
        self.checkpoint = checkpoint
        cfg = Config.fromfile(config) if isinstance(config, str) else \
            deepcopy(config)
        register_all_modules(init_default_scope=False)
        self.scope = cfg.get('default_scope', 'mmseg')
        cfg.model.train_cfg = None
        if isinstance(cfg.model.get('backbone'), dict) and \
                'init_cfg' in cfg.model.backbone:
            cfg.model.backbone.init_cfg = None
        if 'pretrained' in cfg.model:
            cfg.model.pretrained = None
        with DefaultScope.overwrite_default_scope(self.scope):
            model = MODELS.build(cfg.model)
            self.ours = isinstance(model, MultiModalSegmentorMixin)
            is_depth = isinstance(model, DepthEstimator)
            if is_depth != (task == 'depth'):
                raise TypeError(
                    f'--{task} needs a '
                    f"{'depth estimator' if task == 'depth' else 'segmentor'}"
                    f', the config builds a {type(model).__name__}')
            self.num_classes = int(model.decode_head.num_classes)
            if task == 'semseg':
                self.encoding = semseg_encoding(self.num_classes)
            else:
                self.encoding = 'depth'
                if self.num_classes != 1:
                    raise ValueError(
                        f'--depth model predicts {self.num_classes} '
                        'channels; a depth map has 1')
            if self.ours:
                reads = list(model.backbone.modalities)
                if reads != ['rgb']:
                    raise ValueError(f'--{task} model reads {reads}; '
                                     'pseudo-labelling feeds rgb only')
                model.test_cfg = first_test_mode(model.test_cfg)
                self.pipeline = None
            else:
                self.pipeline = Compose(_mmseg_pipeline(cfg))
        meta = load_checkpoint(
            model,
            checkpoint,
            map_location='cpu',
            strict=True,
            logger='silent').get('meta', {})
        dataset_meta = meta.get('dataset_meta') or {}
        classes = dataset_meta.get('classes')
        self.classes = None
        self.palette = None
        if task == 'semseg':
            if classes is not None and len(classes) == self.num_classes:
                self.classes = [str(c) for c in classes]
            palette = dataset_meta.get('palette')
            if self.encoding == 'palette':
                self.palette = ([list(map(int, c))
                                 for c in palette] if palette is not None
                                and len(palette) == self.num_classes else
                                make_palette(self.num_classes).tolist())
        self.model = model.to(device).eval()

    def _pack(self, image: np.ndarray, path: str) -> dict:
        """One sample as the model's data preprocessor takes it."""
        if self.ours:
            from mmseg.structures import SegDataSample
            shape = image.shape[:2]
            return dict(
                inputs=dict(
                    rgb=torch.from_numpy(image).permute(2, 0, 1).contiguous()),
                data_samples=SegDataSample(
                    metainfo=dict(
                        img_path=path, ori_shape=shape, img_shape=shape)))
        # mmseg pipelines read BGR (LoadImageFromFile); its preprocessor
        # converts with bgr_to_rgb
        results = dict(img=np.ascontiguousarray(image[..., ::-1]))
        with DefaultScope.overwrite_default_scope(self.scope):
            packed = self.pipeline(results)
        packed['data_samples'].set_metainfo(dict(img_path=path))
        return packed

    @torch.no_grad()
    def predict(self, images: Sequence[np.ndarray],
                paths: Sequence[str]) -> List[np.ndarray]:
        """Labels of same-size rgb images, at their size.

        Args:
            images (Sequence[np.ndarray]): uint8 ``(H, W, 3)`` RGB images.
            paths (Sequence[str]): Their files (for the metainfo / errors).

        Returns:
            list[np.ndarray]: int64 class ids or float32 depth ``(H, W)``.
        """
        data = pseudo_collate(
            [self._pack(img, path) for img, path in zip(images, paths)])
        with DefaultScope.overwrite_default_scope(self.scope):
            samples = self.model.test_step(data)
        field = 'pred_sem_seg' if self.task == 'semseg' else 'pred_depth_map'
        out = []
        for image, path, sample in zip(images, paths, samples):
            pred = sample.get(field).data
            if pred.shape != (1, *image.shape[:2]):
                raise RuntimeError(
                    f"--{self.task} model predicted {tuple(pred.shape)} for "
                    f"'{path}' of size {image.shape[:2]}; expected "
                    f'(1, {image.shape[0]}, {image.shape[1]})')
            pred = pred[0].cpu().numpy()
            out.append(
                pred.astype(np.int64 if self.task == 'semseg' else np.float32))
        return out

    def meta(self) -> dict:
        """This model's entry of the meta file."""
        entry = OrderedDict(
            config=osp.abspath(self.config_path) if self.config_path else None,
            checkpoint=osp.abspath(self.checkpoint))
        if self.task == 'depth':
            entry.update(encoding=DEPTH_ENCODING, depth_scale=DEPTH_SCALE)
        else:
            entry.update(
                num_classes=self.num_classes,
                classes=self.classes,
                encoding=SEMSEG_ENCODINGS[self.encoding])
            if self.palette is not None:
                entry['palette'] = self.palette
        return dict(entry)


# -- the output root ---------------------------------------------------------
def make_meta(src_folder: str, labellers: Dict[str, DenseLabeller],
              rgb_mode: str) -> dict:
    """The meta file of a pseudo-labelled root."""
    meta = dict(
        generator=GENERATOR,
        source=osp.abspath(src_folder),
        modalities=['rgb'] + [t for t in TASKS if t in labellers],
        rgb=dict(storage=rgb_mode))
    for task in TASKS:
        if task in labellers:
            meta[task] = labellers[task].meta()
    return meta


def check_meta(old: dict, new: dict, out_root: str) -> None:
    """Refuse to add to a root holding another dataset.

    Raises:
        ValueError: Other generator, modalities, class count, class names
            or encodings. Other models or source only warn: files already
            written are kept, new ones come from the new models.
    """
    where = osp.join(out_root, META_FILE)
    if old.get('generator') != GENERATOR:
        raise ValueError(f"'{where}' was not written by {GENERATOR}")
    if old.get('modalities') != new['modalities']:
        raise ValueError(
            f"'{out_root}' holds modalities {old.get('modalities')}, this run "
            f"writes {new['modalities']}; use another output root")
    if 'semseg' in new:
        was, now = old['semseg'], new['semseg']
        if was.get('num_classes') != now['num_classes']:
            raise ValueError(
                f"class count mismatch: '{out_root}' holds semseg labels of "
                f"{was.get('num_classes')} classes (model "
                f"'{was.get('checkpoint')}'), the --semseg model has "
                f"{now['num_classes']}; use another output root")
        if was.get('classes') != now['classes']:
            raise ValueError(
                f"'{out_root}' holds semseg classes {was.get('classes')}, the "
                f"--semseg model's are {now['classes']}; use another output "
                'root')
    for task in TASKS:
        if task in new and old[task].get('encoding') != new[task]['encoding']:
            raise ValueError(
                f"'{out_root}' stores {task} as {old[task].get('encoding')!r}"
                f", this run as {new[task]['encoding']!r}")
    changed = [
        f'{task}.{key}' for task in TASKS if task in new
        for key in ('config', 'checkpoint')
        if old[task].get(key) != new[task][key]
    ]
    if old.get('source') != new['source']:
        changed.append('source')
    if changed:
        print_log(
            f"{out_root}: {', '.join(changed)} differ from the run that "
            f'started this root ({where}); files already written are kept',
            logger='current',
            level=logging.WARNING)


def prepare_out_root(out_root: str, meta: dict) -> None:
    """Check ``out_root`` against ``meta`` and write the meta file.

    A root without the meta file must be empty or absent (every rank may
    call this: the entries are listed before the meta file is looked for,
    and the meta file is written before any label, so a concurrent rank's
    files never look like another dataset).

    Raises:
        ValueError: A non-empty root without the meta file, or a meta file
            of another dataset (:func:`check_meta`).
    """
    entries = sorted(os.listdir(out_root)) if osp.isdir(out_root) else []
    path = osp.join(out_root, META_FILE)
    if osp.isfile(path):
        with open(path) as f:
            check_meta(json.load(f), meta, out_root)
        return
    if entries:
        raise ValueError(
            f"'{out_root}' is not empty ({', '.join(entries[:5])}"
            f"{', ...' if len(entries) > 5 else ''}) and holds no {META_FILE}"
            ': it is not a pseudo-labelled root; use an empty or new folder')
    os.makedirs(out_root, exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(meta, f, indent=2)
    os.replace(tmp, path)


# -- the run -----------------------------------------------------------------
class _Pending(NamedTuple):
    item: SourceImage
    image: np.ndarray
    paths: Dict[str, str]
    todo: Tuple[str, ...]  # label modalities to write
    write_rgb: bool


def report_path(out_root: str, rank: int, world_size: int) -> str:
    """File listing the images a process could not read."""
    suffix = '' if world_size == 1 else f'.rank{rank}-of-{world_size}'
    return osp.join(out_root, f'unreadable_images{suffix}.txt')


def pseudo_label_folder(src_folder: str,
                        out_root: str,
                        labellers: Dict[str, DenseLabeller],
                        batch_size: int = 8,
                        rank: int = 0,
                        world_size: int = 1,
                        rgb_mode: str = 'copy',
                        progress: bool = True) -> dict:
    """Pseudo-label this process's share of ``src_folder`` into
    ``out_root`` (see the module docstring).

    Images are batched by size (mmseg's preprocessors stack same-size
    images); at most ``4 * batch_size`` decoded images wait for a batch.

    Args:
        src_folder (str): ``SRC/<class>/<file>`` images.
        out_root (str): Output root.
        labellers (dict): ``'semseg'`` and / or ``'depth'`` ->
            :class:`DenseLabeller`.
        batch_size (int): Images per model call. Defaults to 8.
        rank (int): This process's index. Defaults to 0.
        world_size (int): Number of processes. Defaults to 1.
        rgb_mode (str): ``'copy'`` or ``'symlink'`` the rgb files.
        progress (bool): Show a progress bar (stderr).

    Returns:
        dict: ``images`` (this rank's), ``labelled`` (some file written),
        ``skipped`` (all files valid already), ``unreadable`` (list of
        ``(path, reason)``), ``clipped_depth`` (images with depth clipped
        to the encoding's range), ``seconds`` and ``cpu_seconds`` (of this
        process, all threads), ``report`` (the file listing unreadable
        images, or None).
    """
    unknown = sorted(set(labellers) - set(TASKS))
    if unknown or not labellers:
        raise ValueError(f'labellers must be a non-empty subset of {TASKS}, '
                         f'got {sorted(labellers)}')
    if rgb_mode not in ('copy', 'symlink'):
        raise ValueError(f"rgb_mode must be 'copy' or 'symlink', got "
                         f'{rgb_mode!r}')
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    if osp.abspath(out_root).startswith(osp.abspath(src_folder) + os.sep):
        raise ValueError(f"output root '{out_root}' is inside the source "
                         f"folder '{src_folder}'")
    items = list_source_images(src_folder)
    prepare_out_root(out_root, make_meta(src_folder, labellers, rgb_mode))
    mine = shard(items, rank, world_size)
    tasks = [t for t in TASKS if t in labellers]
    stats = dict(
        images=len(mine),
        labelled=0,
        skipped=0,
        unreadable=[],
        clipped_depth=0)
    bar = ProgressBar(len(mine), file=sys.stderr) if progress and mine \
        else None
    start, cpu_start = time.perf_counter(), time.process_time()
    buckets: Dict[Tuple[int, int], List[_Pending]] = OrderedDict()

    def done(count: int = 1) -> None:
        if bar is not None:
            for _ in range(count):
                bar.update()

    def flush(size: Tuple[int, int]) -> None:
        entries = buckets.pop(size)
        for task in tasks:
            todo = [p for p in entries if task in p.todo]
            for i in range(0, len(todo), batch_size):
                chunk = todo[i:i + batch_size]
                preds = labellers[task].predict([p.image for p in chunk],
                                                [p.item.path for p in chunk])
                for entry, pred in zip(chunk, preds):
                    _write_label(task, pred, entry, labellers[task], stats)
        for entry in entries:  # rgb last: a sample is complete once it has it
            if entry.write_rgb:
                write_rgb(entry.item.path, entry.paths['rgb'], entry.image,
                          rgb_mode)
        stats['labelled'] += len(entries)
        done(len(entries))

    for item in mine:
        paths = output_paths(out_root, item, tasks)
        try:
            with Image.open(item.path) as img:
                size = img.size
        except READ_ERRORS as err:
            stats['unreadable'].append((item.path, _reason(err)))
            done()
            continue
        todo = tuple(
            t for t in tasks if not is_valid_output(
                paths[t], size, _FILE_MODES[labellers[t].encoding]))
        rgb_todo = not is_valid_output(paths['rgb'], size)
        if not todo and not rgb_todo:
            stats['skipped'] += 1
            done()
            continue
        try:
            image = read_rgb(item.path)
        except READ_ERRORS as err:
            stats['unreadable'].append((item.path, _reason(err)))
            done()
            continue
        shape = image.shape[:2]
        buckets.setdefault(shape, []).append(
            _Pending(item, image, paths, todo, rgb_todo))
        if len(buckets[shape]) >= batch_size:
            flush(shape)
        elif sum(map(len, buckets.values())) >= 4 * batch_size:
            flush(max(buckets, key=lambda s: len(buckets[s])))
    for shape in list(buckets):
        flush(shape)
    if bar is not None:
        bar.file.write('\n')
    stats['seconds'] = time.perf_counter() - start
    stats['cpu_seconds'] = time.process_time() - cpu_start
    report = report_path(out_root, rank, world_size)
    if stats['unreadable']:
        with open(report, 'w') as f:
            f.writelines(f'{path}\t{reason}\n'
                         for path, reason in stats['unreadable'])
    elif osp.isfile(report):
        os.remove(report)  # from an earlier run; every image read this time
    stats['report'] = report if stats['unreadable'] else None
    return stats


def _reason(err: Exception) -> str:
    return f'{type(err).__name__}: {err}'.replace('\n', ' ')


def _write_label(task: str, pred: np.ndarray, entry: _Pending,
                 labeller: DenseLabeller, stats: dict) -> None:
    path = entry.paths[task]
    if task == 'depth':
        try:
            code, clipped = encode_depth_png(pred)
        except ValueError as err:
            raise ValueError(f"depth of '{entry.item.path}': {err}") from err
        stats['clipped_depth'] += bool(clipped)
        _save_atomic(Image.fromarray(code), path)
    else:
        _save_atomic(
            encode_semseg(pred, labeller.encoding, labeller.palette), path)
