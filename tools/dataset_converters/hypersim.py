# Copyright (c) mmmultimae contributors. All rights reserved.
"""Convert Hypersim into the dense transfer layout (rgb, depth, semseg).

Example::

    python tools/dataset_converters/hypersim.py /data/hypersim \
        metadata_images_split_scene_v1.csv data/hypersim \
        --camera-params metadata_camera_parameters.csv

Output (read by ``HypersimDataset``, see
``mmmultimae/datasets/multimodal_seg_dataset.py``)::

    OUT/{train,val,test}/rgb/<stem>.png          tone-mapped 8-bit RGB
    OUT/{train,val,test}/depth/<stem>.png        uint16 mm, planar depth
    OUT/{train,val,test}/semseg/<stem>.png       NYU40 ids, 0 = unlabelled
    OUT/{train,val,test}/mask_valid/<stem>.png   255 = valid depth
    OUT/meta.json
    OUT/missing_files.txt                        only if files were missing

``<stem>`` is ``<scene>_<camera>_<frame, 4 digits>``, e.g.
``ai_001_001_cam_00_0007``.

Input formats (from the Hypersim README and toolkit of apple/ml-hypersim;
the facts this tool relies on):

* Per scene ``HYPERSIM_ROOT/<scene>/images/``:
  ``scene_<cam>_final_hdf5/frame.IIII.color.hdf5`` (linear HDR colour,
  no tone mapping, ``(H, W, 3)``) and ``scene_<cam>_geometry_hdf5/``
  ``frame.IIII.depth_meters.hdf5`` (Euclidean distance in metres to the
  camera's optical centre, NOT planar depth; NaN where no surface),
  ``frame.IIII.semantic.hdf5`` (NYU40 ids 1..40, -1 = unlabelled, 0 never
  occurs; ml-hypersim issue #12) and ``frame.IIII.render_entity_id.hdf5``
  (-1 = no surface). Every file holds one HDF5 dataset named
  ``'dataset'``.
* ``metadata_images_split_scene_v1.csv`` (``evermotion_dataset/analysis``):
  columns ``scene_name, camera_name, frame_id, included_in_public_release,
  exclude_reason, split_partition_name``; rows not in the public release
  (74,619 of 77,400 are) have no partition and are skipped.
* Camera: pinhole, 60 degree horizontal field of view, 1024 x 768
  (``evermotion_dataset/_vray_user_params.py``), but some scenes use
  tilt-shift lens parameters. ``contrib/mikeroberts3000/``
  ``metadata_camera_parameters.csv`` gives, per scene, ``M_cam_from_uv``
  (3x3, columns ``M_cam_from_uv_00`` .. ``_22``), mapping ``[u, v, 1]``
  to a camera-space ray, with ``u`` in ``[-1, 1]`` left to right and
  ``v`` in ``[-1, 1]`` bottom to top at pixel centres; the camera looks
  along ``-z``.

Conversion:

* Planar depth = distance * ``|ray_z| / ||ray||`` for the pixel's ray
  ``M_cam_from_uv @ [u, v, 1]``; with ``--camera-params`` the scene's own
  matrix is used, else the standard one ``diag(tan 30deg,
  tan 30deg * H / W, -1)``.
* Tone mapping follows Hypersim's ``scene_generate_images_tonemap.py``
  rule, written here: brightness ``0.3 R + 0.59 G + 0.11 B`` over the
  pixels with a surface (``render_entity_id != -1``); scale so that its
  90th percentile becomes 0.8 after gamma 1/2.2 (scale 0 if that
  percentile is < 1e-4); ``rgb = max(scale * hdr, 0) ** (1 / 2.2)``,
  clipped to [0, 1]; 8-bit = ``round(255 * rgb)``. Non-finite colour
  values count as 0.
* ``mask_valid``: finite depth > 0 on a surface (``render_entity_id !=
  -1``) and <= 65.535 m (deeper depth is clipped and counted).
* ``semseg``: -1 -> 0 (unlabelled), 1..40 kept.

Frames listed in the csv whose files are missing are reported by path at
the end (and in ``missing_files.txt``); the run converts the others and
exits with status 1 unless ``--allow-missing``.
"""
import argparse
import csv
import math
import os
import os.path as osp
import sys
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

import numpy as np

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmultimae.datasets.multimodal_seg_dataset import (  # noqa: E402
    write_layout_meta, write_seg_sample)

CONVERTER = 'tools/dataset_converters/hypersim.py'
#: Partitions of the v1 split, also the output split folders.
HYPERSIM_PARTITIONS = ('train', 'val', 'test')
#: Columns of metadata_images_split_scene_v1.csv the converter reads.
SPLIT_COLUMNS = ('scene_name', 'camera_name', 'frame_id',
                 'included_in_public_release', 'split_partition_name')
#: Name of the HDF5 dataset in every Hypersim image file.
HDF5_KEY = 'dataset'
#: Standard Hypersim camera (evermotion_dataset/_vray_user_params.py).
STANDARD_FOV_X = math.pi / 3
#: Tone mapping constants of Hypersim's scene_generate_images_tonemap.py.
TONEMAP_GAMMA = 1.0 / 2.2
TONEMAP_PERCENTILE = 90
TONEMAP_TARGET = 0.8
TONEMAP_EPS = 1e-4


class HypersimFrame(NamedTuple):
    """One row of the split csv."""
    scene: str
    camera: str
    frame: int
    partition: str

    @property
    def stem(self) -> str:
        return f'{self.scene}_{self.camera}_{self.frame:04d}'


def read_split_csv(
        path: str,
        scenes: Optional[Sequence[str]] = None) -> List[HypersimFrame]:
    """Read the public-release frames of ``metadata_images_split_*.csv``.

    Args:
        path (str): The split csv.
        scenes (Sequence[str], optional): Keep only these scenes; each
            must occur in the csv.

    Returns:
        list[HypersimFrame]: In csv order.

    Raises:
        ValueError: For missing columns, a bad frame id, a public frame
            without a train/val/test partition, or an unknown scene.
    """
    frames = []
    with open(path, newline='') as f:
        reader = csv.DictReader(f, skipinitialspace=True)
        missing = [
            c for c in SPLIT_COLUMNS if c not in (reader.fieldnames or [])
        ]
        if missing:
            raise ValueError(f"'{path}' lacks columns {missing} (has "
                             f'{reader.fieldnames})')
        for line, row in enumerate(reader, start=2):
            public = row['included_in_public_release'].strip()
            if public not in ('True', 'False'):
                raise ValueError(
                    f"'{path}' line {line}: included_in_public_release "
                    f"must be True or False, got {public!r}")
            if public == 'False':
                continue
            partition = row['split_partition_name'].strip()
            if partition not in HYPERSIM_PARTITIONS:
                raise ValueError(
                    f"'{path}' line {line}: public frame with partition "
                    f'{partition!r}; expected one of {HYPERSIM_PARTITIONS}')
            try:
                frame = int(row['frame_id'])
            except ValueError:
                raise ValueError(f"'{path}' line {line}: frame_id "
                                 f"{row['frame_id']!r} is not an integer")
            frames.append(
                HypersimFrame(row['scene_name'].strip(),
                              row['camera_name'].strip(), frame, partition))
    if scenes is not None:
        known = {fr.scene for fr in frames}
        unknown = sorted(set(scenes) - known)
        if unknown:
            raise ValueError(f'scenes {unknown} have no public frame in '
                             f"'{path}'")
        keep = set(scenes)
        frames = [fr for fr in frames if fr.scene in keep]
    return frames


def read_camera_parameters(path: str) -> Dict[str, dict]:
    """Read ``metadata_camera_parameters.csv``.

    Returns:
        dict: ``scene -> dict(cam_from_uv=(3, 3) float64, height, width)``.
    """
    entries = [f'M_cam_from_uv_{r}{c}' for r in range(3) for c in range(3)]
    columns = [
        'scene_name', 'settings_output_img_height', 'settings_output_img_width'
    ] + entries
    params = {}
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"'{path}' lacks columns {missing}")
        for line, row in enumerate(reader, start=2):
            try:
                matrix = np.array([float(row[e]) for e in entries])
                height = int(float(row['settings_output_img_height']))
                width = int(float(row['settings_output_img_width']))
            except ValueError as err:
                raise ValueError(f"'{path}' line {line}: {err}") from err
            params[row['scene_name']] = dict(
                cam_from_uv=matrix.reshape(3, 3), height=height, width=width)
    return params


def standard_cam_from_uv(height: int,
                         width: int,
                         fov_x: float = STANDARD_FOV_X) -> np.ndarray:
    """``M_cam_from_uv`` of an untilted pinhole camera, ``(3, 3)``."""
    tan_x = math.tan(fov_x / 2)
    return np.diag([tan_x, tan_x * height / width, -1.0])


def planar_depth_from_distance(distance: np.ndarray,
                               cam_from_uv: np.ndarray) -> np.ndarray:
    """Convert distance to the optical centre into planar depth.

    Args:
        distance (np.ndarray): ``(H, W)`` Euclidean distance (m).
        cam_from_uv (np.ndarray): ``(3, 3)``, maps ``[u, v, 1]`` (pixel
            centres, ``u`` left to right, ``v`` bottom to top, both in
            ``[-1, 1]``) to camera-space rays.

    Returns:
        np.ndarray: float64 ``(H, W)`` depth along the optical axis.
    """
    height, width = distance.shape
    u = (np.arange(width) + 0.5) / width * 2 - 1
    v = 1 - (np.arange(height) + 0.5) / height * 2
    uu, vv = np.meshgrid(u, v)
    uv1 = np.stack([uu, vv, np.ones_like(uu)], axis=-1)
    rays = uv1 @ np.asarray(cam_from_uv, dtype=np.float64).T
    cos = np.abs(rays[..., 2]) / np.linalg.norm(rays, axis=-1)
    return distance.astype(np.float64) * cos


def tonemap(hdr: np.ndarray, surface: Optional[np.ndarray]) -> np.ndarray:
    """Tone-map linear HDR colour to 8-bit with Hypersim's rule.

    Args:
        hdr (np.ndarray): ``(H, W, 3)`` linear colour.
        surface (np.ndarray, optional): bool ``(H, W)``, the pixels whose
            brightness sets the scale (all pixels if None).

    Returns:
        np.ndarray: uint8 ``(H, W, 3)``.
    """
    rgb = np.nan_to_num(
        hdr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    brightness = rgb @ np.array([0.3, 0.59, 0.11])
    if surface is not None:
        brightness = brightness[surface]
    if brightness.size == 0:
        scale = 1.0
    else:
        current = np.percentile(brightness, TONEMAP_PERCENTILE)
        scale = 0.0 if current < TONEMAP_EPS else \
            TONEMAP_TARGET**(1 / TONEMAP_GAMMA) / current
    mapped = np.clip(np.maximum(scale * rgb, 0)**TONEMAP_GAMMA, 0, 1)
    return np.rint(mapped * 255).astype(np.uint8)


def frame_files(root: str,
                frame: HypersimFrame,
                use_render_entity_id: bool = True) -> Dict[str, str]:
    """Paths of the HDF5 files of one frame."""
    images = osp.join(root, frame.scene, 'images')
    final = osp.join(images, f'scene_{frame.camera}_final_hdf5')
    geometry = osp.join(images, f'scene_{frame.camera}_geometry_hdf5')
    name = f'frame.{frame.frame:04d}'
    files = dict(
        color=osp.join(final, f'{name}.color.hdf5'),
        depth_meters=osp.join(geometry, f'{name}.depth_meters.hdf5'),
        semantic=osp.join(geometry, f'{name}.semantic.hdf5'))
    if use_render_entity_id:
        files['render_entity_id'] = osp.join(geometry,
                                             f'{name}.render_entity_id.hdf5')
    return files


def read_hdf5_image(path: str) -> np.ndarray:
    """Read the ``'dataset'`` array of one Hypersim HDF5 file."""
    import h5py
    with h5py.File(path, 'r') as f:
        if HDF5_KEY not in f:
            raise KeyError(f"'{path}' has no dataset '{HDF5_KEY}' (has "
                           f'{sorted(f.keys())})')
        return f[HDF5_KEY][()]


def semantic_to_nyu40(semantic: np.ndarray, path: str) -> np.ndarray:
    """Hypersim semantic ids (-1, 1..40) -> layout ids (0..40)."""
    semantic = np.asarray(semantic).astype(np.int64)
    bad = (semantic < -1) | (semantic > 40)
    if bad.any():
        raise ValueError(f"'{path}' has semantic ids outside -1..40, e.g. "
                         f'{int(semantic[bad][0])}')
    return np.where(semantic < 0, 0, semantic).astype(np.uint8)


def convert_frame(files: Dict[str, str],
                  cam_from_uv: Optional[np.ndarray]) -> dict:
    """Read and convert one frame.

    Returns:
        dict: ``rgb`` uint8, ``depth`` float64 planar metres, ``semseg``
        uint8 NYU40 ids, ``valid`` bool, all ``(H, W[, 3])``.
    """
    hdr = read_hdf5_image(files['color'])
    distance = read_hdf5_image(files['depth_meters']).astype(np.float64)
    semantic = read_hdf5_image(files['semantic'])
    shape = distance.shape
    if distance.ndim != 2 or hdr.shape != shape + (3, ) or \
            semantic.shape != shape:
        raise ValueError(
            f'frame files disagree on the image shape: color {hdr.shape} '
            f"('{files['color']}'), depth_meters {distance.shape}, "
            f'semantic {semantic.shape}; expected (H, W, 3) and (H, W)')
    surface = None
    if 'render_entity_id' in files:
        entity = read_hdf5_image(files['render_entity_id'])
        if entity.shape != shape:
            raise ValueError(f"'{files['render_entity_id']}' has shape "
                             f'{entity.shape}, expected {shape}')
        surface = entity != -1
    if cam_from_uv is None:
        cam_from_uv = standard_cam_from_uv(*shape)
    depth = planar_depth_from_distance(distance, cam_from_uv)
    valid = np.isfinite(depth) & (depth > 0)
    if surface is not None:
        valid &= surface
    return dict(
        rgb=tonemap(hdr, surface),
        depth=np.where(valid, depth, np.nan),
        semseg=semantic_to_nyu40(semantic, files['semantic']),
        valid=valid)


def convert_hypersim(root: str,
                     split_csv: str,
                     out_root: str,
                     scenes: Optional[Sequence[str]] = None,
                     camera_params: Optional[str] = None,
                     use_render_entity_id: bool = True,
                     log: Callable[[str], None] = print) -> dict:
    """Convert the public frames listed in ``split_csv``.

    Args:
        root (str): Hypersim root holding the ``ai_VVV_NNN`` scene folders.
        split_csv (str): ``metadata_images_split_scene_v1.csv``.
        out_root (str): Output root.
        scenes (Sequence[str], optional): Convert only these scenes.
        camera_params (str, optional): ``metadata_camera_parameters.csv``
            for per-scene camera rays; the standard camera otherwise.
        use_render_entity_id (bool): Read ``render_entity_id`` (pixels
            without a surface are invalid and excluded from the tone
            mapping statistics). If False every pixel counts for the tone
            mapping and only the depth decides ``mask_valid``.
        log (callable): Progress messages.

    Returns:
        dict: The meta written to ``out_root/meta.json``; its
        ``missing_files`` lists the paths of frames that were skipped.
    """
    if not osp.isdir(root):
        raise FileNotFoundError(f"Hypersim root '{root}' is not a folder")
    frames = read_split_csv(split_csv, scenes)
    if not frames:
        raise ValueError(f"'{split_csv}' lists no public frame")
    cameras = read_camera_parameters(camera_params) if camera_params \
        else None
    stats = {
        p: dict(count=0, num_clipped_pixels=0, num_invalid_pixels=0)
        for p in HYPERSIM_PARTITIONS
    }
    missing: List[str] = []
    num_skipped = 0
    start = time.time()
    for n, frame in enumerate(frames):
        files = frame_files(root, frame, use_render_entity_id)
        absent = [p for p in files.values() if not osp.isfile(p)]
        if absent:
            missing.extend(absent)
            num_skipped += 1
            continue
        cam_from_uv = None
        if cameras is not None:
            if frame.scene not in cameras:
                raise KeyError(f"scene '{frame.scene}' is not in "
                               f"'{camera_params}'")
            cam_from_uv = cameras[frame.scene]['cam_from_uv']
        sample = convert_frame(files, cam_from_uv)
        if cameras is not None:
            expected = (cameras[frame.scene]['height'],
                        cameras[frame.scene]['width'])
            if sample['depth'].shape != expected:
                raise ValueError(
                    f"'{files['depth_meters']}' is "
                    f"{sample['depth'].shape}, but '{camera_params}' "
                    f'gives {expected} for {frame.scene}')
        counts = write_seg_sample(
            osp.join(out_root, frame.partition), frame.stem, sample['rgb'],
            sample['depth'], sample['semseg'], sample['valid'])
        split = stats[frame.partition]
        split['count'] += 1
        split['num_clipped_pixels'] += counts['num_clipped']
        split['num_invalid_pixels'] += counts['num_invalid']
        if (n + 1) % 500 == 0:
            log(f'{n + 1}/{len(frames)} frames ({time.time() - start:.0f} s)')
    stats = {k: v for k, v in stats.items() if v['count']}
    for split, values in stats.items():
        if values['num_clipped_pixels']:
            log(f'{split}: {values["num_clipped_pixels"]} depth pixels '
                'beyond 65.535 m were clipped and marked invalid')
    os.makedirs(out_root, exist_ok=True)
    missing_txt = osp.join(out_root, 'missing_files.txt')
    if missing:
        with open(missing_txt, 'w') as f:
            f.write('\n'.join(missing) + '\n')
        log(f'{num_skipped} of {len(frames)} frames were skipped, '
            f'{len(missing)} files are missing (all in {missing_txt}):')
        for path in missing[:20]:
            log(f'  missing: {path}')
        if len(missing) > 20:
            log(f'  ... and {len(missing) - 20} more')
    elif osp.isfile(missing_txt):
        os.remove(missing_txt)
    sources = dict(root=osp.abspath(root), split_csv=osp.abspath(split_csv))
    if camera_params:
        sources['camera_params'] = osp.abspath(camera_params)
    meta = write_layout_meta(
        out_root,
        dataset='hypersim',
        splits=stats,
        sources=sources,
        converter=CONVERTER,
        notes=dict(
            stems='<scene>_<camera>_<frame id, 4 digits>',
            rgb='Hypersim tone mapping: 90th percentile brightness -> 0.8 '
            'after gamma 1/2.2, 8-bit = round(255 * clip(rgb, 0, 1))',
            depth='planar depth from depth_meters (distance to the optical'
            ' centre), ' +
            ('per-scene M_cam_from_uv' if camera_params else
             'standard camera: 60 degree horizontal fov, square pixels') +
            ', millimetres',
            mask_valid='finite depth > 0' +
            (' on a surface (render_entity_id != -1)'
             if use_render_entity_id else '') + ', <= 65.535 m',
            semseg='-1 (unlabelled) -> 0, NYU40 ids 1..40 kept',
            scenes=', '.join(scenes) if scenes else 'all in the csv',
            num_skipped_frames=str(num_skipped)))
    meta['missing_files'] = missing
    return meta


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert Hypersim HDF5 frames into OUT/{train,val,test}'
        '/{rgb,depth,semseg,mask_valid}/<stem>.png.')
    parser.add_argument('root', help='Hypersim root (ai_VVV_NNN folders)')
    parser.add_argument('split_csv', help='metadata_images_split_scene_v1.csv')
    parser.add_argument('out_root', help='output root folder')
    parser.add_argument(
        '--scenes', nargs='+', metavar='SCENE', help='only these scenes')
    parser.add_argument(
        '--camera-params',
        help='metadata_camera_parameters.csv (per-scene camera rays; '
        'default: the standard 60 degree camera)')
    parser.add_argument(
        '--no-render-entity-id',
        action='store_true',
        help='do not read render_entity_id (for partial downloads)')
    parser.add_argument(
        '--allow-missing',
        action='store_true',
        help='exit with status 0 even if frame files are missing')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start = time.time()
    try:
        meta = convert_hypersim(
            args.root,
            args.split_csv,
            args.out_root,
            scenes=args.scenes,
            camera_params=args.camera_params,
            use_render_entity_id=not args.no_render_entity_id)
    except (FileNotFoundError, KeyError, ValueError) as err:
        # KeyError's str() quotes its message
        sys.exit(f'error: {err.args[0] if err.args else err}')
    counts = ', '.join(f'{k} {v["count"]}' for k, v in meta['splits'].items())
    print(f'{args.out_root}: wrote {counts or "no"} samples '
          f'({time.time() - start:.0f} s)')
    if meta['missing_files'] and not args.allow_missing:
        sys.exit(f'error: {len(meta["missing_files"])} frame files are '
                 f"missing (listed in {args.out_root}/missing_files.txt); "
                 'pass --allow-missing to accept')


if __name__ == '__main__':
    main()
