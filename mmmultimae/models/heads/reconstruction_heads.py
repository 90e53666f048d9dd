# Copyright (c) mmmultimae contributors. All rights reserved.
"""Pre-training heads: one decoder, its loss, target and precision policy.

The split follows mmpretrain's ``MAEPretrainHead``: the head builds the
target (here also per-patch standardisation, MAE's ``norm_pix``), owns the
loss, and turns predictions into images; the algorithm only tokenizes,
masks, encodes and asks its heads.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor

from mmmultimae.registry import MODELS
from ..utils.autocast import active_autocast_dtype
from ..utils.patchify import (normalize_patches, patch_statistics, patchify,
                              patchify_labels, unpatchify)
from ..utils.token_layout import TokenLayout

Masks = Dict[str, Tensor]


class BaseReconstructionHead(BaseModule):
    """A decoder, the loss of its output and the modality it reconstructs.

    Args:
        name (str): Name of the output (the key of the head in
            ``MultiMAE(heads=...)``), e.g. ``'rgb'`` or ``'norm_rgb'``.
        decoder (dict): Decoder config (``SpatialDecoder``, ``MAEDecoder``);
            its ``modality`` (``name``), ``query_modality`` (``target``),
            ``encoder_dims`` and ``context_modalities`` come from the head.
        loss (dict): Loss config, called as ``loss(pred, target, mask)`` on
            patch tokens with the target modality's token mask.
        encoder_dims (int): Width of the encoder tokens.
        context_modalities (Sequence[str]): The encoder's input modalities.
        target (str, optional): Modality reconstructed (ground truth and
            token mask). Defaults to ``name``.
        fp32_under_fp16 (bool): Run the decoder with autocast disabled, on
            float32 encoder tokens, when autocast is in float16 (official
            ``fp32_output_adapters``, which guards the 133-class semseg
            logits against fp16 overflow). Under bfloat16, which has
            float32's range, the decoder runs in bfloat16 like the rest (25 %
            more images/s on an H200, see ``docs/benchmarks.md``). Defaults
            to False.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 name: str,
                 decoder: dict,
                 loss: dict,
                 encoder_dims: int,
                 context_modalities: Sequence[str],
                 target: Optional[str] = None,
                 fp32_under_fp16: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.name = name
        self.target = target or name
        self.fp32_under_fp16 = fp32_under_fp16
        self.decoder = MODELS.build(
            decoder,
            default_args=dict(
                modality=name,
                query_modality=self.target,
                encoder_dims=encoder_dims,
                context_modalities=list(context_modalities)))
        self.loss_module = MODELS.build(loss)

    @property
    def out_channels(self) -> int:
        """Channels of the decoded output (classes for label maps)."""
        return self.decoder.out_channels

    @property
    def patch_size(self) -> Tuple[int, int]:
        """``(ph, pw)`` of the output patches."""
        return self.decoder.patch_size

    def forward(self,
                encoder_tokens: Tensor,
                layout: TokenLayout,
                ids_keep: Tensor,
                ids_restore: Tensor,
                amp_tokens: Optional[Tensor] = None) -> Tensor:
        """Decode the output's patch tokens.

        Args:
            encoder_tokens (Tensor): Encoder output ``(B, n_vis + G, D)``.
            layout (TokenLayout): Layout of the concatenated input tokens.
            ids_keep (Tensor): ``(B, n_vis)`` indices of the visible tokens.
            ids_restore (Tensor): ``(B, N_total)``, see ``masks_to_ids``.
            amp_tokens (Tensor, optional): ``encoder_tokens`` already cast
                to the autocast dtype (one cast shared by all heads).

        Returns:
            Tensor: Patch tokens ``(B, h * w, C * ph * pw)``.
        """
        device_type = encoder_tokens.device.type
        if self.fp32_under_fp16 and \
                active_autocast_dtype(device_type) == torch.float16:
            with torch.autocast(device_type=device_type, enabled=False):
                return self.decoder(encoder_tokens.float(), layout, ids_keep,
                                    ids_restore)
        tokens = encoder_tokens if amp_tokens is None else amp_tokens
        return self.decoder(tokens, layout, ids_keep, ids_restore)

    @property
    def target_size(self) -> Tuple[int, int]:
        """Spatial size of the target the decoder was built for."""
        (h, w), (ph, pw) = self.decoder.grid, self.patch_size
        return h * ph, w * pw

    def target_patches(self, target: Tensor) -> Tensor:
        """The target as patch tokens ``(B, N, ...)``."""
        return patchify(target, self.patch_size)

    def loss(self, pred: Tensor, inputs: Dict[str, Tensor],
             masks: Masks) -> Tensor:
        """The loss on the target modality's masked tokens.

        Args:
            pred (Tensor): Patch tokens from :meth:`forward`.
            inputs (dict[str, Tensor]): Preprocessed batch; must hold the
                target modality.
            masks (dict[str, Tensor]): Token masks ``(B, N_m)``, True =
                masked. A target that is not an input modality counts as
                masked everywhere.

        Returns:
            Tensor: Scalar float32 loss.
        """
        if self.target not in inputs:
            raise KeyError(f'target {self.target!r} of head {self.name!r} is '
                           f'missing from the inputs {list(inputs)}')
        target = self.target_patches(inputs[self.target])
        if target.shape[:2] != pred.shape[:2]:
            raise ValueError(
                f'head {self.name!r} predicts {pred.shape[1]} patches but '
                f'its target {self.target!r} has {target.shape[1]}')
        mask = masks.get(self.target)
        if mask is None:
            mask = torch.ones(
                pred.shape[:2], dtype=torch.bool, device=pred.device)
        return self.loss_module(pred.float(), target, mask)

    def to_image(self, pred: Tensor, layout: TokenLayout) -> Tensor:
        """Patch tokens as a float32 image ``(B, C, h * ph, w * pw)``."""
        decoder = self.decoder
        return unpatchify(pred.float(), decoder.query_grid(layout),
                          decoder.patch_size, decoder.out_channels)

    def predict(self, pred: Tensor,
                layout: TokenLayout) -> Dict[str, Tensor]:
        """Per-batch prediction fields.

        Returns:
            dict[str, Tensor]: ``pred_<name>``: the image
            ``(B, C, H', W')``.
        """
        return {f'pred_{self.name}': self.to_image(pred, layout)}


@MODELS.register_module()
class PixelReconstructionHead(BaseReconstructionHead):
    """Reconstruction of a dense modality (rgb, depth, normals...).

    Args:
        norm_target (bool): Standardise every target patch by its own mean
            and unbiased variance first (MAE's ``norm_pix``; official
            MultiMAE's "rgb+" ``norm_rgb`` output). Defaults to False.
        eps (float): Added to the variance of ``norm_target``. Defaults to
            1e-6.
        Other arguments: see :class:`BaseReconstructionHead`.
    """

    def __init__(self,
                 *args,
                 norm_target: bool = False,
                 eps: float = 1e-6,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.norm_target = norm_target
        self.eps = eps

    def target_patches(self, target: Tensor) -> Tensor:
        """Target patches ``(B, N, C * ph * pw)`` (standardised per patch
        if ``norm_target``)."""
        if not target.dtype.is_floating_point or target.dim() != 4:
            raise ValueError(
                f'head {self.name!r}: target {self.target!r} must be a float '
                f'image (B, C, H, W), got {target.dtype} of shape '
                f'{tuple(target.shape)}')
        patches = patchify(target, self.patch_size)
        if not self.norm_target:
            return patches
        return normalize_patches(patches.float(), self.eps)

    def example_target(
            self,
            batch_size: int,
            generator: Optional[torch.Generator] = None) -> Tensor:
        """A random target ``(B, C, H, W)`` (standard normal) of
        :attr:`target_size`, e.g. for benchmarks."""
        return torch.randn(
            batch_size,
            self.out_channels,
            *self.target_size,
            generator=generator)

    def in_target_units(self, image: Tensor, target: Tensor) -> Tensor:
        """A predicted image in the target's units (for display).

        Undoes ``norm_target`` with the ground truth's patch statistics;
        identity otherwise.

        Args:
            image (Tensor): Prediction ``(B, C, H, W)``.
            target (Tensor): Ground truth ``(B, C, H, W)``.

        Returns:
            Tensor: ``(B, C, H, W)``.
        """
        if not self.norm_target:
            return image
        patch = self.patch_size
        grid = (image.shape[-2] // patch[0], image.shape[-1] // patch[1])
        mean, std = patch_statistics(patchify(target.float(), patch),
                                     self.eps)
        patches = patchify(image.float(), patch) * std + mean
        return unpatchify(patches, grid, patch, image.shape[1])


@MODELS.register_module()
class SemSegReconstructionHead(BaseReconstructionHead):
    """Reconstruction of a label map (semantic segmentation).

    The decoder predicts ``K`` logits per pixel (at ``1 / stride_level``
    resolution); the loss is a per-pixel cross-entropy
    (``MaskedCrossEntropyLoss``). Arguments: see
    :class:`BaseReconstructionHead`.
    """

    def target_patches(self, target: Tensor) -> Tensor:
        """Label patches ``(B, N, ph * pw)``."""
        if target.dtype.is_floating_point or target.dim() != 3:
            raise ValueError(
                f'head {self.name!r}: target {self.target!r} must be integer '
                f'label maps (B, H, W), got {target.dtype} of shape '
                f'{tuple(target.shape)}')
        return patchify_labels(target, self.patch_size)

    def example_target(
            self,
            batch_size: int,
            generator: Optional[torch.Generator] = None) -> Tensor:
        """Random class ids ``(B, H, W)`` of :attr:`target_size`."""
        return torch.randint(
            0,
            self.out_channels, (batch_size, *self.target_size),
            generator=generator)

    def predict(self, pred: Tensor,
                layout: TokenLayout) -> Dict[str, Tensor]:
        """Per-batch prediction fields.

        Returns:
            dict[str, Tensor]: ``pred_<name>``: logits ``(B, K, H', W')``;
            ``pred_<name>_label``: their argmax ``(B, H', W')``.
        """
        logits = self.to_image(pred, layout)
        return {
            f'pred_{self.name}': logits,
            f'pred_{self.name}_label': logits.argmax(dim=1)
        }
