# Copyright (c) mmmultimae contributors. All rights reserved.
"""Writing synthetic scenes in the pseudo-labelled ImageNet layout."""
import json
import multiprocessing
import os
import os.path as osp
from typing import Dict, Sequence, Tuple, Union

from mmengine.utils import ProgressBar
from PIL import Image

from .codecs import encode_depth, encode_normals, palette_image
from .metainfo import CLASSES, MODALITIES, PALETTE, SCENE_TYPES
from .raycaster import render_scene, to_image_size
from .scene_sampler import scene_type_of

_META_FILE = 'synthetic_scenes.json'


def scene_stem(index: int) -> str:
    """File stem of scene ``index`` (shared by every modality)."""
    return f'scene_{index:07d}'


def scene_paths(out_dir: str,
                index: int,
                seed: int = 0,
                rgb_format: str = 'jpg') -> Dict[str, str]:
    """Paths of the files of scene ``index`` in a written dataset."""
    folder = SCENE_TYPES[scene_type_of(index, seed)]
    stem = scene_stem(index)
    exts = dict(rgb=rgb_format, depth='png', semseg='png', normal='png')
    return {
        mod: osp.join(out_dir, mod, folder, f'{stem}.{exts[mod]}')
        for mod in MODALITIES
    }


def _save_atomic(img: Image.Image, path: str, **kwargs) -> None:
    """Save through a temporary file so a file that exists is complete."""
    tmp = f'{path}.tmp{os.getpid()}'
    fmt = 'JPEG' if path.endswith('.jpg') else 'PNG'
    img.save(tmp, format=fmt, **kwargs)
    os.replace(tmp, path)


def _write_scene(
        task: Tuple[str, int, int, Tuple[int, int], str, int]) -> bool:
    """Render and write one scene; False if it was already complete."""
    out_dir, index, seed, image_size, rgb_format, quality = task
    paths = scene_paths(out_dir, index, seed, rgb_format)
    if all(osp.isfile(p) for p in paths.values()):
        return False
    scene = render_scene(index, seed, image_size)
    for path in paths.values():
        os.makedirs(osp.dirname(path), exist_ok=True)
    rgb_kwargs = dict(quality=quality) if rgb_format == 'jpg' else {}
    _save_atomic(Image.fromarray(scene['rgb']), paths['rgb'], **rgb_kwargs)
    _save_atomic(Image.fromarray(encode_depth(scene['depth'])), paths['depth'])
    _save_atomic(palette_image(scene['semseg']), paths['semseg'])
    _save_atomic(
        Image.fromarray(encode_normals(scene['normal'])), paths['normal'])
    return True


def write_synthetic_dataset(out_dir: str,
                            num_scenes: int,
                            image_size: Union[int, Sequence[int]] = (224, 224),
                            seed: int = 0,
                            workers: int = 1,
                            rgb_format: str = 'jpg',
                            jpeg_quality: int = 95,
                            progress: bool = True) -> Dict[str, int]:
    """Write scenes ``0 .. num_scenes - 1`` in the folder layout.

    The layout is ``out_dir/<modality>/<scene type>/scene_<index>.<ext>``
    (encodings in the module docstring), plus ``synthetic_scenes.json``
    recording the settings. Idempotent: complete scenes are skipped (files
    are written atomically), so an interrupted run can be resumed and a
    larger ``num_scenes`` extends a dataset. Writing into a folder made
    with another seed, image size or rgb format is an error.

    Args:
        out_dir (str): Dataset root.
        num_scenes (int): Number of scenes.
        image_size (int | tuple[int, int]): ``(H, W)`` of the images.
        seed (int): Seed of the scene set.
        workers (int): Worker processes (1 = in this process).
        rgb_format (str): ``'jpg'`` or ``'png'``.
        jpeg_quality (int): JPEG quality of the rgb files.
        progress (bool): Show a progress bar.

    Returns:
        dict[str, int]: ``written`` and ``skipped`` scene counts.
    """
    size = to_image_size(image_size)
    if num_scenes < 1:
        raise ValueError(f'num_scenes must be >= 1, got {num_scenes}')
    if rgb_format not in ('jpg', 'png'):
        raise ValueError(f"rgb_format must be 'jpg' or 'png', got "
                         f'{rgb_format!r}')
    if workers < 1:
        raise ValueError(f'workers must be >= 1, got {workers}')
    meta = dict(
        generator='mmmultimae.datasets.synthetic_scenes',
        seed=seed,
        image_size=list(size),
        rgb_format=rgb_format,
        modalities=list(MODALITIES),
        classes=list(SCENE_TYPES),
        semseg_classes=list(CLASSES),
        semseg_palette=[list(c) for c in PALETTE],
        depth_encoding='uint16 PNG, value = round(depth_m / 128 * 2**16), '
        'depth_m = value / 2**16 * 128 (Omnidata)',
        normal_encoding='uint8 RGB PNG, value = round((n + 1) / 2 * 255), '
        'camera frame x right, y down, z forward',
        num_scenes=num_scenes)
    meta_path = osp.join(out_dir, _META_FILE)
    if osp.isfile(meta_path):
        with open(meta_path) as f:
            old = json.load(f)
        for key in ('seed', 'image_size', 'rgb_format'):
            if old.get(key) != meta[key]:
                raise ValueError(
                    f'{out_dir} holds scenes written with {key}='
                    f'{old.get(key)!r}, not {meta[key]!r}; use another '
                    'output folder')
        meta['num_scenes'] = max(num_scenes, int(old['num_scenes']))
    os.makedirs(out_dir, exist_ok=True)
    tasks = [(out_dir, i, seed, size, rgb_format, jpeg_quality)
             for i in range(num_scenes)]
    bar = ProgressBar(num_scenes) if progress else None
    written = 0
    if workers == 1:
        results = map(_write_scene, tasks)
        for done in results:
            written += done
            if bar is not None:
                bar.update()
    else:
        with multiprocessing.get_context().Pool(workers) as pool:
            for done in pool.imap_unordered(_write_scene, tasks, chunksize=4):
                written += done
                if bar is not None:
                    bar.update()
    if bar is not None:
        bar.file.write('\n')
    tmp = f'{meta_path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(meta, f, indent=2)
    os.replace(tmp, meta_path)
    return dict(written=written, skipped=num_scenes - written)
