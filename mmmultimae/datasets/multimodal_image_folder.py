# Copyright (c) mmmultimae contributors. All rights reserved.
"""Multi-modal image folders: ``root/<modality>/<class>/<file>``.

This is the layout of the official pseudo-labelled ImageNet (rgb JPEGs,
Omnidata depth as 16-bit PNG or JPEG 2000, COCO-panoptic semseg as palette
PNG) and of the written synthetic scenes. Unlike the official loader,
which sorts each modality's files and pairs them by index (so one missing
or extra file silently shifts every later pair), files are paired by
relative folder and file stem, after removing a per-modality prefix.
"""
import logging
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from mmmultimae.registry import DATASETS

#: Extensions (lower case) accepted per modality unless configured.
DEFAULT_EXTENSIONS = dict(
    rgb=('.jpg', '.jpeg', '.png'),
    depth=('.png', '.jp2', '.jpx'),
    semseg=('.png', ),
    normal=('.png', ))
#: Extensions accepted for modalities without an entry above.
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                    '.tiff', '.webp', '.jp2', '.jpx')

# (folder relative to the modality root, stem without prefix)
_Key = Tuple[str, str]


def scan_modality(folder: str, prefix: str,
                  extensions: Sequence[str]) -> Dict[_Key, str]:
    """Index the files of one modality by (relative folder, stem).

    Only files inside class folders (sub-folders of ``folder``, searched
    recursively) whose name starts with ``prefix`` and ends with one of
    ``extensions`` (case-insensitive) count.

    Args:
        folder (str): The modality root ``root/<modality>``.
        prefix (str): Filename prefix removed from the stem.
        extensions (Sequence[str]): Accepted extensions, with the dot.

    Returns:
        dict[tuple[str, str], str]: ``(relative folder, stem) -> path``.

    Raises:
        ValueError: If two files map to the same key (e.g. ``a.png`` and
            ``a.jp2``).
    """
    exts = tuple(e.lower() for e in extensions)
    index: Dict[_Key, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames.sort()
        rel = osp.relpath(dirpath, folder)
        if rel == '.':
            continue
        for name in sorted(filenames):
            stem, ext = osp.splitext(name)
            if ext.lower() not in exts or not stem.startswith(prefix):
                continue
            key = (rel, stem[len(prefix):])
            path = osp.join(dirpath, name)
            if key in index:
                raise ValueError(f"ambiguous files for one sample: "
                                 f"'{index[key]}' and '{path}'")
            index[key] = path
    return index


@DATASETS.register_module()
class MultiModalImageFolder(BaseDataset):
    """Aligned modalities stored as ``root/<modality>/<class>/<file>``.

    Samples are the files of the first modality; classes are the sorted
    folders of ``root/<first modality>``. The counterpart of
    ``<modality>/<class>/<sub>/<prefix1><stem>.<ext1>`` in another modality
    is ``<modality2>/<class>/<sub>/<prefix2><stem>.<ext2>``, where the
    prefixes are ``prefixes[modality]`` (default ``''``) and the extensions
    ``extensions[modality]`` (default :data:`DEFAULT_EXTENSIONS`). Extra
    files of the other modalities are ignored.

    Each entry of the data list is ``dict(img_path={mod: path},
    gt_label=class_idx, sample_idx=i)``; ``metainfo['classes']`` holds the
    class folder names. Load the images with
    :class:`~mmmultimae.datasets.transforms.LoadMultiModalImages`.

    Args:
        data_root (str): Dataset root (holding the modality folders).
        modalities (Sequence[str]): Modalities; the first defines samples
            and classes. Defaults to ``('rgb', 'depth', 'semseg')``.
        prefixes (dict, optional): Filename prefix per modality, e.g.
            ``dict(depth='pseudo_')``.
        extensions (dict, optional): Accepted extensions per modality,
            updating :data:`DEFAULT_EXTENSIONS`.
        max_images (int, optional): Keep a random subset of this many
            samples (drawn with ``max_images_seed``, kept in order).
        max_images_seed (int): Seed of the subset. Defaults to 0.
        on_missing (str): What to do with a sample whose counterpart is
            missing in another modality: ``'raise'`` (default, an error
            naming the file) or ``'skip'`` (dropped; the count is logged
            once).
        data_prefix (dict): mmengine data prefix; ``img_path`` is a
            sub-folder of ``data_root`` holding the modality folders
            (e.g. ``'train'``). Defaults to ``dict(img_path='')``.
        pipeline (Sequence): Transforms.
        test_mode (bool): mmengine test mode.
        lazy_init (bool): mmengine lazy init.
        serialize_data (bool): mmengine data-list serialisation.
        max_refetch (int): mmengine refetch limit.
        metainfo (dict, optional): Extra meta information (e.g. the semseg
            class names); ``classes`` is always set from the folders.
    """

    def __init__(self,
                 data_root: str,
                 modalities: Sequence[str] = ('rgb', 'depth', 'semseg'),
                 prefixes: Optional[Dict[str, str]] = None,
                 extensions: Optional[Dict[str, Sequence[str]]] = None,
                 max_images: Optional[int] = None,
                 max_images_seed: int = 0,
                 on_missing: str = 'raise',
                 data_prefix: Optional[dict] = None,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 serialize_data: bool = True,
                 max_refetch: int = 1000,
                 metainfo: Optional[dict] = None) -> None:
        if not modalities or len(set(modalities)) != len(modalities):
            raise ValueError('modalities must be a non-empty sequence of '
                             f'distinct names, got {tuple(modalities)}')
        if on_missing not in ('raise', 'skip'):
            raise ValueError(
                f"on_missing must be 'raise' or 'skip', got {on_missing!r}")
        if max_images is not None and max_images < 1:
            raise ValueError(f'max_images must be >= 1, got {max_images}')
        self.modalities = tuple(modalities)
        self.prefixes = {m: '' for m in self.modalities}
        self.prefixes.update(prefixes or {})
        self.extensions = {
            m: tuple(DEFAULT_EXTENSIONS.get(m, IMAGE_EXTENSIONS))
            for m in self.modalities
        }
        self.extensions.update({
            m: tuple(e)
            for m, e in (extensions or {}).items()
        })
        for opt, values in (('prefixes', self.prefixes), ('extensions',
                                                          self.extensions)):
            unknown = sorted(set(values) - set(self.modalities))
            if unknown:
                raise ValueError(f'{opt} given for modalities {unknown} that '
                                 f'are not in modalities {self.modalities}')
        self.max_images = max_images
        self.max_images_seed = max_images_seed
        self.on_missing = on_missing
        self.num_skipped = 0
        super().__init__(
            data_root=data_root,
            data_prefix=data_prefix or dict(img_path=''),
            metainfo=metainfo,
            pipeline=list(pipeline),
            test_mode=test_mode,
            lazy_init=lazy_init,
            serialize_data=serialize_data,
            max_refetch=max_refetch)

    def load_data_list(self) -> List[dict]:
        """Scan the modality folders and pair files by folder and stem."""
        root = self.data_prefix['img_path']
        folders = {m: osp.join(root, m) for m in self.modalities}
        for mod, folder in folders.items():
            if not osp.isdir(folder):
                raise FileNotFoundError(
                    f"folder of modality '{mod}' not found: '{folder}' "
                    '(expected root/<modality>/<class>/<file>)')
        first = self.modalities[0]
        classes = sorted(
            e.name for e in os.scandir(folders[first]) if e.is_dir())
        class_idx = {c: i for i, c in enumerate(classes)}
        indexes = {
            m: scan_modality(folders[m], self.prefixes[m], self.extensions[m])
            for m in self.modalities
        }
        keys = sorted(indexes[first])
        if not keys:
            raise FileNotFoundError(
                f"no '{first}' images with extensions {self.extensions[first]}"
                f" and prefix {self.prefixes[first]!r} in class folders of "
                f"'{folders[first]}'")
        data_list = []
        first_missing = None
        for key in keys:
            paths = {}
            for mod in self.modalities:
                path = indexes[mod].get(key)
                if path is None:
                    expected = osp.join(folders[mod], key[0],
                                        self.prefixes[mod] + key[1])
                    message = (
                        f"'{indexes[first][key]}' has no '{mod}' counterpart"
                        f" (expected '{expected}' with an extension in "
                        f'{self.extensions[mod]})')
                    if self.on_missing == 'raise':
                        raise FileNotFoundError(message)
                    first_missing = first_missing or message
                    break
                paths[mod] = path
            else:
                label = class_idx[key[0].split(os.sep)[0]]
                data_list.append(dict(img_path=paths, gt_label=label))
        self.num_skipped = len(keys) - len(data_list)
        if self.num_skipped:
            print_log(
                f'MultiModalImageFolder: skipped {self.num_skipped} of '
                f'{len(keys)} samples with a missing modality file under '
                f"'{root}' (first: {first_missing})",
                logger='current',
                level=logging.WARNING)
        if not data_list:
            raise FileNotFoundError(
                f"no sample of '{root}' has all modalities {self.modalities}")
        if self.max_images is not None and self.max_images < len(data_list):
            rng = np.random.default_rng(self.max_images_seed)
            keep = np.sort(rng.permutation(len(data_list))[:self.max_images])
            data_list = [data_list[i] for i in keep]
        for i, info in enumerate(data_list):
            info['sample_idx'] = i
        self._metainfo['classes'] = tuple(classes)
        return data_list
