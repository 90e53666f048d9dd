# Copyright (c) mmmultimae contributors. All rights reserved.
import os

import pytest
import torch
from mmengine.structures import BaseDataElement

from mmmultimae.models.data_preprocessors import (MultiModalDataPreprocessor,
                                                  standardize_depth)
from mmmultimae.registry import MODELS

MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]
STD = [0.229 * 255, 0.224 * 255, 0.225 * 255]
FIXTURE = os.path.join(
    os.path.dirname(__file__), '..', 'data', 'official_multimae_tiny.pth')


def make_preprocessor(**kwargs):
    cfg = dict(
        type='MultiModalDataPreprocessor',
        rgb=dict(mean=MEAN, std=STD),
        depth=dict(standardize=True, trim=0.1),
        semseg=dict(num_classes=7))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def make_batch(batch=3, h=32, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        inputs=dict(
            rgb=[
                torch.randint(
                    0, 256, (3, h, w), dtype=torch.uint8, generator=g)
                for _ in range(batch)
            ],
            depth=[
                torch.rand(1, h, w, generator=g) * (i + 1) * 10
                for i in range(batch)
            ],
            semseg=[
                torch.randint(0, 7, (h // 4, w // 4), generator=g)
                for _ in range(batch)
            ]),
        data_samples=[
            BaseDataElement(metainfo=dict(idx=i)) for i in range(batch)
        ])


def reference_standardize(depth, trim=0.1, eps=1e-6):
    out = []
    for d in depth:
        v = d.flatten().sort().values
        n = v.numel()
        t = v[int(trim * n):int((1 - trim) * n)]
        out.append((d - t.mean()) / torch.sqrt(t.var() + eps))
    return torch.stack(out)


def test_standardize_depth_matches_per_sample_reference():
    g = torch.Generator().manual_seed(0)
    depth = torch.rand(
        4, 1, 10, 13, generator=g) * torch.tensor([1., 5., 50., 2.]).view(
            4, 1, 1, 1)
    out = standardize_depth(depth)
    assert torch.allclose(out, reference_standardize(depth), atol=1e-5)
    # The kept 80 % of every sample has mean 0 and unbiased variance ~1
    # (up to the eps of 1e-6).
    kept = out.flatten(1).sort(1).values[:, 13:117]
    assert kept.mean(1).abs().max() < 1e-5
    assert torch.allclose(kept.var(1), torch.ones(4), atol=1e-4)
    with pytest.raises(ValueError, match='trim'):
        standardize_depth(depth, trim=0.5)


def test_standardize_depth_matches_official_example():
    example = torch.load(
        FIXTURE,
        weights_only=True)['pretrain']['depth_standardization_example']
    out = standardize_depth(example['depth_raw'])
    assert torch.allclose(out, example['depth_standardized'], atol=1e-6)


def test_outputs():
    pre = make_preprocessor()
    data = make_batch()
    out = pre(data, training=True)
    inputs = out['inputs']
    assert list(inputs) == ['rgb', 'depth', 'semseg']
    rgb = torch.stack(data['inputs']['rgb']).float()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    assert inputs['rgb'].dtype == torch.float32
    assert torch.allclose(inputs['rgb'], (rgb / 255 - mean) / std, atol=1e-5)
    depth = torch.stack(data['inputs']['depth'])
    assert torch.allclose(
        inputs['depth'], reference_standardize(depth), atol=1e-5)
    assert inputs['semseg'].dtype == torch.int64
    assert inputs['semseg'].shape == (3, 8, 12)
    assert [s.idx for s in out['data_samples']] == [0, 1, 2]
    # Stacked inputs are accepted too.
    stacked = dict(inputs={
        k: torch.stack(v)
        for k, v in data['inputs'].items()
    })
    out2 = pre(stacked)
    assert torch.equal(out2['inputs']['rgb'], inputs['rgb'])
    assert out2['data_samples'] is None


def test_pass_through_and_subsets():
    pre = make_preprocessor(mask=dict())
    data = make_batch()
    data['inputs'].pop('depth')
    data['inputs']['mask'] = [torch.ones(1, 32, 48, dtype=torch.uint8)] * 3
    out = pre(data)['inputs']
    assert set(out) == {'rgb', 'semseg', 'mask'}
    assert out['mask'].dtype == torch.float32


def test_nan_depth_names_modality_and_sample():
    data = make_batch()
    data['inputs']['depth'][1][0, 3, 4] = float('nan')
    with pytest.raises(ValueError, match=r"'depth'.*NaN.*\[1\]"):
        make_preprocessor()(data)
    data = make_batch()
    data['inputs']['depth'][2][0, 0, 0] = float('inf')
    with pytest.raises(ValueError, match=r'\[2\]'):
        make_preprocessor()(data)


def test_semseg_id_range():
    data = make_batch()
    data['inputs']['semseg'][0][1, 1] = 7
    with pytest.raises(ValueError, match=r"'semseg'.*\[0, 7\).*\[0\].*7"):
        make_preprocessor()(data)
    data = make_batch()
    data['inputs']['semseg'][2][0, 0] = -1
    with pytest.raises(ValueError, match=r'samples \[2\]'):
        make_preprocessor()(data)
    data = make_batch()
    data['inputs']['semseg'][1][0, 0] = 255
    out = make_preprocessor(semseg=dict(num_classes=7, ignore_index=255))(data)
    assert out['inputs']['semseg'][1, 0, 0] == 255
    data['inputs']['semseg'][1] = data['inputs']['semseg'][1].float()
    with pytest.raises(ValueError, match='integer label maps'):
        make_preprocessor(semseg=dict(num_classes=7, ignore_index=255))(data)


def test_size_mismatches():
    data = make_batch()
    data['inputs']['depth'] = [torch.rand(1, 32, 32) for _ in range(3)]
    with pytest.raises(ValueError, match='same image'):
        make_preprocessor()(data)
    data = make_batch()
    data['inputs']['semseg'] = [torch.randint(0, 7, (32, 48))] * 3
    with pytest.raises(
            ValueError, match=r'semseg \(32, 48\) '
            r'\(stride_level 4\)'):
        make_preprocessor()(data)
    out = make_preprocessor(semseg=dict(num_classes=7, stride_level=1))(data)
    assert out['inputs']['semseg'].shape == (3, 32, 48)
    data = make_batch()
    data['inputs']['rgb'][1] = data['inputs']['rgb'][1][:, :16]
    with pytest.raises(ValueError, match='different shapes'):
        make_preprocessor()(data)
    data = make_batch()
    data['inputs']['depth'] = data['inputs']['depth'][:2]
    with pytest.raises(ValueError, match='batch sizes'):
        make_preprocessor()(data)


def test_config_and_input_errors():
    with pytest.raises(ValueError, match='at least one modality'):
        MultiModalDataPreprocessor()
    with pytest.raises(ValueError, match="unknown keys \\['scale'\\]"):
        make_preprocessor(depth=dict(scale=2.))
    with pytest.raises(ValueError, match='both mean and std'):
        make_preprocessor(rgb=dict(mean=MEAN))
    with pytest.raises(ValueError, match='exclusive'):
        make_preprocessor(rgb=dict(mean=MEAN, std=STD, standardize=True))
    with pytest.raises(ValueError, match='positive'):
        make_preprocessor(rgb=dict(mean=MEAN, std=[1., 0., 1.]))
    data = make_batch()
    data['inputs']['normal'] = [torch.rand(3, 32, 48)] * 3
    with pytest.raises(KeyError, match=r"\['normal'\]"):
        make_preprocessor()(data)
    data = make_batch()
    data['inputs']['rgb'] = [t[:2] for t in data['inputs']['rgb']]
    with pytest.raises(ValueError, match='2 channels'):
        make_preprocessor()(data)
    with pytest.raises(TypeError, match='inputs'):
        make_preprocessor()(dict(inputs=torch.zeros(1)))
