# Copyright (c) mmmultimae contributors. All rights reserved.
"""Tiny Taskonomy trees in the real layout and bit depths (test helper)."""
import os
import os.path as osp
import zlib

import numpy as np
from PIL import Image

SIZE = 8
#: task -> (dtype, channels) of the real Taskonomy PNGs.
TASK_FORMATS = {
    'rgb': (np.uint8, 3),
    'depth_zbuffer': (np.uint16, 1),
    'edge_texture': (np.uint16, 1),
    'edge_occlusion': (np.uint16, 1),
    'keypoints2d': (np.uint16, 1),
    'keypoints3d': (np.uint16, 1),
    'principal_curvature': (np.uint8, 3),
    'normal': (np.uint8, 3),
    'reshading': (np.uint8, 1),
}


def task_path(root, task, building, point, view, domain=None):
    return osp.join(root, task, building,
                    f'point_{point}_view_{view}_domain_{domain or task}.png')


def task_array(task, seed, size=SIZE):
    """The raw pixel values of one task image."""
    rng = np.random.default_rng(seed)
    dtype, channels = TASK_FORMATS[task]
    top = 65536 if dtype == np.uint16 else 256
    shape = (size, size) if channels == 1 else (size, size, channels)
    array = rng.integers(0, top, shape).astype(dtype)
    if task == 'depth_zbuffer':
        array = rng.integers(0, 12000, shape).astype(dtype)
        array[1, 6] = 65535  # no depth (sky / hole)
    return array


def write_view(root,
               building,
               point,
               view,
               tasks=tuple(TASK_FORMATS),
               size=SIZE):
    """Write every task image of one view; returns task -> raw array."""
    arrays = {}
    for task in tasks:
        seed = zlib.crc32(f'{building}/{point}/{view}/{task}'.encode())
        array = task_array(task, seed, size)
        path = task_path(root, task, building, point, view)
        os.makedirs(osp.dirname(path), exist_ok=True)
        Image.fromarray(array).save(path)
        arrays[task] = array
    return arrays
