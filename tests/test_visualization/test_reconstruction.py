# Copyright (c) mmmultimae contributors. All rights reserved.
"""Drawing functions and model glue of the reconstruction figures."""
import numpy as np
import pytest
import torch

from mmmultimae.models.losses import normalize_patches
from mmmultimae.models.utils.patchify import patchify, unpatchify
from mmmultimae.registry import MODELS
from mmmultimae.utils import register_all_modules
from mmmultimae.visualization import (
    TileRenderer, colorize_depth, colorize_semseg, denormalize_patches,
    denormalize_rgb, eval_pipeline, grid_size, make_grid, make_palette,
    mask_image, masks_from_spec, parse_mask_spec, paste_visible,
    reconstruction_rows, sample_masks, upsample_mask, viridis)
from mmmultimae.visualization.reconstruction import (HEADER_HEIGHT,
                                                     LABEL_WIDTH, MASK_COLOR,
                                                     PAD)


def test_colour_maps():
    assert viridis(np.array([0.]))[0].tolist() == [68, 1, 84]
    assert viridis(np.array([1.]))[0].tolist() == [253, 231, 37]
    assert viridis(np.array([np.nan]))[0].tolist() == [0, 0, 0]
    depth = np.array([[1., 2.], [3., 5.]])
    img = colorize_depth(depth, 1., 5.)
    assert img.shape == (2, 2, 3) and img.dtype == np.uint8
    assert img[0, 0].tolist() == [253, 231, 37]  # near = bright
    assert img[1, 1].tolist() == [68, 1, 84]
    with pytest.raises(ValueError, match='vmax'):
        colorize_depth(depth, 2., 2.)
    palette = make_palette(133)
    assert palette.shape == (133, 3)
    assert len({tuple(c) for c in palette.tolist()}) == 133
    labels = np.array([[0, 1], [132, 255]])
    out = colorize_semseg(labels, palette)
    assert out[0, 1].tolist() == palette[1].tolist()
    assert out[1, 1].tolist() == [0, 0, 0]  # ignore id


def test_rgb_round_trip_and_masks():
    mean, std = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    pixels = np.random.default_rng(0).integers(0, 256, (8, 8, 3))
    norm = (pixels.transpose(2, 0, 1) - np.reshape(mean, (3, 1, 1))) / \
        np.reshape(std, (3, 1, 1))
    assert np.array_equal(denormalize_rgb(norm, mean, std), pixels)

    mask = np.array([[True, False], [False, True]])
    big = upsample_mask(mask, (8, 8))
    assert big.shape == (8, 8) and big[:4, :4].all() and not big[:4, 4:].any()
    with pytest.raises(ValueError, match='multiple'):
        upsample_mask(mask, (7, 8))
    pred, target = np.zeros((1, 8, 8)), np.ones((1, 8, 8))
    pasted = paste_visible(pred, target, mask)
    assert (pasted[0][big] == 0).all() and (pasted[0][~big] == 1).all()
    image = np.full((8, 8, 3), 7, np.uint8)
    masked = mask_image(image, mask)
    assert (masked[big] == MASK_COLOR).all() and (masked[~big] == 7).all()
    assert (mask_image(image, None) == MASK_COLOR).all()


def test_make_grid_places_tiles():
    tiles = [[
        np.full((4, 4, 3), 10 * (r * 2 + c), np.uint8) for c in range(2)
    ] for r in range(3)]
    tiles[1][0] = None
    grid = make_grid(
        tiles, ['a', 'b', 'c'], ['x', 'y'], tile=(8, 8), title='img')
    assert grid.shape[:2] == grid_size(3, 2, (8, 8))
    for r in range(3):
        for c in range(2):
            y = HEADER_HEIGHT + PAD + r * (8 + PAD)
            x = LABEL_WIDTH + PAD + c * (8 + PAD)
            cell = grid[y:y + 8, x:x + 8]
            expected = 255 if (r, c) == (1, 0) else 10 * (r * 2 + c)
            assert (cell == expected).all(), (r, c)
    with pytest.raises(ValueError, match='rows x 2 columns'):
        make_grid(tiles, ['a', 'b'], ['x', 'y'])


def test_denormalize_patches_inverts_the_norm_pix_target():
    target = torch.randn(3, 16, 16) * 5 + 2
    normed = normalize_patches(patchify(target[None], 8))
    pred = unpatchify(normed, (2, 2), 8, 3)[0]
    assert torch.allclose(
        denormalize_patches(pred, target, (8, 8)), target, atol=1e-4)


def test_mask_spec_and_eval_pipeline():
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

    decoders = dict(rgb=dec(3), depth=dec(1), semseg=dec(5, stride_level=4))
    losses = dict(
        rgb=dict(type='MaskedMSELoss'),
        depth=dict(type='MaskedL1Loss'),
        semseg=dict(type='MaskedCrossEntropyLoss'))
    if norm_rgb_only:
        losses['rgb'] = dict(type='MaskedMSELoss', norm_target=True)
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
            decoders=decoders,
            losses=losses,
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
    assert [(r.target, r.kind, r.norm_target)
            for r in rows] == [('rgb', 'rgb', norm_rgb_only),
                               ('depth', 'depth', False),
                               ('semseg', 'semseg', False)]
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
