# Copyright (c) mmmultimae contributors. All rights reserved.
import pytest
import torch
from official_fixtures import load_transfer_fixture

from mmmultimae.models.data_preprocessors import standardize_depth

#: The semseg dataset's pad value, which marks invalid depth there.
SEMSEG_DEPTH_PAD = 254


@pytest.fixture(scope='module')
def fixture():
    return load_transfer_fixture()


def test_depth_script_variant(fixture):
    """run_finetuning_depth.py: invalid pixels leave the statistics and
    become 0."""
    section = fixture['depth_input_standardization']
    depth = section['inputs']['depth']
    valid = section['inputs']['mask_valid']
    expected = section['outputs']['depth_script_evaluate']['depth']
    out = standardize_depth(depth, valid)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    assert torch.equal(out[~valid], torch.zeros(int((~valid).sum())))
    assert not torch.equal(depth, out)  # input untouched, output new


def test_semseg_dataset_variant_equals_invalid_to_zero(fixture):
    """utils/datasets_semseg.py: 254 -> NaN -> trimmed mean, then
    standardised; those pixels come out as exactly 0, so the same function
    with ``valid = depth != 254`` reproduces it."""
    section = fixture['semseg_metrics']
    depth = section['inputs']['standardize_depth_input'].clone()
    expected = section['outputs']['standardize_depth_map']['output']
    pad = depth == SEMSEG_DEPTH_PAD
    assert pad.any()
    out = standardize_depth(depth[None, None], ~pad[None, None])[0, 0]
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    assert (expected[pad] == 0).all() and (out[pad] == 0).all()
    # ours does not write NaN into the caller's tensor (official does)
    assert torch.equal(depth, section['inputs']['standardize_depth_input'])


def _sorted_slice_reference(depth, trim, eps):
    """The pre-training rule written plainly: sort all pixels, keep
    ``[int(trim n), int((1 - trim) n))``, mean and unbiased variance."""
    flat = depth.reshape(depth.shape[0], -1)
    n = flat.shape[1]
    kept = flat.sort(dim=1).values[:, int(trim * n):int((1 - trim) * n)]
    mean = kept.mean(1).view(-1, 1, 1, 1)
    std = (kept.var(1, unbiased=True) + eps).sqrt().view(-1, 1, 1, 1)
    return (depth - mean) / std


def test_without_mask_equals_pretraining_standardisation():
    torch.manual_seed(0)
    depth = torch.rand(3, 1, 13, 17) * 10
    torch.testing.assert_close(
        standardize_depth(depth),
        _sorted_slice_reference(depth, 0.1, 1e-6),
        rtol=1e-5,
        atol=1e-6)
    torch.testing.assert_close(
        standardize_depth(depth, trim=0.25, eps=1e-3),
        _sorted_slice_reference(depth, 0.25, 1e-3),
        rtol=1e-5,
        atol=1e-6)
    # an all-True mask is the same as no mask
    torch.testing.assert_close(
        standardize_depth(depth, torch.ones_like(depth, dtype=bool)),
        standardize_depth(depth))


def test_per_sample_statistics_hand_computed():
    # sample 0: valid values 1..10 (shuffled) plus invalid junk
    values = torch.tensor([7., 3., 10., 1., 5., 9., 2., 8., 4., 6.])
    depth = torch.full((2, 1, 3, 4), 1e6)
    valid = torch.zeros(2, 1, 3, 4, dtype=torch.bool)
    depth[0].view(-1)[:10] = values
    valid[0].view(-1)[:10] = True
    depth[0, 0, 2, 3] = float('nan')  # invalid pixels may hold anything
    # sample 1: all 12 valid, values 0..11 -> keep [1, 10): 1..9
    depth[1] = torch.arange(12.).view(1, 3, 4)
    valid[1] = True
    out = standardize_depth(depth, valid, trim=0.1, eps=0.0)
    # sample 0: n=10 -> keep sorted [1, 9): 2..9, mean 5.5, var 6
    expected0 = (values - 5.5) / 6**0.5
    torch.testing.assert_close(out[0].view(-1)[:10], expected0)
    assert (out[0].view(-1)[10:] == 0).all()
    # sample 1: n=12 -> keep [1, 10): 1..9, mean 5, var 7.5
    torch.testing.assert_close(out[1],
                               (torch.arange(12.).view(1, 3, 4) - 5) / 7.5**.5)


def test_samples_with_too_few_valid_pixels_become_zero():
    torch.manual_seed(0)
    depth = torch.rand(4, 1, 5, 5) + 1
    valid = torch.zeros(4, 1, 5, 5, dtype=torch.bool)
    valid[1].view(-1)[:2] = True  # n=2 -> keeps [0, 1): 1 value
    valid[2].view(-1)[:3] = True  # n=3 -> keeps [0, 2): usable
    valid[3] = True
    out = standardize_depth(depth, valid)
    assert torch.isfinite(out).all()
    assert (out[0] == 0).all() and (out[1] == 0).all()
    assert (out[2].view(-1)[:3] != 0).any()
    torch.testing.assert_close(out[3], standardize_depth(depth[3:])[0])


def test_bad_inputs():
    depth = torch.rand(2, 1, 4, 4)
    with pytest.raises(TypeError, match='bool'):
        standardize_depth(depth, torch.ones_like(depth))
    with pytest.raises(ValueError, match='shape of depth'):
        standardize_depth(depth, torch.ones(2, 1, 4, 5, dtype=bool))
    with pytest.raises(ValueError, match='trim'):
        standardize_depth(depth, trim=0.5)
    with pytest.raises(ValueError, match='at least 2'):
        standardize_depth(torch.rand(2, 1, 1, 2))
