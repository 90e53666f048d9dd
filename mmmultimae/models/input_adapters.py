# Copyright (c) mmmultimae contributors. All rights reserved.
"""Input adapters: turn one modality into a sequence of patch tokens."""
from abc import abstractmethod
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from timm.layers import trunc_normal_
from torch import Tensor

from mmmultimae.registry import MODELS
from .utils.patchify import patchify
from .utils.pos_embed import (build_2d_sincos_pos_embed, pos_embed_tokens,
                              to_2tuple_int)

_INTERPOLATE_MODES = ('nearest', 'bilinear', 'bicubic', 'area',
                      'nearest-exact')


def _table_grid(image_size: Tuple[int, int], stride_level: int, patch: int,
                name: str) -> Tuple[int, int]:
    """Token grid ``(h, w)`` of the position table of an adapter."""
    step = stride_level * patch
    if image_size[0] % step or image_size[1] % step:
        raise ValueError(
            f'{name}: image_size {image_size} must be divisible by '
            f'stride_level * patch = {stride_level} * {patch} = {step}')
    return image_size[0] // step, image_size[1] // step


def _check_interpolate_mode(mode: str, name: str) -> str:
    if mode not in _INTERPOLATE_MODES:
        raise ValueError(f'{name}: interpolate_mode must be one of '
                         f'{_INTERPOLATE_MODES}, got {mode!r}')
    return mode


def _xavier_uniform_conv_(conv: nn.Conv2d) -> None:
    """Xavier-uniform init of a conv weight viewed as ``(out, in*kh*kw)``.

    This is MAE's/MultiMAE's patch-embedding init: the conv is a linear map
    of the flattened patch. The bias keeps PyTorch's default init.
    """
    weight = conv.weight.data
    nn.init.xavier_uniform_(weight.view(weight.shape[0], -1))


class _GridAdapter(BaseModule):
    """Shared machinery of the adapters: patch grid and position table.

    Args:
        embed_dims (int): Token width ``D``.
        patch_size (int): Patch size at full resolution.
        stride_level (int): Downsampling of the input w.r.t. the full
            resolution (1 for images, 4 for 1/4-resolution label maps).
        image_size (int | tuple[int, int]): Full-resolution image size the
            position table is built for.
        learnable_pos_embed (bool): Whether the sin-cos table is trained.
        interpolate_mode (str): Mode used to resize the table.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 embed_dims: int,
                 patch_size: int,
                 stride_level: int,
                 image_size: Union[int, Tuple[int, int]],
                 learnable_pos_embed: bool,
                 interpolate_mode: str,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        if stride_level < 1 or patch_size < 1:
            raise ValueError(f'{name}: patch_size and stride_level must be '
                             f'>= 1, got {patch_size} and {stride_level}')
        self.embed_dims = embed_dims
        self.stride_level = stride_level
        # Patch size on the (possibly downsampled) input, as official.
        self.patch_size = max(1, patch_size // stride_level)
        self.image_size = to_2tuple_int(image_size, 'image_size')
        self.interpolate_mode = _check_interpolate_mode(interpolate_mode, name)
        grid = _table_grid(self.image_size, stride_level, self.patch_size,
                           name)
        # A Parameter (not a buffer) so that it is in the state dict under
        # the same status as in official checkpoints, frozen by default.
        self.pos_embed = nn.Parameter(
            build_2d_sincos_pos_embed(grid, embed_dims),
            requires_grad=learnable_pos_embed)

    @abstractmethod
    def official_init(self) -> None:
        """Official MultiMAE init of the adapter's own parameters."""

    def init_weights(self) -> None:
        """Apply :meth:`official_init`, then ``init_cfg`` (if any)."""
        self.official_init()
        super().init_weights()

    def token_grid(self, x: Tensor) -> Tuple[int, int]:
        """Token grid ``(h, w)`` produced for input ``x``.

        Args:
            x (Tensor): Input of shape ``(B, C, H, W)`` or ``(B, H, W)``.

        Returns:
            tuple[int, int]: ``(H // p, W // p)``.
        """
        height, width = int(x.shape[-2]), int(x.shape[-1])
        p = self.patch_size
        if height % p or width % p:
            raise ValueError(
                f'{type(self).__name__}: input spatial size '
                f'{(height, width)} is not divisible by the patch size {p}')
        return height // p, width // p

    @property
    def input_size(self) -> Tuple[int, int]:
        """Spatial size of the input the position table was built for:
        ``image_size / stride_level``."""
        h, w = self.pos_embed.shape[-2:]
        return h * self.patch_size, w * self.patch_size

    def _embed_patches(self, patches: Tensor, grid: Tuple[int, int]) -> Tensor:
        """Project patches with ``proj`` and add the resized table.

        ``proj`` is a ``Conv2d`` with kernel = stride = patch (so checkpoints
        keep the official layout), applied as the equivalent matrix product
        on ``(c ph pw)``-flattened patches: one GEMM instead of a strided
        convolution, which cuDNN runs far slower (forward and backward).

        Args:
            patches (Tensor): ``(B, h*w, C*p*p)`` in ``(c ph pw)`` order.
            grid (tuple[int, int]): Token grid ``(h, w)``.

        Returns:
            Tensor: Tokens ``(B, h*w, D)``.
        """
        tokens = F.linear(patches, self.proj.weight.flatten(1),
                          self.proj.bias)
        # in the tokens' dtype: under autocast a float32 table would promote
        # all (B, N, D) tokens to float32
        return tokens + self.pos_tokens(grid).to(tokens.dtype)

    def pos_tokens(self, grid: Tuple[int, int]) -> Tensor:
        """The position table resized to ``grid``, as ``(1, h*w, D)``
        tokens (row-major)."""
        return pos_embed_tokens(self.pos_embed, grid, self.interpolate_mode)


@MODELS.register_module()
class PatchInputAdapter(_GridAdapter):
    """Patch embedding of a dense modality with any number of channels.

    A ``Conv2d`` with kernel and stride ``patch_size // stride_level``
    projects each patch to ``D`` channels; a fixed 2-D sin-cos table
    (resized to the token grid, bicubic by default as official) is added.

    Args:
        in_channels (int): Number of input channels ``C``.
        embed_dims (int): Token width ``D``.
        patch_size (int): Patch size at full resolution. Defaults to 16.
        stride_level (int): Downsampling of the input w.r.t. the full
            resolution. Defaults to 1.
        image_size (int | tuple[int, int]): Full-resolution size ``(H, W)``
            the position table is built for. Defaults to 224.
        learnable_pos_embed (bool): Train the table. Defaults to False.
        interpolate_mode (str): Table resize mode. Defaults to 'bicubic'.
        init_cfg (dict, optional): mmengine init config.

    Example:
        >>> adapter = PatchInputAdapter(3, 96, image_size=64)
        >>> adapter(torch.rand(2, 3, 64, 96)).shape
        torch.Size([2, 24, 96])
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 patch_size: int = 16,
                 stride_level: int = 1,
                 image_size: Union[int, Tuple[int, int]] = 224,
                 learnable_pos_embed: bool = False,
                 interpolate_mode: str = 'bicubic',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(embed_dims, patch_size, stride_level, image_size,
                         learnable_pos_embed, interpolate_mode, init_cfg)
        self.in_channels = in_channels
        self.proj = nn.Conv2d(
            in_channels,
            embed_dims,
            kernel_size=self.patch_size,
            stride=self.patch_size)

    def official_init(self) -> None:
        """Official init: xavier-uniform on the flattened conv weight."""
        _xavier_uniform_conv_(self.proj)

    def example_input(
            self,
            batch_size: int,
            generator: Optional[torch.Generator] = None) -> Tensor:
        """A random input ``(B, C, H, W)`` of :attr:`input_size` (standard
        normal, as after normalisation), e.g. for benchmarks."""
        return torch.randn(
            batch_size,
            self.in_channels,
            *self.input_size,
            generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        """Embed a modality.

        Args:
            x (Tensor): Input of shape ``(B, C, H, W)``.

        Returns:
            Tensor: Tokens of shape ``(B, h*w, D)``, row-major over the
            ``(h, w) = (H // p, W // p)`` grid.
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'PatchInputAdapter expects (B, {self.in_channels}, H, W) '
                f'inputs, got shape {tuple(x.shape)}')
        grid = self.token_grid(x)
        return self._embed_patches(patchify(x, self.patch_size), grid)


@MODELS.register_module()
class SemSegInputAdapter(_GridAdapter):
    """Embedding of a semantic label map given at reduced resolution.

    Class ids are looked up in ``class_embed`` (``E`` channels), then a
    ``Conv2d`` with kernel and stride ``patch_size // stride_level`` (4x4
    patches on the 1/4-resolution map by default) projects them to ``D``
    channels, and the sin-cos table (resized bilinear, as official) is added.

    Args:
        num_classes (int): Number of classes ``K``; ids are in ``[0, K)``.
        embed_dims (int): Token width ``D``.
        patch_size (int): Patch size at full resolution. Defaults to 16.
        stride_level (int): Downsampling of the label map w.r.t. the full
            resolution. Defaults to 4.
        image_size (int | tuple[int, int]): Full-resolution size ``(H, W)``
            the position table is built for. Defaults to 224.
        class_embed_dims (int): Class embedding width ``E``. Defaults to 64.
        padding_class (bool): Add a void class with id ``K`` whose
            embedding is zero and receives no gradient (``padding_idx``);
            ids are then in ``[0, K]``. Defaults to False.
        interpolate_mode (str): Table resize mode. Defaults to 'bilinear'.
        learnable_pos_embed (bool): Train the table. Defaults to False.
        init_cfg (dict, optional): mmengine init config.

    Note:
        On CPU an out-of-range id raises a ``ValueError`` naming the range.
        On accelerators the check is ``torch._assert_async`` so that no
        host sync is added to the forward pass: a bad id then fails as a
        device-side assertion carrying the same message.
    """

    def __init__(self,
                 num_classes: int,
                 embed_dims: int,
                 patch_size: int = 16,
                 stride_level: int = 4,
                 image_size: Union[int, Tuple[int, int]] = 224,
                 class_embed_dims: int = 64,
                 padding_class: bool = False,
                 interpolate_mode: str = 'bilinear',
                 learnable_pos_embed: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(embed_dims, patch_size, stride_level, image_size,
                         learnable_pos_embed, interpolate_mode, init_cfg)
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        self.num_classes = num_classes
        self.padding_class = padding_class
        self.class_embed_dims = class_embed_dims
        self.class_embed = nn.Embedding(
            num_classes + int(padding_class),
            class_embed_dims,
            padding_idx=num_classes if padding_class else None)
        self.proj = nn.Conv2d(
            class_embed_dims,
            embed_dims,
            kernel_size=self.patch_size,
            stride=self.patch_size)

    @property
    def valid_id_range(self) -> str:
        """Human-readable range of valid ids, e.g. ``'[0, 11)'``."""
        if self.padding_class:
            return f'[0, {self.num_classes}] ({self.num_classes} = void)'
        return f'[0, {self.num_classes})'

    def official_init(self) -> None:
        """Official init: class embedding trunc-normal(0.02), xavier conv.

        Unlike official (whose fresh init overwrites it with noise), the
        void row of ``padding_class`` is zero, as in official fine-tuning
        where the pre-trained table is zero-padded.
        """
        trunc_normal_(self.class_embed.weight, std=0.02)
        if self.padding_class:
            with torch.no_grad():
                self.class_embed.weight[self.num_classes].zero_()
        _xavier_uniform_conv_(self.proj)

    def _check_ids(self, x: Tensor) -> None:
        if torch.compiler.is_compiling():
            # Compiled training steps rely on the data preprocessor's check
            # (a data-dependent branch here would split the graph).
            return
        num_ids = self.class_embed.num_embeddings
        valid = ((x >= 0) & (x < num_ids)).all()
        msg = (f'SemSegInputAdapter: class ids must be in '
               f'{self.valid_id_range}')
        if x.device.type == 'cpu':
            if not bool(valid):
                raise ValueError(f'{msg}, got ids in [{int(x.min())}, '
                                 f'{int(x.max())}]')
        else:
            torch._assert_async(valid, msg)

    def example_input(
            self,
            batch_size: int,
            generator: Optional[torch.Generator] = None) -> Tensor:
        """Random class ids ``(B, h4, w4)`` of :attr:`input_size`, e.g. for
        benchmarks."""
        return torch.randint(
            0,
            self.num_classes, (batch_size, *self.input_size),
            generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        """Embed a label map.

        Args:
            x (Tensor): Integer class ids of shape ``(B, h4, w4)`` (the
                ``1 / stride_level`` resolution map).

        Returns:
            Tensor: Tokens of shape ``(B, h*w, D)`` with
            ``(h, w) = (h4 // p, w4 // p)``.
        """
        if x.dim() != 3 or x.dtype.is_floating_point or x.is_complex():
            raise ValueError(
                'SemSegInputAdapter expects integer class ids of shape '
                f'(B, H/{self.stride_level}, W/{self.stride_level}), got '
                f'{x.dtype} of shape {tuple(x.shape)}')
        grid = self.token_grid(x)
        self._check_ids(x)
        p = self.patch_size
        # (B, h*p, w*p, E) -> (B, h*w, E*p*p) in (e ph pw) order
        emb = self.class_embed(x.long()).unflatten(1, (grid[0], p)).unflatten(
            3, (grid[1], p))
        patches = emb.permute(0, 1, 3, 5, 2, 4).flatten(3).flatten(1, 2)
        return self._embed_patches(patches, grid)
