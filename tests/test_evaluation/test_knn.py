# Copyright (c) mmmultimae contributors. All rights reserved.
"""Weighted k-NN classification and the KNNAccuracy metric."""
import numpy as np
import pytest
import torch

from mmmultimae.evaluation import KNNAccuracy, knn_accuracy, knn_classify


def knn_reference(query, bank, labels, num_classes, k, temperature,
                  leave_one_out):
    """Brute force, one query at a time, in float64 numpy."""
    query = query / np.linalg.norm(query, axis=1, keepdims=True)
    bank = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    votes = np.zeros((len(query), num_classes))
    for i, q in enumerate(query):
        sims = bank @ q
        candidates = [j for j in range(len(bank))
                      if not (leave_one_out and j == i)]
        nearest = sorted(candidates, key=lambda j: -sims[j])[:k]
        for j in nearest:
            votes[i, labels[j]] += np.exp(sims[j] / temperature)
    return votes


def clustered(num, num_classes, dims, seed, noise=1.5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_classes, dims))
    labels = rng.integers(num_classes, size=num)
    feats = centres[labels] + noise * rng.normal(size=(num, dims))
    return feats.astype(np.float32), labels


@pytest.mark.parametrize('k,temperature', [(1, 0.07), (5, 0.07), (7, 0.5)])
@pytest.mark.parametrize('leave_one_out', [True, False])
def test_knn_classify_matches_brute_force(k, temperature, leave_one_out):
    feats, labels = clustered(23, 3, 6, seed=k)
    bank, bank_labels = (feats, labels) if leave_one_out else clustered(
        17, 3, 6, seed=100 + k)
    # chunk_size 5 < 23 queries: the diagonal of later blocks is offset
    votes = knn_classify(
        torch.from_numpy(feats),
        torch.from_numpy(bank),
        torch.from_numpy(bank_labels),
        3,
        k,
        temperature,
        leave_one_out,
        chunk_size=5)
    expected = knn_reference(feats.astype(np.float64),
                             bank.astype(np.float64), bank_labels, 3, k,
                             temperature, leave_one_out)
    np.testing.assert_allclose(votes.numpy(), expected, rtol=1e-4)
    assert votes.argmax(1).tolist() == expected.argmax(1).tolist()
    acc = knn_accuracy(
        torch.from_numpy(feats),
        torch.from_numpy(labels),
        3,
        k,
        temperature,
        bank=None if leave_one_out else torch.from_numpy(bank),
        bank_labels=None
        if leave_one_out else torch.from_numpy(bank_labels))
    assert acc == pytest.approx(
        float((expected.argmax(1) == labels).mean()))


def test_knn_separates_clusters_and_is_scale_invariant():
    feats, labels = clustered(40, 4, 16, seed=0, noise=0.5)
    feats_t, labels_t = torch.from_numpy(feats), torch.from_numpy(labels)
    acc = knn_accuracy(feats_t, labels_t, 4, k=5)
    # well-separated clusters vs. the majority class
    assert acc > 0.8 > np.bincount(labels).max() / len(labels)
    scaled = feats_t * torch.rand(40, 1) * 10  # cosine: scale per sample
    assert knn_accuracy(scaled, labels_t, 4, k=5) == pytest.approx(acc)


def test_knn_rejects_bad_input():
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 0])
    with pytest.raises(ValueError, match=r'k must be in \[1, 4\]'):
        knn_classify(x, x, y, 2, k=5, leave_one_out=True)
    with pytest.raises(ValueError, match='bank_labels must be in'):
        knn_classify(x, x, y + 1, 2, k=2)
    with pytest.raises(ValueError, match='share'):
        knn_classify(x, torch.randn(5, 4), y, 2)
    with pytest.raises(ValueError, match='temperature'):
        knn_classify(x, x, y, 2, k=2, temperature=0)
    with pytest.raises(ValueError, match='same samples'):
        knn_classify(x, x[:4], y[:4], 2, leave_one_out=True)


def records(feats, labels, other=None):
    return [
        dict(
            sample_idx=i,
            gt_label=int(label),
            features=dict(
                mean=torch.as_tensor(f),
                **({} if other is None else {
                    'global': torch.as_tensor(other[i])
                })),
            stats={}) for i, (f, label) in enumerate(zip(feats, labels))
    ]


def test_knn_accuracy_metric():
    feats, labels = clustered(30, 3, 8, seed=1)
    noise = np.random.default_rng(2).normal(size=feats.shape)
    metric = KNNAccuracy(k=4, temperature=0.1)
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    metric.process({}, records(feats[:13], labels[:13], noise[:13]))
    metric.process({}, records(feats[13:], labels[13:], noise[13:]))
    result = metric.compute_metrics(metric.results)
    expected = knn_accuracy(
        torch.from_numpy(feats), torch.from_numpy(labels), 3, 4, 0.1)
    assert result == dict(top1=pytest.approx(expected))
    # the global token's features are noise: near chance
    metric = KNNAccuracy(k=4, temperature=0.1, pooling='global')
    metric.process({}, records(feats, labels, noise))
    assert metric.compute_metrics(metric.results)['top1'] < expected

    with pytest.raises(TypeError, match='MaskedReconstructionValLoop'):
        metric.process({}, [dict(pred=1)])
    bad = records(feats[:1], labels[:1])
    bad[0]['gt_label'] = None
    with pytest.raises(KeyError, match='gt_label'):
        metric.process({}, bad)
    with pytest.raises(ValueError, match='pooling'):
        KNNAccuracy(pooling='max')
    with pytest.raises(ValueError, match='k must be'):
        KNNAccuracy(k=0)
