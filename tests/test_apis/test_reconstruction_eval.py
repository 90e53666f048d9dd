# Copyright (c) mmmultimae contributors. All rights reserved.
"""Per-sample held-out statistics of a pre-training model
(``mmmultimae.apis.reconstruction_eval``) and the model's pooled
features."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmmultimae.apis import (build_eval_dataset, init_pretrain_model,
                             load_batch, masks_from_spec, preprocess)
from mmmultimae.apis.reconstruction_eval import (depth_scores, evaluate_batch,
                                                 fit_constant, fit_constants,
                                                 fixed_masks,
                                                 per_sample_losses,
                                                 reconstruction_eval_keys)
from mmmultimae.datasets import write_synthetic_dataset
from mmmultimae.evaluation import reduce_reconstruction_records
from mmmultimae.models.data_preprocessors import standardize_depth

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'tests', 'data', 'configs', 'tiny_multimae.py')


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('scenes'))
    write_synthetic_dataset(root, 5, image_size=40, progress=False)
    cfg = Config.fromfile(CONFIG)
    model = init_pretrain_model(cfg, None, 'cpu', seed=0)
    dataset = build_eval_dataset(cfg, root)
    batch = load_batch(dataset, range(5))
    return model, dataset, batch, preprocess(model, batch)['inputs']


def test_fixed_masks_depend_on_the_sample_only(setup):
    model, _, _, inputs = setup
    masks = fixed_masks(model, inputs, [0, 1, 2, 3, 4], seed=3)
    # visible budget per sample, over all modalities
    visible = sum((~m).sum(1) for m in masks.values())
    assert visible.tolist() == [model.num_visible] * 5
    # another batch composition, after the global RNG moved
    torch.rand(100)
    sub = {k: v[[3, 1]] for k, v in inputs.items()}
    again = fixed_masks(model, sub, [3, 1], seed=3)
    for name in masks:
        assert torch.equal(again[name], masks[name][[3, 1]]), name
    other = fixed_masks(model, inputs, [0, 1, 2, 3, 4], seed=4)
    assert any(not torch.equal(other[n], masks[n]) for n in masks)
    with pytest.raises(ValueError, match='4 sample ids for a batch of 5'):
        fixed_masks(model, inputs, [0, 1, 2, 3], seed=3)


def test_per_sample_losses_average_to_the_batch_loss(setup):
    model, _, _, inputs = setup
    masks = fixed_masks(model, inputs, range(5), seed=0)
    with torch.no_grad():
        preds = model(inputs, mode='tensor', masks=masks)['preds']
        for name, head in model.heads.items():
            losses, counted = per_sample_losses(head, preds[name], inputs,
                                                masks)
            assert counted.tolist() == [1.] * 5
            assert float(losses.mean()) == pytest.approx(
                float(head.loss(preds[name], inputs, masks)), rel=1e-5)


def test_statistics_do_not_depend_on_batching(setup):
    model, dataset, batch, inputs = setup
    constants = fit_constants(model, [inputs])
    whole = evaluate_batch(model, batch, 0, ('rgb', ), constants)
    parts = []
    for ids in ([0, 1], [2, 3], [4]):
        parts += evaluate_batch(model, load_batch(dataset, ids), 0,
                                ('rgb', ), constants)
    assert [r['sample_idx'] for r in parts] == list(range(5))
    keys = reconstruction_eval_keys(model, ('rgb', ))
    assert list(whole[0]['stats']) == keys
    assert 'rgb_only/l1_depth' in keys and 'baseline/rgb_only/miou_semseg' \
        in keys and 'rgb_only/loss_rgb' not in keys
    a = reduce_reconstruction_records(whole)
    b = reduce_reconstruction_records(parts)
    assert list(a) == keys
    for key in keys:
        assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), key
    for ra, rb in zip(whole, parts):
        assert torch.allclose(ra['features']['mean'], rb['features']['mean'],
                              atol=1e-5)
        assert ra['gt_label'] == rb['gt_label'] is not None
    # the constant does not use the model: equal for another model
    other = init_pretrain_model(Config.fromfile(CONFIG), None, seed=1)
    c = reduce_reconstruction_records(
        evaluate_batch(other, batch, 0, ('rgb', ), constants))
    base = [k for k in keys if k.startswith('baseline/')]
    assert all(c[k] == pytest.approx(a[k]) for k in base)
    assert c['loss_rgb'] != pytest.approx(a['loss_rgb'])


def test_rgb_only_features_are_the_encoder_features_of_rgb(setup):
    model, _, batch, inputs = setup
    rgb_only = masks_from_spec(model, inputs, {'rgb': 'visible'}, 0)
    with torch.no_grad():
        tokens = model(inputs, mode='tensor', masks=rgb_only)['tokens']
        records = evaluate_batch(model, batch, 0, ('rgb', ))
        for pooling in ('mean', 'global'):
            feats = model.extract_feat({'rgb': inputs['rgb']}, pooling)
            assert feats.shape == (5, 32)
            assert torch.allclose(
                model.pool_tokens(tokens, pooling), feats, atol=1e-5)
            stored = torch.stack([r['features'][pooling] for r in records])
            assert torch.allclose(stored, feats, atol=1e-5)
    assert torch.equal(model.pool_tokens(tokens, 'global'), tokens[:, -1])
    assert torch.equal(
        model.pool_tokens(tokens, 'mean'), tokens[:, :-1].mean(1))
    with pytest.raises(ValueError, match='pooling must be'):
        model.pool_tokens(tokens, 'max')


def test_depth_scores_are_in_the_input_units(setup):
    model, _, batch, inputs = setup
    head = model.heads['depth']
    raw = torch.stack(batch['inputs']['depth'])
    assert torch.allclose(standardize_depth(raw), inputs['depth'])
    # the standardised truth, mapped back: no error
    l1, delta1 = depth_scores(model, head, head.target_patches(
        inputs['depth']), raw)
    assert torch.all(l1[:, 0] / l1[:, 1] < 1e-4)
    assert delta1[:, 0].tolist() == delta1[:, 1].tolist() == [1024.] * 5
    # predicting 0 (the mean) everywhere: error |d - trimmed mean|, metres
    l1, _ = depth_scores(model, head, torch.zeros(5, 16, 64), raw)
    flat = raw.flatten(1)
    kept = flat.sort(1).values[:, 102:921]  # trim 0.1 of 1024
    expected = (flat - kept.mean(1, keepdim=True)).abs().mean(1)
    assert torch.allclose((l1[:, 0] / l1[:, 1]).float(), expected, rtol=1e-4)


def test_fit_constant_per_loss():
    model = init_pretrain_model(Config.fromfile(CONFIG), None, seed=0)
    depth = torch.arange(2 * 32 * 32, dtype=torch.float32).reshape(
        2, 1, 32, 32)
    assert fit_constant(model, 'depth', [depth]).tolist() == [1023.]
    rgb = torch.zeros(1, 3, 32, 32)
    rgb[:, 1] = 2.
    assert fit_constant(model, 'rgb', [rgb]).tolist() == [0., 2., 0.]
    labels = torch.tensor([[[1, 1, 1, 2]] * 4])
    prior = fit_constant(model, 'semseg', [labels]).exp()
    assert prior[1] == pytest.approx(0.75) and prior[2] == pytest.approx(0.25)
    assert prior.argmax() == 1
