# Copyright (c) mmmultimae contributors. All rights reserved.
"""Weighted k-nearest-neighbour classification on cosine similarity."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor


def knn_classify(query: Tensor,
                 bank: Tensor,
                 bank_labels: Tensor,
                 num_classes: int,
                 k: int = 20,
                 temperature: float = 0.07,
                 leave_one_out: bool = False,
                 chunk_size: int = 1024) -> Tensor:
    """Class votes of the ``k`` most cosine-similar bank features.

    Every neighbour votes for its label with weight ``exp(s / T)``, ``s``
    its cosine similarity to the query (the weighted k-NN of Wu et al.,
    "Unsupervised Feature Learning via Non-Parametric Instance
    Discrimination", 2018, used as DINO's k-NN monitor). The similarity
    matrix is computed on the features' device in blocks of ``chunk_size``
    queries (one matrix product and one ``topk`` per block, no loop over
    samples), so memory stays ``chunk_size x N``.

    Args:
        query (Tensor): Query features ``(Q, D)``.
        bank (Tensor): Labelled features ``(N, D)``.
        bank_labels (Tensor): int64 labels ``(N,)`` in
            ``[0, num_classes)``.
        num_classes (int): Number of classes ``C``.
        k (int): Neighbours per query. Defaults to 20.
        temperature (float): ``T`` of the vote weights. Defaults to 0.07.
        leave_one_out (bool): ``query`` is ``bank`` (same rows, same
            order) and a sample is not its own neighbour. Defaults to False.
        chunk_size (int): Queries per block. Defaults to 1024.

    Returns:
        Tensor: float32 votes ``(Q, C)`` (the predicted class is their
        argmax; ties go to the smaller class index).
    """
    if query.dim() != 2 or bank.dim() != 2 or \
            query.shape[1] != bank.shape[1]:
        raise ValueError(f'query (Q, D) and bank (N, D) features must share '
                         f'D, got {tuple(query.shape)} and '
                         f'{tuple(bank.shape)}')
    if bank_labels.shape != (bank.shape[0], ):
        raise ValueError(f'bank_labels must be (N,) = ({bank.shape[0]},), '
                         f'got {tuple(bank_labels.shape)}')
    if leave_one_out and query.shape[0] != bank.shape[0]:
        raise ValueError('leave_one_out needs query and bank to be the same '
                         f'samples, got {query.shape[0]} and {bank.shape[0]}')
    available = bank.shape[0] - int(leave_one_out)
    if not 1 <= k <= available:
        raise ValueError(f'k must be in [1, {available}] (bank of '
                         f'{bank.shape[0]} samples'
                         f'{", leave-one-out" if leave_one_out else ""}), '
                         f'got {k}')
    if temperature <= 0:
        raise ValueError(f'temperature must be > 0, got {temperature}')
    labels = bank_labels.long()
    if labels.numel() and (int(labels.min()) < 0
                           or int(labels.max()) >= num_classes):
        raise ValueError(f'bank_labels must be in [0, {num_classes}), got '
                         f'[{int(labels.min())}, {int(labels.max())}]')
    query = F.normalize(query.float(), dim=1)
    bank = F.normalize(bank.float(), dim=1)
    votes = []
    for start in range(0, query.shape[0], chunk_size):
        block = query[start:start + chunk_size]
        sim = block @ bank.T
        if leave_one_out:
            rows = torch.arange(block.shape[0], device=sim.device)
            sim[rows, rows + start] = float('-inf')
        top_sim, top_idx = sim.topk(k, dim=1)
        weights = (top_sim / temperature).exp()
        votes.append(
            torch.zeros(
                block.shape[0], num_classes,
                device=sim.device).scatter_add_(1, labels[top_idx], weights))
    return torch.cat(votes)


def knn_accuracy(features: Tensor,
                 labels: Tensor,
                 num_classes: int,
                 k: int = 20,
                 temperature: float = 0.07,
                 bank: Optional[Tensor] = None,
                 bank_labels: Optional[Tensor] = None) -> float:
    """Top-1 accuracy of :func:`knn_classify`.

    Args:
        features (Tensor): Query features ``(Q, D)``.
        labels (Tensor): Their labels ``(Q,)``.
        num_classes (int): ``C``.
        k (int): Neighbours. Defaults to 20.
        temperature (float): Vote temperature. Defaults to 0.07.
        bank (Tensor, optional): Labelled features ``(N, D)``; None =
            leave-one-out on ``features``.
        bank_labels (Tensor, optional): Labels of ``bank``.

    Returns:
        float: Fraction of queries whose vote winner is their label.
    """
    if (bank is None) != (bank_labels is None):
        raise ValueError('give both bank and bank_labels, or neither')
    leave_one_out = bank is None
    if leave_one_out:
        bank, bank_labels = features, labels
    votes = knn_classify(features, bank, bank_labels.to(bank.device),
                         num_classes, k, temperature, leave_one_out)
    hits = votes.argmax(dim=1) == labels.to(votes.device).long()
    return float(hits.float().mean())
