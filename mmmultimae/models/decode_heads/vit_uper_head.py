# Copyright (c) mmmultimae contributors. All rights reserved.
"""UPerNet head for the single-scale maps of a plain ViT."""
from typing import List, Sequence

from mmseg.models.decode_heads.uper_head import UPerHead
from mmseg.models.necks.featurepyramid import Feature2Pyramid
from torch import Tensor

from mmmultimae.registry import MODELS
from .utils import CheckedInputsMixin

# The two rescale lists Feature2Pyramid can apply (its ops are fixed).
SUPPORTED_RESCALES = ((4, 2, 1, 0.5), (2, 1, 0.5, 0.25))


@MODELS.register_module()
class ViTUPerHead(CheckedInputsMixin, UPerHead):
    """mmseg's ``UPerHead`` behind mmseg's ``Feature2Pyramid``.

    The four selected ViT maps ``(B, in_channels, h, w)`` are rescaled by
    ``rescales`` (default 4, 2, 1, 0.5: strides 4 to 32 for 16x16 patches)
    and fed to UPerNet, so a config switches from another head to UPerNet
    by changing only ``decode_head``. An auxiliary ``FCNHead`` can read the
    backbone map directly (``in_index=2``, the map Feature2Pyramid leaves
    unchanged). Composes the mmseg classes (the BEiT / MAE UPerNet design),
    with BN instead of SyncBN by default.

    Args:
        in_channels (int): Width of the backbone maps, ``D * k``.
        channels (int): UPerNet width.
        rescales (Sequence[float]): ``(4, 2, 1, 0.5)`` or
            ``(2, 1, 0.5, 0.25)``. Defaults to ``(4, 2, 1, 0.5)``.
        neck_norm_cfg (dict): Norm of Feature2Pyramid's 4x branch.
            Defaults to ``dict(type='BN', requires_grad=True)``.
        norm_cfg (dict): Norm of UPerNet. Defaults to
            ``dict(type='BN', requires_grad=True)``.
        in_index (Sequence[int]): The four backbone maps, shallow to deep.
            Defaults to ``(0, 1, 2, 3)``.
        **kwargs: Other ``UPerHead`` / ``BaseDecodeHead`` arguments
            (``num_classes``, ``pool_scales``, ``loss_decode``...).
    """

    def __init__(self,
                 in_channels: int,
                 channels: int,
                 rescales: Sequence[float] = (4, 2, 1, 0.5),
                 neck_norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 in_index: Sequence[int] = (0, 1, 2, 3),
                 **kwargs) -> None:
        if tuple(rescales) not in SUPPORTED_RESCALES:
            raise ValueError(f'rescales must be one of {SUPPORTED_RESCALES}, '
                             f'got {rescales}')
        if not isinstance(in_channels, int):
            raise TypeError('ViTUPerHead: in_channels is the width of the '
                            f'ViT maps (one int), got {in_channels!r}')
        if isinstance(in_index, int) or len(in_index) != len(rescales):
            raise ValueError(f'ViTUPerHead needs {len(rescales)} backbone '
                             f'maps (in_index), got {in_index!r}')
        super().__init__(
            in_channels=[in_channels] * len(rescales),
            channels=channels,
            in_index=list(in_index),
            norm_cfg=norm_cfg,
            **kwargs)
        self.neck = Feature2Pyramid(
            in_channels, rescales=list(rescales), norm_cfg=neck_norm_cfg)

    def _transform_inputs(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        """Select the four maps (checked) and build the pyramid."""
        return list(self.neck(super()._transform_inputs(inputs)))
