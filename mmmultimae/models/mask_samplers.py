# Copyright (c) mmmultimae contributors. All rights reserved.
"""Token mask samplers of masked multi-modal modelling.

A sampler is called as ``sampler(layout, batch_size, device, generator,
num_visible)`` and returns ``{modality: BoolTensor (B, N_m)}`` with
**True = masked**. Sampling is
vectorised over the batch and stays on ``device``: random keys per token,
per-sample budgets, and ranks from ``argsort``; no host synchronisation and
no Python loop over samples.
"""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from mmmultimae.registry import TASK_UTILS
from .utils.token_layout import TokenLayout


def _rand(shape: Tuple[int, ...], device: torch.device,
          generator: Optional[torch.Generator]) -> Tensor:
    return torch.rand(shape, device=device, generator=generator)


def _check_num_visible(num_visible: int) -> int:
    if int(num_visible) != num_visible or num_visible < 0:
        raise ValueError('num_visible must be a non-negative int, got '
                         f'{num_visible!r}')
    return int(num_visible)


def _check_budget(num_visible: int, layout: TokenLayout) -> None:
    if num_visible > layout.total_tokens:
        raise ValueError(
            f'num_visible={num_visible} exceeds the {layout.total_tokens} '
            f'tokens of the input modalities {layout.num_tokens}')


def _token_modality_index(layout: TokenLayout,
                          device: torch.device) -> Tuple[Tensor, Tensor]:
    """Modality index and modality start offset of every token, ``(N, )``
    each, built on the device without host-to-device copies."""
    index, start = [], []
    for i, sl in enumerate(layout.slices.values()):
        size = sl.stop - sl.start
        index.append(torch.full((size, ), i, device=device))
        start.append(torch.full((size, ), sl.start, device=device))
    return torch.cat(index), torch.cat(start)


def _split_masks(mask: Tensor, layout: TokenLayout) -> Dict[str, Tensor]:
    return {name: mask[:, sl] for name, sl in layout.slices.items()}


def _exact_budget_mask(visible: Tensor, num_visible: int,
                       generator: Optional[torch.Generator]) -> Tensor:
    """Fix the number of visible tokens of every sample to ``num_visible``.

    Visible tokens are drawn first (in random order), then the masked ones
    (in random order), and the first ``num_visible`` of that order are kept:
    a surplus of visible tokens loses random ones, a deficit gains random
    masked tokens of any modality (official MultiMAE's fix-up).

    Args:
        visible (Tensor): Requested visible tokens, bool ``(B, N)``.
        num_visible (int): Exact number of visible tokens per sample.
        generator (torch.Generator, optional): Random generator.

    Returns:
        Tensor: Bool mask ``(B, N)``, True = masked.
    """
    b, n = visible.shape
    keys = (~visible).to(torch.float32) + _rand(
        (b, n), visible.device, generator)
    order = torch.argsort(keys, dim=1)
    mask = torch.ones(b, n, dtype=torch.bool, device=visible.device)
    return mask.scatter(1, order[:, :num_visible], False)


class BaseMaskSampler:
    """Masks with exactly ``num_visible`` visible tokens per sample.

    A sampler proposes visible tokens (:meth:`propose`, bool ``(B, N)``);
    :func:`_exact_budget_mask` then keeps exactly ``num_visible`` of them per
    sample: a surplus loses random visible tokens, a deficit gains random
    masked tokens of any modality. With no proposal at all this is uniform
    sampling over all tokens.

    Args:
        num_visible (int): Visible tokens per sample.
    """

    def __init__(self, num_visible: int) -> None:
        self.num_visible = _check_num_visible(num_visible)

    def propose(self, layout: TokenLayout, batch_size: int,
                num_visible: int, device: torch.device,
                generator: Optional[torch.Generator]) -> Optional[Tensor]:
        """Proposed visible tokens ``(B, N)`` (None: no preference)."""
        return None

    def __call__(self,
                 layout: TokenLayout,
                 batch_size: int,
                 device: Union[str, torch.device] = 'cpu',
                 generator: Optional[torch.Generator] = None,
                 num_visible: Optional[int] = None) -> Dict[str, Tensor]:
        """Sample masks.

        Args:
            layout (TokenLayout): Token layout of the batch.
            batch_size (int): Number of samples ``B``.
            device (str | torch.device): Device of the masks.
            generator (torch.Generator, optional): Random generator (on
                ``device``).
            num_visible (int, optional): Visible tokens per sample for this
                call; defaults to the sampler's ``num_visible``.

        Returns:
            dict[str, Tensor]: Bool masks ``(B, N_m)``, True = masked, with
            exactly ``num_visible`` False entries per sample over all
            modalities.
        """
        device = torch.device(device)
        budget = self.num_visible if num_visible is None else \
            _check_num_visible(num_visible)
        _check_budget(budget, layout)
        visible = self.propose(layout, batch_size, budget, device, generator)
        if visible is None:
            visible = torch.zeros(
                batch_size,
                layout.total_tokens,
                dtype=torch.bool,
                device=device)
        mask = _exact_budget_mask(visible, budget, generator)
        return _split_masks(mask, layout)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_visible={self.num_visible})'


@TASK_UTILS.register_module()
class UniformMaskSampler(BaseMaskSampler):
    """MAE-style random masking over all tokens of all modalities.

    Every sample keeps ``num_visible`` tokens drawn uniformly without
    replacement from the concatenation of the modalities' tokens.

    Args:
        num_visible (int): Visible tokens per sample.
    """


@TASK_UTILS.register_module()
class DirichletMaskSampler(BaseMaskSampler):
    """MultiMAE's multi-modal masking with Dirichlet-distributed budgets.

    Per sample, the share of the ``num_visible`` tokens that each modality
    gets is drawn from ``Dirichlet(alpha)``; the shares are rounded and the
    total is then fixed to exactly ``num_visible`` by randomly dropping
    visible tokens or un-masking masked tokens of any modality (which also
    absorbs requests larger than a modality's token count). Within a
    modality the visible tokens are a uniformly random subset.

    Args:
        num_visible (int): Visible tokens per sample (98 of 3 x 196 in the
            paper).
        alpha (float | str | Sequence[float]): Dirichlet concentration, one
            value for all modalities or one per modality in layout order.
            ``float('inf')`` (or the string ``'inf'``) gives equal shares.
            Defaults to 1.0.
        sample_modalities_uniformly (bool): First pick, per sample, a
            non-empty subset of the modalities uniformly at random; the other
            modalities get concentration 1e-5 (official) or, with infinite
            alpha, no share. Defaults to False.
    """

    def __init__(self,
                 num_visible: int,
                 alpha: Union[float, str, Sequence[Union[float, str]]] = 1.0,
                 sample_modalities_uniformly: bool = False) -> None:
        super().__init__(num_visible)
        values = alpha if isinstance(alpha, (list, tuple)) else [alpha]
        if len(values) == 0:
            raise ValueError('alpha must not be an empty sequence')
        alphas = []
        for value in values:
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError('alpha must be a positive float, "inf" or '
                                 f'a sequence of them, got {alpha!r}')
            if not value > 0:
                raise ValueError(f'alpha must be positive, got {alpha!r}')
            alphas.append(value)
        num_inf = sum(math.isinf(a) for a in alphas)
        if 0 < num_inf < len(alphas):
            raise ValueError('alpha cannot mix infinite and finite values, '
                             f'got {alpha!r}')
        self.equal_split = num_inf > 0
        self.per_modality = isinstance(alpha, (list, tuple))
        self.alpha = alphas
        self.sample_modalities_uniformly = sample_modalities_uniformly

    def _alphas(self, layout: TokenLayout, device: torch.device) -> Tensor:
        num_mod = len(layout.modalities)
        if self.per_modality and len(self.alpha) != num_mod:
            raise ValueError(f'{len(self.alpha)} alphas were given for the '
                             f'{num_mod} modalities {layout.modalities}')
        values = self.alpha if self.per_modality else self.alpha * num_mod
        # Built on the device from Python scalars: no host-to-device copy.
        return torch.cat([
            torch.full((1, ), v, dtype=torch.float32, device=device)
            for v in values
        ])

    def sample_proportions(
            self,
            layout: TokenLayout,
            batch_size: int,
            device: Union[str, torch.device] = 'cpu',
            generator: Optional[torch.Generator] = None) -> Tensor:
        """Draw the per-sample modality shares.

        Args:
            layout (TokenLayout): Token layout of the batch.
            batch_size (int): Number of samples ``B``.
            device (str | torch.device): Device of the result.
            generator (torch.Generator, optional): Random generator.

        Returns:
            Tensor: Shares of shape ``(B, M)`` summing to 1 per sample.
        """
        device = torch.device(device)
        num_mod = len(layout.modalities)
        alphas = self._alphas(layout, device).expand(batch_size, num_mod)
        if self.sample_modalities_uniformly:
            # All non-empty subsets as {0, 1} rows, (2^M - 1, M).
            codes = torch.arange(1, 2**num_mod, device=device)
            bits = torch.arange(num_mod, device=device)
            subsets = ((codes[:, None] >> bits) & 1).to(torch.float32)
            pick = torch.randint(
                len(subsets), (batch_size, ),
                device=device,
                generator=generator)
            chosen = subsets[pick]
        else:
            chosen = torch.ones(batch_size, num_mod, device=device)
        if self.equal_split:
            return chosen / chosen.sum(dim=1, keepdim=True)
        if self.sample_modalities_uniformly:
            alphas = alphas * chosen + 1e-5
        # torch.distributions.Dirichlet takes no generator; the op below is
        # what it calls, with the generator exposed.
        return torch._sample_dirichlet(alphas.contiguous(), generator)

    def propose(self, layout: TokenLayout, batch_size: int,
                num_visible: int, device: torch.device,
                generator: Optional[torch.Generator]) -> Tensor:
        """Visible tokens of Dirichlet-distributed per-modality budgets.

        Returns:
            Tensor: Bool ``(B, N)``, True = visible; per sample and
            modality a uniformly random subset of the rounded budget.
        """
        props = self.sample_proportions(layout, batch_size, device, generator)
        budgets = (props * num_visible).round().long()  # (B, M)
        n = layout.total_tokens
        modality_of_token, start_of_token = _token_modality_index(
            layout, device)
        # Rank of every token among the tokens of its modality: offsetting
        # the random keys by the modality index keeps modalities apart in a
        # single sort over all tokens.
        keys = _rand((batch_size, n), device, generator) + modality_of_token
        order = torch.argsort(keys, dim=1)
        rank = torch.empty_like(order).scatter_(
            1, order,
            torch.arange(n, device=device).expand(batch_size, n))
        rank = rank - start_of_token
        return rank < budgets[:, modality_of_token]

    def __repr__(self) -> str:
        alpha = self.alpha if self.per_modality else self.alpha[0]
        return (f'{type(self).__name__}(num_visible={self.num_visible}, '
                f'alpha={alpha}, sample_modalities_uniformly='
                f'{self.sample_modalities_uniformly})')


def masks_to_ids(masks: Dict[str, Tensor],
                 num_visible: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """Indices of the visible tokens and the inverse shuffle, per sample.

    Unlike official MultiMAE (whose explicit-mask path is only correct for
    batch size 1), this is right for any batch size. The visible tokens are
    listed in ascending index order (stable sort), followed, in
    ``ids_restore``'s frame, by the masked ones in ascending order.

    Args:
        masks (dict[str, Tensor]): Masks ``(B, N_m)``, True (or 1) = masked,
            in concatenation order. Fully visible and fully masked
            modalities are allowed.
        num_visible (int, optional): The number of visible tokens per sample
            when the caller knows it (e.g. from a sampler); it is then not
            checked, which avoids a host synchronisation. When None it is
            counted, and every sample must have the same count.

    Returns:
        tuple[Tensor, Tensor]: ``ids_keep`` of shape ``(B, n_vis)``, the
        indices of the visible tokens in the concatenated sequence, and
        ``ids_restore`` of shape ``(B, N)``, the position of every token in
        the sequence ``[visible tokens, masked tokens]``.
    """
    if not masks:
        raise ValueError('masks_to_ids needs at least one modality mask')
    for name, m in masks.items():
        if m.dim() != 2:
            raise ValueError(f'mask of modality {name!r} must have shape '
                             f'(B, N), got {tuple(m.shape)}')
    mask = torch.cat([m.bool() for m in masks.values()], dim=1)
    b, n = mask.shape
    if num_visible is None:
        counts = (~mask).sum(dim=1)
        low, high = torch.stack([counts.min(), counts.max()]).tolist()
        if low != high:
            per_sample = counts.tolist()
            raise ValueError(
                'every sample must have the same number of visible tokens, '
                f'got {per_sample} visible tokens per sample for the '
                f'modalities {list(masks)}')
        num_visible = low
    ids_shuffle = torch.argsort(mask.to(torch.uint8), dim=1, stable=True)
    ids_restore = torch.empty_like(ids_shuffle).scatter_(
        1, ids_shuffle,
        torch.arange(n, device=mask.device).expand(b, n))
    return ids_shuffle[:, :num_visible], ids_restore
