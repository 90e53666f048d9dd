# Copyright (c) mmmultimae contributors. All rights reserved.
"""Dense transfer datasets stored as ``root/<split>/<modality>/<stem>.png``.

The layout, written by ``tools/dataset_converters/nyuv2.py`` and
``tools/dataset_converters/hypersim.py``::

    root/meta.json                        dataset, units, classes, counts
    root/<split>/rgb/<stem>.png           8-bit RGB
    root/<split>/depth/<stem>.png         uint16, millimetres (v / 1000 = m)
    root/<split>/semseg/<stem>.png        8-bit palette PNG of NYU40 ids:
                                          1..40 classes, 0 = unlabelled
    root/<split>/mask_valid/<stem>.png    8-bit, 255 = valid depth, 0 = not

Load depth with ``depth_scale=1e-3`` (:data:`DEPTH_SCALE`) to get metres.
``reduce_zero_label=True`` turns the NYU40 ids into 40 classes ``0..39``
with ``0 -> 255`` (ignored), the official MultiMAE setting
(``seg_reduce_zero_label``) for NYUv2 and Hypersim.

Unlike the official loaders (which pair files by sorted index and crash
when the optional ``mask_valid`` folder is absent), files are paired by
stem, a missing required file is an error naming it, and optional
modalities are added to a sample only where their file exists.
"""
import json
import logging
import os
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from PIL import Image

from mmmultimae.registry import DATASETS

# yapf: disable
#: The NYU40 classes (Gupta et al., CVPR 2013), ids 1..40 in this order;
#: after ``reduce_zero_label`` id ``k`` is class ``k - 1``. Names follow
#: the ``className`` variable of ``classMapping40.mat`` (its
#: 'refridgerator' spelled correctly), which is also the order of
#: Hypersim's ``semantic_label_descs.csv``.
NYU40_CLASSES = ('wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table',
                 'door', 'window', 'bookshelf', 'picture', 'counter',
                 'blinds', 'desk', 'shelves', 'curtain', 'dresser', 'pillow',
                 'mirror', 'floor mat', 'clothes', 'ceiling', 'books',
                 'refrigerator', 'television', 'paper', 'towel',
                 'shower curtain', 'box', 'whiteboard', 'person',
                 'night stand', 'toilet', 'sink', 'lamp', 'bathtub', 'bag',
                 'otherstructure', 'otherfurniture', 'otherprop')

#: Colours of the NYU40 ids 1..40: the table of Hypersim's
#: ``code/cpp/tools/scene_annotation_tool/semantic_label_descs.csv``.
NYU40_PALETTE = ((174, 199, 232), (152, 223, 138), (31, 119, 180),
                 (255, 187, 120), (188, 189, 34), (140, 86, 75),
                 (255, 152, 150), (214, 39, 40), (197, 176, 213),
                 (148, 103, 189), (196, 156, 148), (23, 190, 207),
                 (178, 76, 76), (247, 182, 210), (66, 188, 102),
                 (219, 219, 141), (140, 57, 197), (202, 185, 52),
                 (51, 176, 203), (200, 54, 131), (92, 193, 61),
                 (78, 71, 183), (172, 114, 82), (255, 127, 14),
                 (91, 163, 138), (153, 98, 156), (140, 153, 101),
                 (158, 218, 229), (100, 125, 154), (178, 127, 135),
                 (120, 185, 128), (146, 111, 194), (44, 160, 44),
                 (112, 128, 144), (96, 207, 209), (227, 119, 194),
                 (213, 92, 176), (94, 106, 211), (82, 84, 163),
                 (100, 85, 144))
# yapf: enable

#: ``metainfo`` of NYUv2-40 and Hypersim (classes after reduce_zero_label).
NYU40_METAINFO = dict(classes=NYU40_CLASSES, palette=NYU40_PALETTE)

#: Modalities of the layout; ``mask_valid`` is optional.
SEG_LAYOUT_MODALITIES = ('rgb', 'depth', 'semseg', 'mask_valid')
#: Metres per depth PNG unit (depth is stored in millimetres).
DEPTH_SCALE = 1e-3
#: Largest storable depth in metres; deeper pixels are clipped + invalid.
MAX_DEPTH_M = 65535 * DEPTH_SCALE
#: Bumped when the files written by the converters change meaning.
LAYOUT_VERSION = 1


def encode_depth_mm(
        depth_m: np.ndarray,
        valid: Optional[np.ndarray] = None
) -> Tuple[np.ndarray, np.ndarray, int]:
    """Encode depth in metres as the layout's uint16 millimetres.

    A pixel is valid if ``valid`` says so (all pixels if None), its depth
    is finite and > 0, and it is at most :data:`MAX_DEPTH_M`. Deeper
    pixels are clipped to 65535 and marked invalid; non-finite pixels are
    stored as 0. Rounding is to the nearest millimetre (round trip error
    <= 0.5 mm).

    Args:
        depth_m (np.ndarray): Depth in metres, ``(H, W)``.
        valid (np.ndarray, optional): bool ``(H, W)``, pixels known to be
            valid before encoding.

    Returns:
        tuple: ``(depth_mm uint16 (H, W), valid bool (H, W), num_clipped)``
        where ``num_clipped`` counts the finite pixels beyond the range.

    Raises:
        ValueError: For a non-2-D array, a shape mismatch or negative
            depth.
    """
    depth = np.asarray(depth_m, dtype=np.float64)
    if depth.ndim != 2:
        raise ValueError(f'depth must be (H, W), got shape {depth.shape}')
    finite = np.isfinite(depth)
    if (depth[finite] < 0).any():
        raise ValueError(f'depth has {int((depth[finite] < 0).sum())} '
                         'negative pixels (min '
                         f'{float(depth[finite].min()):.4g} m)')
    if valid is None:
        valid = np.ones(depth.shape, dtype=bool)
    elif valid.shape != depth.shape:
        raise ValueError(f'valid mask shape {valid.shape} != depth shape '
                         f'{depth.shape}')
    depth_mm = np.where(finite, np.rint(depth / DEPTH_SCALE), 0.0)
    clipped = depth_mm > 65535
    valid = valid & finite & (depth_mm > 0) & ~clipped
    return (np.minimum(depth_mm,
                       65535).astype(np.uint16), valid, int(clipped.sum()))


def _palette_bytes() -> List[int]:
    palette = [0, 0, 0]
    for colour in NYU40_PALETTE:
        palette.extend(colour)
    return palette + [0] * (768 - len(palette))


def write_seg_sample(split_root: str,
                     stem: str,
                     rgb: np.ndarray,
                     depth_m: np.ndarray,
                     semseg: np.ndarray,
                     valid: Optional[np.ndarray] = None) -> Dict[str, int]:
    """Write one sample in the layout under ``split_root/<modality>/``.

    Args:
        split_root (str): ``root/<split>``.
        stem (str): File stem.
        rgb (np.ndarray): uint8 ``(H, W, 3)``.
        depth_m (np.ndarray): Depth in metres ``(H, W)``; see
            :func:`encode_depth_mm`.
        semseg (np.ndarray): NYU40 ids ``(H, W)`` in ``0..40``.
        valid (np.ndarray, optional): bool ``(H, W)`` valid-depth mask
            before encoding; the written ``mask_valid`` also excludes
            non-finite, zero and clipped depth.

    Returns:
        dict: ``num_clipped`` (depth beyond 65.535 m) and ``num_invalid``
        (pixels written as invalid in ``mask_valid``).
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'{stem}: rgb must be uint8 (H, W, 3), got '
                         f'{rgb.dtype} {rgb.shape}')
    shape = rgb.shape[:2]
    semseg = np.asarray(semseg)
    for name, array in (('depth', np.asarray(depth_m)), ('semseg', semseg)):
        if array.shape != shape:
            raise ValueError(f'{stem}: {name} shape {array.shape} != rgb '
                             f'shape {shape}')
    if semseg.size and (semseg.min() < 0 or semseg.max() > 40):
        raise ValueError(f'{stem}: semseg ids must be in 0..40, got '
                         f'{int(semseg.min())}..{int(semseg.max())}')
    try:
        depth_mm, valid, num_clipped = encode_depth_mm(depth_m, valid)
    except ValueError as err:
        raise ValueError(f'{stem}: {err}') from err
    files = {
        'rgb': Image.fromarray(rgb),
        'depth': Image.fromarray(depth_mm),
        'mask_valid': Image.fromarray(valid.astype(np.uint8) * 255),
    }
    # putpalette turns the 'L' image into 'P', keeping the ids as indices
    label = Image.fromarray(semseg.astype(np.uint8))
    label.putpalette(_palette_bytes())
    files['semseg'] = label
    for modality, img in files.items():
        folder = osp.join(split_root, modality)
        os.makedirs(folder, exist_ok=True)
        img.save(osp.join(folder, stem + '.png'))
    return dict(
        num_clipped=num_clipped, num_invalid=int(valid.size - valid.sum()))


def write_layout_meta(root: str, dataset: str, splits: Mapping[str, dict],
                      sources: Mapping[str, str], converter: str,
                      notes: Mapping[str, str]) -> dict:
    """Write ``root/meta.json`` describing a converted dataset.

    Schema (all keys always present)::

        dataset            str, e.g. 'nyuv2'
        layout             '<split>/<modality>/<stem>.png'
        layout_version     int (LAYOUT_VERSION)
        converter          str, the tool that wrote it
        modalities         {modality: encoding description}
        depth_unit         'mm'
        depth_scale        0.001 (metres per PNG unit)
        max_depth_m        65.535
        semseg             {'ids': 'NYU40 1..40', 'unlabelled': 0,
                            'reduce_zero_label': True}
        classes            [40 names], palette [[r, g, b] x 40]
        splits             {split: {'count', 'num_clipped_pixels',
                                    'num_invalid_pixels', ...}}
        sources            {name: path} of the input files
        notes              {topic: text} (choices made by the converter)

    Args:
        root (str): Output root.
        dataset (str): Dataset name.
        splits (Mapping): Per split statistics (must hold ``count``).
        sources (Mapping): Input files.
        converter (str): Tool name.
        notes (Mapping): Conversion choices.

    Returns:
        dict: The written meta.
    """
    meta = dict(
        dataset=dataset,
        layout='<split>/<modality>/<stem>.png',
        layout_version=LAYOUT_VERSION,
        converter=converter,
        modalities=dict(
            rgb='8-bit RGB PNG',
            depth='uint16 PNG, millimetres (value * 0.001 = metres), '
            '0 where unknown',
            semseg='8-bit palette PNG, NYU40 ids 1..40, 0 = unlabelled',
            mask_valid='8-bit PNG, 255 = valid depth, 0 = invalid'),
        depth_unit='mm',
        depth_scale=DEPTH_SCALE,
        max_depth_m=MAX_DEPTH_M,
        semseg=dict(ids='NYU40 1..40', unlabelled=0, reduce_zero_label=True),
        classes=list(NYU40_CLASSES),
        palette=[list(c) for c in NYU40_PALETTE],
        splits={
            k: dict(v)
            for k, v in splits.items()
        },
        sources=dict(sources),
        notes=dict(notes))
    os.makedirs(root, exist_ok=True)
    with open(osp.join(root, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=2)
    return meta


def _index_folder(folder: str, extensions: Sequence[str]) -> Dict[str, str]:
    """Map stem -> path for the files of one modality folder."""
    exts = tuple(e.lower() for e in extensions)
    index: Dict[str, str] = {}
    for name in sorted(os.listdir(folder)):
        stem, ext = osp.splitext(name)
        path = osp.join(folder, name)
        if ext.lower() not in exts or not osp.isfile(path):
            continue
        if stem in index:
            raise ValueError(f"ambiguous files for one sample: "
                             f"'{index[stem]}' and '{path}'")
        index[stem] = path
    return index


@DATASETS.register_module()
class MultiModalSegDataset(BaseDataset):
    """Aligned modalities stored as ``root/<split>/<modality>/<stem>.png``.

    Samples are the stems of the first modality (sorted); every other
    required modality must hold a file with the same stem (else an error
    naming the missing file and folder). Optional modalities are added to
    a sample only where their file exists (their folder may be absent).
    Files of other modalities without a counterpart in the first are
    reported with a warning naming them.

    Each entry of the data list is ``dict(img_path={modality: path},
    img_id=stem, sample_idx=i)``. Load it with
    :class:`~mmmultimae.datasets.transforms.LoadMultiModalImages`
    (``depth_scale=1e-3`` for this layout).

    Args:
        data_root (str): Dataset root (holding the split folders).
        split (str, optional): Split folder, e.g. ``'train'``; the same as
            ``data_prefix=dict(img_path=split)``. Give one of the two.
        modalities (Sequence[str]): Required modalities; the first defines
            the samples. Defaults to ``('rgb', 'depth', 'semseg')``.
        optional_modalities (Sequence[str]): Modalities included only when
            the sample has a file, e.g. ``('mask_valid',)``.
        extensions (dict, optional): Accepted extensions per modality
            (default ``('.png',)``).
        data_prefix (dict, optional): mmengine data prefix; ``img_path``
            is the folder (relative to ``data_root``) holding the modality
            folders.
        metainfo (dict, optional): Meta information (classes, palette).
        pipeline (Sequence): Transforms.
        indices (int | Sequence[int], optional): mmengine subset.
        test_mode (bool): mmengine test mode.
        lazy_init (bool): mmengine lazy init.
        serialize_data (bool): mmengine data-list serialisation.
        max_refetch (int): mmengine refetch limit.
    """

    def __init__(self,
                 data_root: str,
                 split: Optional[str] = None,
                 modalities: Sequence[str] = ('rgb', 'depth', 'semseg'),
                 optional_modalities: Sequence[str] = (),
                 extensions: Optional[Dict[str, Sequence[str]]] = None,
                 data_prefix: Optional[dict] = None,
                 metainfo: Optional[dict] = None,
                 pipeline: Sequence = (),
                 indices=None,
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 serialize_data: bool = True,
                 max_refetch: int = 1000) -> None:
        modalities = tuple(modalities)
        optional_modalities = tuple(optional_modalities)
        every = modalities + optional_modalities
        if not modalities or len(set(every)) != len(every):
            raise ValueError(
                'modalities must be non-empty and distinct from each other '
                f'and from optional_modalities, got {modalities} and '
                f'{optional_modalities}')
        if split is not None and data_prefix is not None:
            raise ValueError('give split or data_prefix, not both '
                             f'(split={split!r}, data_prefix={data_prefix})')
        if split is not None:
            data_prefix = dict(img_path=split)
        self.split = split
        self.modalities = modalities
        self.optional_modalities = optional_modalities
        self.extensions = {m: ('.png', ) for m in every}
        for mod, exts in (extensions or {}).items():
            if mod not in self.extensions:
                raise ValueError(f'extensions given for {mod!r}, which is '
                                 f'not one of the modalities {every}')
            self.extensions[mod] = tuple(exts)
        self.num_unpaired = 0
        super().__init__(
            data_root=data_root,
            data_prefix=data_prefix or dict(img_path=''),
            metainfo=metainfo,
            pipeline=list(pipeline),
            indices=indices,
            test_mode=test_mode,
            lazy_init=lazy_init,
            serialize_data=serialize_data,
            max_refetch=max_refetch)

    def load_data_list(self) -> List[dict]:
        """Pair the modality files by stem."""
        root = self.data_prefix['img_path']
        indexes = {}
        for mod in self.modalities + self.optional_modalities:
            folder = osp.join(root, mod)
            if not osp.isdir(folder):
                if mod in self.optional_modalities:
                    indexes[mod] = {}
                    continue
                raise FileNotFoundError(
                    f"folder of modality '{mod}' not found: '{folder}' "
                    '(expected <data_root>/<split>/<modality>/<stem>.png)')
            indexes[mod] = _index_folder(folder, self.extensions[mod])
        first = self.modalities[0]
        stems = sorted(indexes[first])
        if not stems:
            raise FileNotFoundError(
                f"no '{first}' files with extensions "
                f"{self.extensions[first]} in '{osp.join(root, first)}'")
        data_list = []
        for i, stem in enumerate(stems):
            paths = {}
            for mod in self.modalities:
                path = indexes[mod].get(stem)
                if path is None:
                    raise FileNotFoundError(
                        f"'{indexes[first][stem]}' has no '{mod}' "
                        f"counterpart: no file '{stem}' with extension "
                        f"{self.extensions[mod]} in "
                        f"'{osp.join(root, mod)}'")
                paths[mod] = path
            for mod in self.optional_modalities:
                if stem in indexes[mod]:
                    paths[mod] = indexes[mod][stem]
            data_list.append(dict(img_path=paths, img_id=stem, sample_idx=i))
        self.num_unpaired = 0
        known = set(stems)
        for mod in self.modalities[1:] + self.optional_modalities:
            extra = sorted(set(indexes[mod]) - known)
            if extra:
                self.num_unpaired += len(extra)
                shown = ', '.join(indexes[mod][s] for s in extra[:5])
                print_log(
                    f'{type(self).__name__}: {len(extra)} {mod} file(s) '
                    f"have no '{first}' counterpart and are not used: "
                    f"{shown}{' ...' if len(extra) > 5 else ''}",
                    logger='current',
                    level=logging.WARNING)
        return data_list


@DATASETS.register_module()
class NYUv2Dataset(MultiModalSegDataset):
    """NYU Depth v2 (795 train / 654 test) in the layout written by
    ``tools/dataset_converters/nyuv2.py``; 40 NYU40 classes."""

    METAINFO = NYU40_METAINFO


@DATASETS.register_module()
class HypersimDataset(MultiModalSegDataset):
    """Hypersim (v1 scene split) in the layout written by
    ``tools/dataset_converters/hypersim.py``; 40 NYU40 classes."""

    METAINFO = NYU40_METAINFO
