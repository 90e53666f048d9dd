# Copyright (c) mmmultimae contributors. All rights reserved.
"""Shared fixtures of the decode-head tests: a tiny MultiViT and its maps,
and segmentation data samples."""
import functools
from typing import Callable, Sequence, Tuple

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmmultimae.models.backbones import MultiViT

EMBED_DIMS = 32


def tiny_multivit(modalities: Sequence[str] = ('rgb', ),
                  out_indices: Sequence[int] = (0, 1, 2, 3)) -> MultiViT:
    return MultiViT(
        adapters=dict(
            rgb=dict(type='PatchInputAdapter', in_channels=3, image_size=64),
            depth=dict(type='PatchInputAdapter', in_channels=1,
                       image_size=64)),
        embed_dims=EMBED_DIMS,
        num_layers=4,
        num_heads=2,
        out_indices=list(out_indices),
        out_modalities=list(modalities)).eval()


@functools.lru_cache(maxsize=None)
def _maps(modalities: Tuple[str, ...], out_indices: Tuple[int, ...],
          size: Tuple[int, int], batch: int) -> Tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    model = tiny_multivit(modalities, out_indices)
    inputs = dict(
        rgb=torch.randn(batch, 3, *size), depth=torch.randn(batch, 1, *size))
    with torch.no_grad():
        return model(inputs)


@pytest.fixture
def backbone_maps() -> Callable[..., Tuple[torch.Tensor, ...]]:
    """``backbone_maps(modalities, out_indices, size, batch)``: the maps of
    a tiny MultiViT (width 32 per modality, 4 blocks, patch 16); computed
    once per arguments, fresh copies each call."""

    def make(
            modalities=('rgb', ), out_indices=(0, 1, 2, 3),
            size=(64, 64), batch=2) -> Tuple[torch.Tensor, ...]:
        maps = _maps(tuple(modalities), tuple(out_indices), tuple(size), batch)
        return tuple(x.clone() for x in maps)

    return make


@pytest.fixture
def seg_samples() -> Callable[[torch.Tensor], list]:
    """``seg_samples(labels)``: SegDataSamples with ``gt_sem_seg`` from
    ``(B, H, W)`` labels."""

    def make(labels: torch.Tensor) -> list:
        samples = []
        for label in labels:
            sample = SegDataSample()
            sample.gt_sem_seg = PixelData(data=label[None])
            samples.append(sample)
        return samples

    return make
