# Copyright (c) mmmultimae contributors. All rights reserved.
"""Loading and decoding of Taskonomy task images (MultiMAE transfer).

The per-task decoding follows the official MultiMAE Taskonomy transforms
(``utils/taskonomy/transforms.py`` and ``task_configs.py``, described in
``docs`` reference section 7.5 and the transfer fixture's
``taskonomy_transforms`` note); the code is ours:

==================== ========= ==========================================
task                 file      decoded value, float32 ``(H, W, C)``
==================== ========= ==========================================
depth_zbuffer,       16-bit    ``v / 65535`` clamped to ``[0, 8000/65535]``
depth_euclidean                then divided by ``8000/65535`` (-> [0, 1])
edge_texture         16-bit    ``v / 65535`` clamped to [0, 0.25], / 0.25
edge_occlusion       16-bit    ``v / 65535``, Gaussian blur (3x3, sigma 1)
keypoints2d/3d       16-bit    ``v / 65535``
principal_curvature  8-bit RGB first 2 channels ``/ 255``
normal               8-bit RGB 3 channels ``/ 255``
reshading            8-bit     first channel ``/ 255``
rgb                  8-bit     uint8 ``(H, W, 3)`` (normalised later)
mask_valid           derived   bool ``(H, W)``, see below
==================== ========= ==========================================

``mask_valid``: Taskonomy/Omnidata mark pixels without depth with the
16-bit value 65535 in ``depth_zbuffer``; Omnidata's annotator writes its
8-bit ``mask_valid`` PNG as ``255 * (depth_zbuffer != 65535)``
(``omnidata_annotator/scripts/create_mask_valid.py`` of EPFL-VILAB/
omnidata), stored as ``mask_valid/<building>/point_<p>_view_<v>_domain_
depth_zbuffer.png`` (the official ``task_parameters['mask_valid']
['domain_id']`` is ``'depth_zbuffer'``). The official code reads that PNG
(1 = valid) and shrinks it with ``make_valid_mask`` (max-pool 4):
:func:`make_taskonomy_valid_mask`. Here the PNG is read when the sample
has a ``mask_valid`` path, else the same mask is computed from the
``depth_zbuffer`` file.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import BaseTransform
from PIL import Image

from mmmultimae.registry import TRANSFORMS

_DEPTH_MAX = 8000.0 / (2**16 - 1)

# yapf: disable
#: The official ``task_configs.task_parameters`` (our copy of its values;
#: a test checks them against the recording of the official code).
TASKONOMY_TASK_PARAMETERS = {
    'class_object': dict(num_classes=1000, ext='npy',
                         domain_id='class_object'),
    'class_scene': dict(num_classes=365, ext='npy', domain_id='class_scene'),
    'depth_zbuffer': dict(num_channels=1, mask_val=1.0,
                          clamp_to=(0.0, _DEPTH_MAX), ext='png',
                          domain_id='depth_zbuffer'),
    'depth_euclidean': dict(num_channels=1, clamp_to=(0.0, _DEPTH_MAX),
                            ext='png', domain_id='depth_euclidean'),
    'edge_texture': dict(num_channels=1, clamp_to=(0.0, 0.25), ext='png',
                         domain_id='edge_texture'),
    'edge_occlusion': dict(num_channels=1, ext='png',
                           domain_id='edge_occlusion'),
    'keypoints3d': dict(num_channels=1, ext='png', domain_id='keypoints3d'),
    'keypoints2d': dict(num_channels=1, ext='png', domain_id='keypoints2d'),
    'principal_curvature': dict(num_channels=3, mask_val=0.0, ext='png',
                                domain_id='principal_curvature'),
    'reshading': dict(num_channels=1, ext='png', domain_id='reshading'),
    'normal': dict(num_channels=3, mask_val=0.502, ext='png',
                   domain_id='normal'),
    'mask_valid': dict(num_channels=1, mask_val=0.0, ext='png',
                       domain_id='depth_zbuffer'),
    'rgb': dict(num_channels=3, ext='png', domain_id='rgb'),
    'segment_semantic': dict(num_channels=18, ext='png',
                             domain_id='segmentsemantic'),
    'segment_unsup2d': dict(num_channels=64, ext='png',
                            domain_id='segment_unsup2d'),
    'segment_unsup25d': dict(num_channels=64, ext='png',
                             domain_id='segment_unsup25d'),
}
# yapf: enable

#: Raw 16-bit depth value of pixels without depth (sky, holes).
TASKONOMY_DEPTH_INVALID = 65535
#: Tasks stored as 16-bit single-channel PNGs.
TASKONOMY_16BIT_TASKS = ('depth_zbuffer', 'depth_euclidean', 'edge_texture',
                         'edge_occlusion', 'keypoints2d', 'keypoints3d')
#: Tasks stored as 8-bit PNGs, with the channels kept and accepted modes.
TASKONOMY_8BIT_TASKS = {
    'principal_curvature': (2, ('RGB', )),
    'normal': (3, ('RGB', )),
    'reshading': (1, ('L', 'RGB')),
}
#: Everything :class:`LoadTaskonomyTasks` can load.
TASKONOMY_LOADABLE_TASKS = ('rgb', ) + TASKONOMY_16BIT_TASKS + tuple(
    TASKONOMY_8BIT_TASKS) + ('mask_valid', )

_16BIT_MODES = ('I;16', 'I;16L', 'I;16B', 'I;16N', 'I')

ArrayOrTensor = Union[np.ndarray, torch.Tensor]


def make_taskonomy_valid_mask(mask: ArrayOrTensor,
                              max_pool_size: int = 4) -> ArrayOrTensor:
    """Shrink a valid mask the way the official ``make_valid_mask`` does.

    With ``m = 1 - mask`` (1 on invalid pixels), ``m`` is max-pooled with
    kernel = stride = ``max_pool_size`` (trailing rows/columns that do not
    fill a block are dropped, so invalid pixels there are ignored) and
    upsampled back to ``(H, W)`` with nearest interpolation (PyTorch's
    ``floor(i * in / out)`` source index; with ``H`` or ``W`` not divisible
    by the kernel the block borders stretch). A pixel is valid iff its
    upsampled value is 0, i.e. every pixel of its block had ``mask == 1``.

    Args:
        mask (np.ndarray | torch.Tensor): bool or {0, 1} float mask
            (1 = valid) of shape ``(H, W)``, ``(C, H, W)`` or
            ``(B, C, H, W)``.
        max_pool_size (int): Block size. Defaults to 4.

    Returns:
        np.ndarray | torch.Tensor: bool mask of the same shape and kind.

    Raises:
        ValueError: If the mask is smaller than one block or not 2-4-D.
    """
    is_numpy = isinstance(mask, np.ndarray)
    tensor = torch.from_numpy(mask) if is_numpy else mask
    if tensor.ndim not in (2, 3, 4):
        raise ValueError('mask must be (H, W), (C, H, W) or (B, C, H, W), '
                         f'got shape {tuple(tensor.shape)}')
    height, width = tensor.shape[-2:]
    if height < max_pool_size or width < max_pool_size:
        raise ValueError(f'mask of size {height}x{width} is smaller than '
                         f'one {max_pool_size}x{max_pool_size} block')
    batched = tensor.reshape((1, ) * (4 - tensor.ndim) + tuple(tensor.shape))
    invalid = 1 - batched.float()
    pooled = F.max_pool2d(invalid, kernel_size=max_pool_size)
    invalid = F.interpolate(pooled, (height, width), mode='nearest')
    valid = (invalid == 0).reshape(tensor.shape)
    return valid.numpy() if is_numpy else valid


def gaussian_blur_3x3(image: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """3x3 Gaussian blur with reflected borders, ``(H, W)`` float32.

    Equals torchvision's ``GaussianBlur(3, sigma)`` (normalised
    ``exp(-x^2 / (2 sigma^2))`` kernel at ``x = -1, 0, 1``, 'reflect'
    padding = OpenCV's BORDER_REFLECT_101).
    """
    return cv2.GaussianBlur(
        np.ascontiguousarray(image, dtype=np.float32), (3, 3),
        sigmaX=sigma,
        sigmaY=sigma,
        borderType=cv2.BORDER_REFLECT_101)


def _raw_16bit(img: Image.Image, task: str, path: str) -> np.ndarray:
    if img.mode not in _16BIT_MODES:
        raise ValueError(
            f"{task} file '{path}' has PIL mode {img.mode!r}; Taskonomy "
            f'{task} is a 16-bit single-channel PNG (modes {_16BIT_MODES})')
    raw = np.asarray(img)
    if img.mode == 'I' and raw.size and (raw.min() < 0 or raw.max() > 65535):
        raise ValueError(f"{task} file '{path}' has values outside the "
                         '16-bit range 0..65535')
    return raw.astype(np.float32)


def decode_taskonomy_task(task: str,
                          img: Image.Image,
                          path: str = '?') -> np.ndarray:
    """Decode one opened Taskonomy image into the official target values.

    Args:
        task (str): A task of :data:`TASKONOMY_LOADABLE_TASKS` except
            ``mask_valid``.
        img (PIL.Image.Image): The opened file.
        path (str): File name for error messages.

    Returns:
        np.ndarray: uint8 ``(H, W, 3)`` for rgb, else float32
        ``(H, W, C)`` (see the module docstring).

    Raises:
        ValueError: If the file's mode (bit depth/channels) is not the
            task's.
    """
    if task == 'rgb':
        return np.array(img.convert('RGB'))
    if task in TASKONOMY_16BIT_TASKS:
        value = _raw_16bit(img, task, path) / np.float32(65535)
        clamp = TASKONOMY_TASK_PARAMETERS[task].get('clamp_to')
        if clamp is not None:
            low, high = (np.float32(c) for c in clamp)
            value = np.clip(value, low, high) / high
        if task == 'edge_occlusion':
            value = gaussian_blur_3x3(value, sigma=1.0)
        return value.astype(np.float32)[..., None]
    if task in TASKONOMY_8BIT_TASKS:
        channels, modes = TASKONOMY_8BIT_TASKS[task]
        if img.mode not in modes:
            raise ValueError(
                f"{task} file '{path}' has PIL mode {img.mode!r}; Taskonomy"
                f' {task} is an 8-bit PNG (modes {modes})')
        value = np.asarray(img, dtype=np.float32) / np.float32(255)
        if value.ndim == 2:
            value = value[..., None]
        return value[..., :channels]
    raise ValueError(f'cannot decode Taskonomy task {task!r}; loadable: '
                     f'{TASKONOMY_LOADABLE_TASKS}')


def resized_size(height: int, width: int,
                 size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """Output ``(H, W)`` of torchvision's ``Resize(size)`` on an image.

    An int matches the shorter side (the longer one is
    ``int(size * long / short)``); a pair is ``(H, W)``.
    """
    if isinstance(size, int):
        if width <= height:
            return int(size * height / width), size
        return size, int(size * width / height)
    if len(size) != 2:
        raise ValueError(f'image_size must be an int or (H, W), got {size}')
    return int(size[0]), int(size[1])


@TRANSFORMS.register_module()
class LoadTaskonomyTasks(BaseTransform):
    """Load the Taskonomy images of one sample with the official decoding.

    Reads ``results['img_path'][task]`` (as given by
    :class:`~mmmultimae.datasets.taskonomy.TaskonomyDataset`) for every
    task and stores ``results[task]``: rgb uint8 ``(H, W, 3)``, the other
    tasks float32 ``(H, W, C)`` decoded by :func:`decode_taskonomy_task`,
    and for ``mask_valid`` a bool ``(H, W)`` mask from
    :func:`make_taskonomy_valid_mask` applied to the sample's
    ``mask_valid`` PNG (255 = valid) if it has one, else to
    ``depth_zbuffer != 65535``. ``results['modalities']`` gets the loaded
    tasks appended; ``ori_shape``/``img_shape`` are set.

    With ``image_size`` each image is first resized as the official
    dataset does (PIL; bilinear for rgb, nearest otherwise), so the edge
    blur and the valid mask are computed at that size.

    Args:
        tasks (Sequence[str]): Tasks to load, from
            :data:`TASKONOMY_LOADABLE_TASKS`.
        image_size (int | tuple[int, int], optional): Resize before
            decoding (int: shorter side, as torchvision's ``Resize``).
        max_pool_size (int): Block of the valid-mask shrinking. Default 4.
    """

    def __init__(self,
                 tasks: Sequence[str],
                 image_size: Optional[Union[int, Sequence[int]]] = None,
                 max_pool_size: int = 4) -> None:
        tasks = tuple(tasks)
        unknown = [t for t in tasks if t not in TASKONOMY_LOADABLE_TASKS]
        if not tasks or unknown or len(set(tasks)) != len(tasks):
            raise ValueError(
                'LoadTaskonomyTasks: tasks must be distinct names from '
                f'{TASKONOMY_LOADABLE_TASKS}, got {tasks}')
        if image_size is not None:
            resized_size(1, 1, image_size)  # validates the argument
        self.tasks = tasks
        self.image_size = image_size
        self.max_pool_size = max_pool_size

    def _open(self, task: str, path: str) -> Image.Image:
        try:
            img = Image.open(path)
            img.load()
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"{task} file '{path}' does not exist") from err
        except (OSError, SyntaxError) as err:
            raise OSError(f"cannot read {task} file '{path}': {err}") from err
        if self.image_size is not None:
            size = resized_size(img.height, img.width, self.image_size)
            if size != (img.height, img.width):
                resample = Image.BILINEAR if task == 'rgb' else Image.NEAREST
                img = img.resize(size[::-1], resample)
        return img

    def _path(self, paths: Dict, task: str) -> str:
        if task not in paths:
            raise KeyError(f'LoadTaskonomyTasks: no path for {task!r} '
                           f'(sample has {sorted(paths)})')
        return paths[task]

    def _valid_mask(self, paths: Dict) -> np.ndarray:
        if 'mask_valid' in paths:
            path = paths['mask_valid']
            img = self._open('mask_valid', path)
            if img.mode != 'L':
                raise ValueError(f"mask_valid file '{path}' has PIL mode "
                                 f"{img.mode!r}; expected an 8-bit 'L' PNG")
            valid = np.asarray(img) == 255
        else:
            if 'depth_zbuffer' not in paths:
                raise KeyError(
                    'LoadTaskonomyTasks: mask_valid needs a mask_valid or '
                    f'depth_zbuffer path (sample has {sorted(paths)})')
            path = paths['depth_zbuffer']
            raw = _raw_16bit(
                self._open('depth_zbuffer', path), 'depth_zbuffer', path)
            valid = raw != TASKONOMY_DEPTH_INVALID
        return make_taskonomy_valid_mask(valid, self.max_pool_size)

    def transform(self, results: Dict) -> Dict:
        """Load and decode every task of the sample."""
        paths = results.get('img_path')
        if not isinstance(paths, dict):
            raise TypeError(
                "LoadTaskonomyTasks expects results['img_path'] to be a "
                f'dict task -> path, got {type(paths).__name__}')
        loaded = {}
        for task in self.tasks:
            if task == 'mask_valid':
                loaded[task] = self._valid_mask(paths)
                continue
            path = self._path(paths, task)
            loaded[task] = decode_taskonomy_task(task, self._open(task, path),
                                                 path)
        shapes = {t: a.shape[:2] for t, a in loaded.items()}
        if len(set(shapes.values())) != 1:
            raise ValueError('Taskonomy tasks of one sample differ in size: '
                             f'{shapes} ({paths})')
        results.update(loaded)
        modalities = tuple(results.get('modalities', ()))
        results['modalities'] = modalities + tuple(
            t for t in self.tasks if t not in modalities)
        shape = next(iter(shapes.values()))
        results['ori_shape'] = results['img_shape'] = shape
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(tasks={self.tasks}, '
                f'image_size={self.image_size}, '
                f'max_pool_size={self.max_pool_size})')
