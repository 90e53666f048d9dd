# Copyright (c) mmmultimae contributors. All rights reserved.
import pytest
import torch
from timm.layers import Mlp
from torch import nn

from mmmultimae.models.utils.blocks import RecomputedGeluMlp, gelu_linear


def saved_bytes(fn) -> int:
    """Bytes of the non-parameter tensors autograd saves while running
    ``fn``."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = \
            t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, storages


def run(mlp: nn.Module, x: torch.Tensor, amp: bool):
    mlp.zero_grad()
    x = x.detach().requires_grad_()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
        y = mlp(x)
    y.float().square().sum().backward()
    return y, x.grad, [p.grad for p in mlp.parameters()]


@pytest.mark.parametrize('amp', [False, True])
def test_recomputed_gelu_mlp_matches_timm_mlp(amp):
    torch.manual_seed(0)
    ref = Mlp(32, 128, 24)
    mlp = RecomputedGeluMlp(32, 128, 24)
    mlp.load_state_dict(ref.state_dict())
    x = torch.randn(3, 7, 32)
    y_ref, gx_ref, gp_ref = run(ref, x, amp)
    y, gx, gp = run(mlp, x, amp)
    assert y.dtype == y_ref.dtype == (torch.bfloat16 if amp else torch.float32)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-5, atol=1e-6)
    for g, g_ref in zip(gp, gp_ref):
        assert g.dtype == torch.float32
        torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-6)


def test_recomputed_gelu_mlp_keeps_only_the_pre_activation():
    torch.manual_seed(0)
    x = torch.randn(4, 10, 16)
    hidden = 4 * 10 * 64 * 4  # bytes of one (B, N, 64) float32 tensor
    ref = Mlp(16, 64)
    mlp = RecomputedGeluMlp(16, 64)
    _, ref_saved = saved_bytes(lambda: ref(x.requires_grad_()))
    _, saved = saved_bytes(lambda: mlp(x.requires_grad_()))
    # timm keeps fc1's output and its GELU; we keep fc1's output only
    assert sum(ref_saved.values()) - sum(saved.values()) == hidden


def test_gelu_linear_without_bias_and_frozen_weight():
    torch.manual_seed(0)
    h = torch.randn(5, 8, requires_grad=True)
    w = torch.randn(3, 8)
    gelu_linear(h, w).sum().backward()
    h2 = h.detach().requires_grad_()
    nn.functional.linear(nn.functional.gelu(h2), w).sum().backward()
    torch.testing.assert_close(h.grad, h2.grad)


def test_recomputed_gelu_mlp_rejects_other_activations_and_drops_back():
    with pytest.raises(ValueError, match='nn.GELU'):
        RecomputedGeluMlp(8, 16, act_layer=nn.ReLU)
    with pytest.raises(ValueError, match='nn.GELU'):
        RecomputedGeluMlp(
            8, 16, act_layer=lambda: nn.GELU(approximate='tanh'))
    with pytest.raises(ValueError, match='norm_layer'):
        RecomputedGeluMlp(8, 16, norm_layer=nn.LayerNorm)
    # dropout between the activation and fc2: the plain timm path
    torch.manual_seed(0)
    mlp = RecomputedGeluMlp(8, 16, drop=0.5).train()
    x = torch.randn(2, 8)
    torch.manual_seed(1)
    y = mlp(x)
    torch.manual_seed(1)
    assert torch.equal(y, Mlp.forward(mlp, x))


def test_recomputed_gelu_mlp_flops_are_counted_like_timm_mlp():
    from torch.utils.flop_counter import FlopCounterMode
    flops = []
    for cls in (Mlp, RecomputedGeluMlp):
        mlp = cls(32, 128, 24)
        x = torch.randn(3, 7, 32, requires_grad=True)
        with FlopCounterMode(display=False) as counter:
            mlp(x).sum().backward()
        flops.append(counter.get_total_flops())
    # forward 2 * 21 * 32 * 128 + 2 * 21 * 128 * 24, backward twice that
    assert flops[0] == flops[1] == 3 * (2 * 21 * 32 * 128 + 2 * 21 * 128 * 24)


def test_recomputed_gelu_mlp_without_autograd_is_timm_mlp(monkeypatch):
    from mmmultimae.models.utils import blocks

    def fail(*args):
        raise AssertionError('gelu_linear called')

    monkeypatch.setattr(blocks, 'gelu_linear', fail)
    mlp = RecomputedGeluMlp(8, 16).eval()
    x = torch.randn(2, 3, 8)
    with torch.no_grad():
        assert torch.equal(mlp(x), Mlp.forward(mlp, x))
    with pytest.raises(AssertionError, match='gelu_linear called'):
        mlp(x.requires_grad_())
