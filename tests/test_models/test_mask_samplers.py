# Copyright (c) mmmultimae contributors. All rights reserved.
import pytest
import torch

from mmmultimae.models.mask_samplers import (DirichletMaskSampler,
                                             UniformMaskSampler, masks_to_ids)
from mmmultimae.models.utils.token_layout import TokenLayout
from mmmultimae.registry import TASK_UTILS

LAYOUT = TokenLayout({'rgb': (4, 6), 'depth': (4, 6), 'semseg': (4, 6)})


def visible_counts(masks):
    """(B, M) visible tokens per modality."""
    return torch.stack([(~m).sum(1) for m in masks.values()], dim=1)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize('sampler', [
    DirichletMaskSampler(20),
    DirichletMaskSampler(20, alpha=0.2),
    DirichletMaskSampler(20, alpha=[0.5, 1., 2.]),
    DirichletMaskSampler(20, alpha='inf'),
    DirichletMaskSampler(20, sample_modalities_uniformly=True),
    DirichletMaskSampler(
        20, alpha=float('inf'), sample_modalities_uniformly=True),
    UniformMaskSampler(20),
])
@pytest.mark.parametrize('batch', [1, 2, 7, 64])
def test_exact_budget(sampler, batch):
    masks = sampler(LAYOUT, batch, 'cpu', gen(batch))
    assert list(masks) == LAYOUT.modalities
    for name, m in masks.items():
        assert m.dtype == torch.bool
        assert m.shape == (batch, LAYOUT.num_tokens[name])
    assert (visible_counts(masks).sum(1) == 20).all()


@pytest.mark.parametrize('num_visible', [0, 1, 36, 71, 72])
def test_budget_extremes(num_visible):
    for sampler in (DirichletMaskSampler(num_visible, alpha=0.3),
                    UniformMaskSampler(num_visible)):
        masks = sampler(LAYOUT, 16, 'cpu', gen())
        assert (visible_counts(masks).sum(1) == num_visible).all()


def test_alpha_inf_gives_equal_split():
    for k in (20, 21, 22, 50):
        masks = DirichletMaskSampler(
            k, alpha='inf')(LAYOUT, 256, 'cpu', gen(k))
        counts = visible_counts(masks).float()
        assert (counts.sum(1) == k).all()
        assert ((counts - k / 3).abs() <= 1).all()
        assert (counts.max(1).values - counts.min(1).values <= 1).all()
    masks = DirichletMaskSampler(21, alpha='inf')(LAYOUT, 8, 'cpu', gen())
    assert (visible_counts(masks) == 7).all()


def test_small_alpha_concentrates_on_one_modality():
    masks = DirichletMaskSampler(20, alpha=0.05)(LAYOUT, 2000, 'cpu', gen())
    share = visible_counts(masks).float() / 20
    assert share.max(1).values.mean() > 0.8
    # alpha = 1 is uniform on the simplex: E[max share] = 11/18 for 3 parts.
    masks = DirichletMaskSampler(20, alpha=1.)(LAYOUT, 2000, 'cpu', gen())
    share = visible_counts(masks).float() / 20
    assert abs(share.max(1).values.mean() - 11 / 18) < 0.04
    # Every modality is equally likely to dominate.
    winner = torch.bincount(share.argmax(1), minlength=3).float() / 2000
    assert (winner - 1 / 3).abs().max() < 0.05


def test_per_modality_alpha_sets_mean_shares():
    masks = DirichletMaskSampler(
        20, alpha=[0.5, 1., 2.])(LAYOUT, 4000, 'cpu', gen())
    share = visible_counts(masks).float().mean(0) / 20
    expected = torch.tensor([0.5, 1., 2.]) / 3.5
    assert (share - expected).abs().max() < 0.03


def test_uniform_subset_sampling():
    masks = DirichletMaskSampler(
        20, sample_modalities_uniformly=True)(LAYOUT, 4000, 'cpu', gen())
    counts = visible_counts(masks)
    single = (counts > 0).sum(1) == 1
    # 3 of the 7 non-empty subsets are singletons (pairs can also round a
    # share to 0, rarely).
    assert 0.38 < single.float().mean() < 0.5
    # ... and a singleton gets the whole budget.
    assert (counts[single].max(1).values == 20).all()
    # Equal split inside the chosen subset with alpha = inf.
    masks = DirichletMaskSampler(
        24, alpha='inf', sample_modalities_uniformly=True)(LAYOUT, 2000, 'cpu',
                                                           gen())
    counts = visible_counts(masks)
    used = (counts > 0).sum(1)
    for k, subsets in ((1, 3), (2, 3), (3, 1)):
        sel = counts[used == k]
        assert abs(len(sel) / 2000 - subsets / 7) < 0.04
        assert ((sel == 24 // k) | (sel == 0)).all()


def test_requests_above_modality_size_are_absorbed():
    layout = TokenLayout({'rgb': (2, 2), 'depth': (4, 6)})
    sampler = DirichletMaskSampler(20, alpha=[1000., 1e-3])
    masks = sampler(layout, 128, 'cpu', gen())
    counts = visible_counts(masks)
    assert (counts[:, 0] == 4).all()  # all rgb tokens visible
    assert (counts[:, 1] == 16).all()  # the rest from depth
    # The extra depth tokens are random positions, not a fixed block.
    freq = (~masks['depth']).float().mean(0)
    assert freq.min() > 0.45 and freq.max() < 0.9


def test_visible_positions_are_uniform():
    masks = UniformMaskSampler(18)(LAYOUT, 4000, 'cpu', gen())
    freq = torch.cat([(~m).float().mean(0) for m in masks.values()])
    assert (freq - 18 / 72).abs().max() < 0.04
    masks = DirichletMaskSampler(18, alpha='inf')(LAYOUT, 4000, 'cpu', gen())
    freq = torch.cat([(~m).float().mean(0) for m in masks.values()])
    assert (freq - 6 / 24).abs().max() < 0.04


def test_generator_reproducibility():
    sampler = DirichletMaskSampler(20)
    a = sampler(LAYOUT, 8, 'cpu', gen(3))
    b = sampler(LAYOUT, 8, 'cpu', gen(3))
    c = sampler(LAYOUT, 8, 'cpu', gen(4))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_invalid_arguments():
    with pytest.raises(ValueError, match='exceeds'):
        DirichletMaskSampler(73)(LAYOUT, 2)
    with pytest.raises(ValueError, match='exceeds'):
        UniformMaskSampler(73)(LAYOUT, 2)
    with pytest.raises(ValueError, match='2 alphas'):
        DirichletMaskSampler(10, alpha=[1., 2.])(LAYOUT, 2)
    with pytest.raises(ValueError, match='positive'):
        DirichletMaskSampler(10, alpha=0.)
    with pytest.raises(ValueError, match='mix'):
        DirichletMaskSampler(10, alpha=[1., 'inf', 1.])
    with pytest.raises(ValueError, match='alpha'):
        DirichletMaskSampler(10, alpha='one')
    with pytest.raises(ValueError, match='num_visible'):
        UniformMaskSampler(-1)


def test_build_from_registry():
    sampler = TASK_UTILS.build(
        dict(type='DirichletMaskSampler', num_visible=9, alpha='inf'))
    assert sampler.equal_split and sampler.num_visible == 9
    assert 'alpha=inf' in repr(sampler)
    sampler = TASK_UTILS.build(
        dict(type='UniformMaskSampler', num_visible=5))
    assert (visible_counts(sampler(LAYOUT, 3)).sum(1) == 5).all()


def reference_ids(mask_all):
    """Per-sample reference: visible indices ascending, then masked."""
    keep, restore = [], []
    for row in mask_all:
        vis = torch.nonzero(~row)[:, 0]
        hid = torch.nonzero(row)[:, 0]
        shuffle = torch.cat([vis, hid])
        keep.append(vis)
        restore.append(torch.argsort(shuffle))
    return torch.stack(keep), torch.stack(restore)


def test_masks_to_ids_matches_per_sample_reference():
    # Different splits per sample, a fully visible and a fully masked
    # modality in some samples.
    masks = DirichletMaskSampler(24, alpha=0.1)(LAYOUT, 12, 'cpu', gen())
    masks['rgb'][0] = False
    masks['depth'][0] = True
    masks['semseg'][0] = True
    masks['depth'][1] = False
    masks['rgb'][1] = True
    masks['semseg'][1] = True
    ids_keep, ids_restore = masks_to_ids(masks)
    mask_all = torch.cat(list(masks.values()), dim=1)
    ref_keep, ref_restore = reference_ids(mask_all)
    assert torch.equal(ids_keep, ref_keep)
    assert torch.equal(ids_restore, ref_restore)
    assert torch.equal(ids_keep[0], torch.arange(24))
    assert torch.equal(ids_keep[1], torch.arange(24, 48))
    # Undoing the shuffle puts every token back.
    tokens = torch.randn(12, 72, 5)
    visible = torch.gather(tokens, 1, ids_keep[..., None].expand(-1, -1, 5))
    full = torch.cat([visible, torch.zeros(12, 48, 5)], dim=1)
    full = torch.gather(full, 1, ids_restore[..., None].expand(-1, -1, 5))
    assert torch.equal(full[~mask_all], tokens[~mask_all])
    # The same with a known count (no check, no host sync).
    keep2, restore2 = masks_to_ids(masks, num_visible=24)
    assert torch.equal(keep2, ids_keep) and torch.equal(restore2, ids_restore)


def test_masks_to_ids_accepts_int_masks_and_checks_counts():
    masks = {
        'a': torch.tensor([[1, 0, 0], [0, 0, 1]]),
        'b': torch.tensor([[1, 1], [1, 1]])
    }
    ids_keep, ids_restore = masks_to_ids(masks)
    assert ids_keep.tolist() == [[1, 2], [0, 1]]
    assert ids_restore.tolist() == [[2, 0, 1, 3, 4], [0, 1, 2, 3, 4]]
    bad = {'a': torch.tensor([[1, 0, 0], [0, 0, 0]])}
    with pytest.raises(ValueError, match=r'\[2, 3\]'):
        masks_to_ids(bad)
    with pytest.raises(ValueError, match='shape'):
        masks_to_ids({'a': torch.zeros(3, dtype=torch.bool)})
    # Everything masked is valid (no visible token).
    keep, restore = masks_to_ids({'a': torch.ones(2, 4, dtype=torch.bool)})
    assert keep.shape == (2, 0) and restore.tolist()[0] == [0, 1, 2, 3]
