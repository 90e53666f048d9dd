# Copyright (c) mmmultimae contributors. All rights reserved.
"""Model glue of the reconstruction figures (``mmmultimae.apis``)."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch

from mmmultimae.apis import (TileRenderer, eval_pipeline, masks_from_spec,
                             reconstruction_rows, sample_masks)
from mmmultimae.registry import MODELS
from mmmultimae.utils import register_all_modules
from mmmultimae.visualization.reconstruction import MASK_COLOR

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _tool(name: str):
    """Import a script of ``tools/`` as a module."""
    spec = importlib.util.spec_from_file_location(
        name, osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mask_spec_and_eval_pipeline():
    parse_mask_spec = _tool('visualize_reconstruction').parse_mask_spec
    assert parse_mask_spec(['rgb=visible,depth=masked', 'semseg=3']) == \
        dict(rgb='visible', depth='masked', semseg=3)
    with pytest.raises(ValueError, match='MODALITY=VALUE'):
        parse_mask_spec(['rgb'])
    with pytest.raises(ValueError, match="'visible', 'masked'"):
        parse_mask_spec(['rgb=half'])
    pipeline = eval_pipeline([
        dict(type='LoadMultiModalImages'),
        dict(type='MultiModalRandomResizedCrop', size=32, scale=(0.2, 1.)),
        dict(type='MultiModalRandomFlip', prob=0.5),
        dict(type='PackMultiModalInputs'),
    ])
    assert [t['type'] for t in pipeline] == [
        'LoadMultiModalImages', 'MultiModalRandomResizedCrop',
        'PackMultiModalInputs'
    ]
    assert pipeline[1]['scale'] == (1., 1.) and pipeline[1]['size'] == 32


def _tiny_model(norm_rgb_only: bool = False):
    register_all_modules()

    def dec(c, **kw):
        return dict(
            type='SpatialDecoder',
            out_channels=c,
            embed_dims=16,
            num_layers=1,
            num_heads=2,
            patch_size=8,
            image_size=16,
            **kw)

    heads = dict(
        rgb=dict(
            type='PixelReconstructionHead',
            norm_target=norm_rgb_only,
            decoder=dec(3),
            loss=dict(type='MaskedMSELoss')),
        depth=dict(
            type='PixelReconstructionHead',
            decoder=dec(1),
            loss=dict(type='MaskedL1Loss')),
        semseg=dict(
            type='SemSegReconstructionHead',
            decoder=dec(5, stride_level=4),
            loss=dict(type='MaskedCrossEntropyLoss')))
    return MODELS.build(
        dict(
            type='MultiMAE',
            data_preprocessor=dict(
                type='MultiModalDataPreprocessor',
                rgb=dict(
                    mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375]),
                depth=dict(standardize=True),
                semseg=dict(num_classes=5)),
            encoder=dict(
                type='MultiViT',
                adapters=dict(
                    rgb=dict(
                        type='PatchInputAdapter',
                        in_channels=3,
                        patch_size=8,
                        image_size=16),
                    depth=dict(
                        type='PatchInputAdapter',
                        in_channels=1,
                        patch_size=8,
                        image_size=16),
                    semseg=dict(
                        type='SemSegInputAdapter',
                        num_classes=5,
                        patch_size=8,
                        class_embed_dims=4,
                        image_size=16)),
                embed_dims=16,
                num_layers=1,
                num_heads=2),
            heads=heads,
            mask_sampler=dict(type='DirichletMaskSampler', num_visible=4)))


def _inputs(batch=2):
    g = torch.Generator().manual_seed(0)
    return dict(
        rgb=torch.randn(batch, 3, 16, 16, generator=g),
        depth=torch.randn(batch, 1, 16, 16, generator=g),
        semseg=torch.randint(0, 5, (batch, 4, 4), generator=g))


def test_masks_do_not_touch_the_global_rng():
    model = _tiny_model().eval()
    inputs = _inputs()
    torch.manual_seed(1)
    state = torch.get_rng_state()
    a = sample_masks(model, inputs, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    b = sample_masks(model, inputs, seed=3)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert sum(int((~m[0]).sum()) for m in a.values()) == 4
    more = sample_masks(model, inputs, seed=3, num_visible=7)
    assert sum(int((~m[0]).sum()) for m in more.values()) == 7
    with pytest.raises(ValueError, match='num_visible'):
        sample_masks(model, inputs, seed=3, num_visible=13)
    spec = masks_from_spec(model, inputs, dict(rgb='visible', depth=2), 0)
    assert not spec['rgb'].any() and spec['semseg'].all()
    assert (~spec['depth']).sum(dim=1).tolist() == [2, 2]
    with pytest.raises(ValueError, match='not input modalities'):
        masks_from_spec(model, inputs, dict(normal='visible'), 0)


@pytest.mark.parametrize('norm_rgb_only', [False, True])
def test_tile_renderer(norm_rgb_only):
    model = _tiny_model(norm_rgb_only).eval()
    rows = reconstruction_rows(model)
    assert [(r.target, r.kind) for r in rows] == [
        ('rgb', 'rgb'), ('depth', 'depth'), ('semseg', 'semseg')
    ]
    assert model.heads['rgb'].norm_target == norm_rgb_only
    inputs = _inputs()
    masks = dict(
        rgb=torch.tensor([[True, False, True, True]] * 2),
        depth=torch.ones(2, 4, dtype=torch.bool),
        semseg=torch.tensor([[False, True, True, False]] * 2))
    with torch.no_grad():
        results = model(inputs, mode='predict', masks=masks)
    renderer = TileRenderer(
        model, metainfo=dict(semseg_palette=[(i, i, i) for i in range(5)]))
    tiles = renderer.tiles(inputs, results[1], 1)
    assert len(tiles) == 3
    (rgb_in, rgb_pred, rgb_gt), _, (seg_in, seg_pred, seg_gt) = tiles
    assert rgb_gt.shape == (16, 16, 3) and seg_gt.shape == (4, 4, 3)
    # top-right rgb patch is visible: input, prediction and truth agree
    assert np.array_equal(rgb_in[:8, 8:], rgb_gt[:8, 8:])
    assert np.array_equal(rgb_pred[:8, 8:], rgb_gt[:8, 8:])
    assert (rgb_in[:8, :8] == MASK_COLOR).all()
    # semseg drawn with the dataset palette: grey levels = class ids
    assert np.array_equal(seg_gt[..., 0], inputs['semseg'][1].numpy())
    assert np.array_equal(seg_pred[:2, :2], seg_gt[:2, :2])
