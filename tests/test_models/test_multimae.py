# Copyright (c) mmmultimae contributors. All rights reserved.
import copy

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.structures import BaseDataElement

from mmmultimae.models.algorithms import MultiMAE
from mmmultimae.models.mask_samplers import DirichletMaskSampler
from mmmultimae.registry import MODELS

H, W = 32, 48  # 2 x 3 tokens per modality
NUM_CLASSES = 5


def decoder(out_channels, **kwargs):
    return dict(
        type='SpatialDecoder',
        out_channels=out_channels,
        embed_dims=32,
        num_layers=1,
        num_heads=4,
        image_size=(H, W),
        **kwargs)


def heads(semseg_fp32=True):
    return dict(
        rgb=dict(
            type='PixelReconstructionHead',
            decoder=decoder(3),
            loss=dict(type='MaskedMSELoss')),
        norm_rgb=dict(
            type='PixelReconstructionHead',
            target='rgb',  # the decoder's query modality too
            norm_target=True,
            decoder=decoder(3),
            loss=dict(type='MaskedMSELoss')),
        depth=dict(
            type='PixelReconstructionHead',
            decoder=decoder(1),
            loss=dict(type='MaskedL1Loss')),
        semseg=dict(
            type='SemSegReconstructionHead',
            fp32_under_fp16=semseg_fp32,
            decoder=decoder(NUM_CLASSES, stride_level=4),
            loss=dict(type='MaskedCrossEntropyLoss')))


def model_cfg(**kwargs):
    cfg = dict(
        type='MultiMAE',
        encoder=dict(
            type='MultiViT',
            adapters=dict(
                rgb=dict(
                    type='PatchInputAdapter', in_channels=3,
                    image_size=(H, W)),
                depth=dict(
                    type='PatchInputAdapter', in_channels=1,
                    image_size=(H, W)),
                semseg=dict(
                    type='SemSegInputAdapter',
                    num_classes=NUM_CLASSES,
                    class_embed_dims=8,
                    image_size=(H, W))),
            embed_dims=48,
            num_layers=2,
            num_heads=3),
        heads=heads(),
        mask_sampler=dict(type='DirichletMaskSampler', num_visible=7))
    cfg.update(kwargs)
    return cfg


def build(**kwargs) -> MultiMAE:
    torch.manual_seed(0)
    model = MODELS.build(model_cfg(**kwargs))
    model.init_weights()
    return model


def make_inputs(batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        rgb=torch.randn(batch, 3, H, W, generator=g),
        depth=torch.randn(batch, 1, H, W, generator=g),
        semseg=torch.randint(
            0, NUM_CLASSES, (batch, H // 4, W // 4), generator=g))


def fixed_masks(batch=2):
    """7 visible tokens per sample, split differently across samples."""
    masks = DirichletMaskSampler(
        7, alpha=0.5)(build_layout(), batch, 'cpu',
                      torch.Generator().manual_seed(1))
    return masks


def build_layout():
    from mmmultimae.models.utils.token_layout import TokenLayout
    return TokenLayout({'rgb': (2, 3), 'depth': (2, 3), 'semseg': (2, 3)})


def test_loss_keys_and_backward():
    model = build()
    losses = model(make_inputs(), mode='loss')
    assert set(losses) == {
        'loss_rgb', 'loss_norm_rgb', 'loss_depth', 'loss_semseg'
    }
    for value in losses.values():
        assert value.dim() == 0 and torch.isfinite(value)
    sum(losses.values()).backward()
    for name in ('encoder.blocks.0.attn.qkv.weight',
                 'encoder.adapters.semseg.class_embed.weight',
                 'encoder.global_tokens', 'heads.semseg.decoder.head.weight',
                 'heads.norm_rgb.decoder.task_embeds.depth',
                 'heads.depth.decoder.mask_token'):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_train_step_with_preprocessor():
    model = build(
        data_preprocessor=dict(
            type='MultiModalDataPreprocessor',
            rgb=dict(
                mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
            depth=dict(standardize=True),
            semseg=dict(num_classes=NUM_CLASSES)))
    data = dict(
        inputs=dict(
            rgb=[
                torch.randint(0, 256, (3, H, W), dtype=torch.uint8)
                for _ in range(2)
            ],
            depth=[torch.rand(1, H, W) for _ in range(2)],
            semseg=[
                torch.randint(0, NUM_CLASSES, (H // 4, W // 4))
                for _ in range(2)
            ]),
        data_samples=[BaseDataElement() for _ in range(2)])
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    before = model.heads.rgb.decoder.head.weight.detach().clone()
    log_vars = model.train_step(data, optim)
    assert {'loss', 'loss_rgb', 'loss_semseg'} <= set(log_vars)
    assert not torch.equal(model.heads.rgb.decoder.head.weight, before)
    results = model.test_step(data)
    assert results[0].pred_rgb.shape == (3, H, W)


def test_explicit_masks_are_respected():
    """Predictions do not depend on masked input content, but on visible."""
    for mask_tokens in (False, True):
        model = build(encoder_mask_tokens=mask_tokens).eval()
        inputs, masks = make_inputs(), fixed_masks()
        with torch.no_grad():
            out = model(inputs, mode='tensor', masks=masks)
        assert all(torch.equal(out['masks'][k], masks[k]) for k in masks)
        # Perturb the pixels of masked rgb patches of sample 0.
        changed = copy.deepcopy(inputs)
        patch_mask = masks['rgb'][0].reshape(2, 3)
        pixel_mask = patch_mask.repeat_interleave(16,
                                                  0).repeat_interleave(16, 1)
        changed['rgb'][0][:, pixel_mask] += 3.
        with torch.no_grad():
            out2 = model(changed, mode='tensor', masks=masks)
        for name in out['preds']:
            assert torch.allclose(
                out['preds'][name], out2['preds'][name],
                atol=1e-6), (mask_tokens, name)
        # Perturb a visible rgb patch instead (every sample keeps 7 of 18
        # tokens; make sure sample 0 has a visible rgb token).
        visible = (~patch_mask).nonzero()
        if len(visible):
            r, c = visible[0].tolist()
            changed = copy.deepcopy(inputs)
            changed['rgb'][0][:, r * 16:(r + 1) * 16,
                              c * 16:(c + 1) * 16] += 3.
            with torch.no_grad():
                out3 = model(changed, mode='tensor', masks=masks)
            assert not torch.allclose(out['preds']['depth'][0],
                                      out3['preds']['depth'][0])


def test_explicit_masks_validation():
    model = build().eval()
    masks = fixed_masks()
    bad = dict(masks)
    bad['rgb'] = bad['rgb'].clone()
    bad['rgb'][0] = True
    with pytest.raises(ValueError, match='same number of visible tokens'):
        model(make_inputs(), mode='tensor', masks=bad)
    with pytest.raises(ValueError, match='exactly the input modalities'):
        model(make_inputs(), mode='tensor', masks={'rgb': masks['rgb']})
    with pytest.raises(ValueError, match='must have shape'):
        model(
            make_inputs(),
            mode='tensor',
            masks={
                k: v[:, :3]
                for k, v in masks.items()
            })
    # One mask row is broadcast over the batch.
    one = {k: v[:1] for k, v in masks.items()}
    out = model(make_inputs(3), mode='tensor', masks=one)
    assert out['masks']['rgb'].shape == (3, 6)


def test_fp32_heads_only_under_fp16_autocast():
    model = build().eval()
    assert [n for n, h in model.heads.items() if h.fp32_under_fp16] == \
        ['semseg']
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.float16):
        preds = model(make_inputs(), mode='tensor')['preds']
        losses = model(make_inputs(), mode='loss')
    assert preds['semseg'].dtype == torch.float32
    assert preds['rgb'].dtype == torch.float16
    assert all(v.dtype == torch.float32 for v in losses.values())
    # bfloat16 has float32's range: no decoder leaves autocast
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        preds = model(make_inputs(), mode='tensor')['preds']
    assert preds['semseg'].dtype == torch.bfloat16
    model = build(heads=heads(semseg_fp32=False))
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.float16):
        preds = model(make_inputs(), mode='tensor')['preds']
    assert preds['semseg'].dtype == torch.float16


def test_bf16_semseg_decoder_gradients_match_fp32():
    """The semseg decoder in bfloat16 (under bf16 autocast) gives the loss
    and gradients of the float32 model up to bf16 rounding."""
    torch.manual_seed(0)
    model = build().train()
    inputs = make_inputs(4)
    masks = model.sample_masks(inputs)

    def run(amp: bool):
        model.zero_grad()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
            loss = model(inputs, mode='loss', masks=masks)['loss_semseg']
        loss.backward()
        grads = torch.cat([
            p.grad.double().flatten()
            for p in model.heads.semseg.parameters() if p.grad is not None
        ])
        return loss.item(), grads

    ref_loss, ref_grads = run(amp=False)
    loss, grads = run(amp=True)
    assert loss == pytest.approx(ref_loss, rel=1e-2)
    assert torch.nn.functional.cosine_similarity(grads, ref_grads,
                                                 dim=0) > 0.999
    assert (grads - ref_grads).norm() / ref_grads.norm() < 0.05


def test_encoder_mask_tokens_variant():
    model = build(encoder_mask_tokens=True)
    assert 'encoder_mask_token' in dict(model.named_parameters())
    inputs = make_inputs()
    x, layout, masks, ids_keep, ids_restore = model.encode(inputs)
    assert x.shape == (2, 18 + 1, 48)  # every token is encoded
    assert torch.equal(ids_keep[0], torch.arange(18))
    losses = model(inputs, mode='loss')
    sum(losses.values()).backward()
    assert model.encoder_mask_token.grad.abs().sum() > 0
    plain = build()
    x, *_ = plain.encode(inputs)
    assert x.shape == (2, 7 + 1, 48)


def test_predict_outputs():
    model = build().eval()
    masks = fixed_masks()
    samples = [
        BaseDataElement(metainfo=dict(img_path=f'{i}.png')) for i in range(2)
    ]
    with torch.no_grad():
        results = model(make_inputs(), samples, mode='predict', masks=masks)
    assert results is samples
    res = results[1]
    assert res.img_path == '1.png'
    assert res.pred_rgb.shape == (3, H, W)
    assert res.pred_norm_rgb.shape == (3, H, W)
    assert model.heads.norm_rgb.decoder.query_modality == 'rgb'
    assert res.pred_depth.shape == (1, H, W)
    assert res.pred_semseg.shape == (NUM_CLASSES, H // 4, W // 4)
    assert res.pred_semseg_label.shape == (H // 4, W // 4)
    assert torch.equal(res.pred_semseg_label, res.pred_semseg.argmax(0))
    assert torch.equal(res.mask_depth, masks['depth'][1].reshape(2, 3))
    # Without data samples new elements are made.
    results = model.predict(make_inputs())
    assert len(results) == 2 and results[0].mask_rgb.dtype == torch.bool
    with pytest.raises(ValueError, match='Invalid mode'):
        model(make_inputs(), mode='features')


def test_input_subset_and_missing_modalities():
    model = build(
        input_modalities=['rgb'],
        mask_sampler=dict(type='UniformMaskSampler', num_visible=4))
    inputs = make_inputs()
    out = model(inputs, mode='tensor')
    assert list(out['masks']) == ['rgb']
    assert (~out['masks']['rgb']).sum(1).tolist() == [4, 4]
    # depth / semseg are decoded from mask-token queries, every token is a
    # target
    assert out['preds']['depth'].shape == (2, 6, 256)
    losses = model(inputs, mode='loss')
    assert set(losses) == {
        'loss_rgb', 'loss_norm_rgb', 'loss_depth', 'loss_semseg'
    }
    del inputs['depth']
    with pytest.raises(KeyError, match="target 'depth'"):
        model(inputs, mode='loss')


def test_task_weighting_and_mae_baseline():
    model = build(
        task_weighting=dict(
            type='TaskWeighting',
            mode='uncertainty',
            modalities=['rgb', 'norm_rgb', 'depth', 'semseg']))
    losses = model(make_inputs(), mode='loss')
    sum(losses.values()).backward()
    assert model.task_weighting.log_vars.grad.abs().sum() > 0

    cfg = model_cfg(
        heads=dict(
            rgb=dict(
                type='PixelReconstructionHead',
                norm_target=True,
                decoder=dict(
                    type='MAEDecoder',
                    out_channels=3,
                    embed_dims=32,
                    num_layers=2,
                    num_heads=4,
                    image_size=(H, W)),
                loss=dict(type='MaskedMSELoss'))),
        input_modalities=['rgb'],
        mask_sampler=dict(type='UniformMaskSampler', num_visible=2))
    mae = MODELS.build(cfg)
    losses = mae(make_inputs(), mode='loss')
    assert set(losses) == {'loss_rgb'} and torch.isfinite(losses['loss_rgb'])
    assert not mae.heads.rgb.fp32_under_fp16


def test_heads_added_and_dropped_by_one_entry():
    model = build(heads=dict(heads(), norm_rgb=None))
    assert list(model.heads) == ['rgb', 'depth', 'semseg']
    assert set(model(make_inputs(), mode='loss')) == {
        'loss_rgb', 'loss_depth', 'loss_semseg'
    }
    normal = dict(
        type='PixelReconstructionHead',
        decoder=decoder(3),
        loss=dict(type='MaskedL1Loss'))
    model = build(heads=dict(heads(), normal=normal))
    assert model.heads.normal.target == 'normal'
    inputs = dict(make_inputs(), normal=torch.randn(2, 3, H, W))
    assert 'loss_normal' in model(inputs, mode='loss')


def test_config_errors():
    with pytest.raises(ValueError, match='at least one head'):
        build(heads=dict(rgb=None))
    with pytest.raises(TypeError, match='loss'):
        build(heads=dict(rgb=dict(
            type='PixelReconstructionHead', decoder=decoder(3))))
    model = build(heads=dict(heads(), rgb=dict(heads()['rgb'],
                                               target='normals')))
    with pytest.raises(KeyError, match="target 'normals' of head 'rgb'"):
        model(make_inputs(), mode='loss')
    with pytest.raises(ValueError, match='input_modalities'):
        build(input_modalities=['normal'])
    with pytest.raises(ValueError, match='none of the input modalities'):
        build()(dict(normal=torch.zeros(1, 3, H, W)), mode='tensor')


def test_init_weights():
    model = build(encoder_mask_tokens=True)
    for dec in (head.decoder for head in model.heads.values()):
        assert torch.equal(dec.mask_token, torch.zeros_like(dec.mask_token))
        assert dec.cross_attn.q.bias.abs().sum() == 0
    assert 0.005 < model.encoder_mask_token.std() < 0.05


def test_compiled_step_matches_eager_without_graph_breaks():
    from torch._dynamo.utils import counters
    torch._dynamo.reset()
    counters.clear()
    eager = build()
    compiled = build(compile=True)
    inputs = make_inputs(4)
    results = []
    for model in (eager, compiled):
        torch.manual_seed(1)  # the same sampled masks (sampled eagerly)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            losses = model(inputs, mode='loss')
        sum(losses.values()).backward()
        results.append((losses, model.encoder.blocks[0].mlp.fc2.weight.grad,
                        model.heads.semseg.decoder.head.weight.grad))
    (ref, *ref_grads), (out, *grads) = results
    assert ref.keys() == out.keys()
    for key in ref:
        assert out[key].item() == pytest.approx(ref[key].item(), rel=2e-2)
    for grad, ref_grad in zip(grads, ref_grads):
        cos = torch.nn.functional.cosine_similarity(
            grad.flatten().double(), ref_grad.flatten().double(), dim=0)
        assert cos > 0.99
    assert counters['stats']['unique_graphs'] == 1
    assert sum(counters['graph_break'].values()) == 0


def test_checkpoint_of_the_decoders_layout_still_loads():
    """A checkpoint written before the heads existed (``decoders.<name>.*``
    keys, commit c62185b) loads strictly, through mmengine too, and gives
    the outputs recorded when it was written."""
    import os.path as osp

    from mmengine.config import Config
    from mmengine.runner.checkpoint import load_checkpoint

    from mmmultimae.utils import register_all_modules
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    path = osp.join(root, 'data', 'legacy_multimae_tiny_c62185b.pth')
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(osp.join(root, 'data', 'configs',
                                   'tiny_multimae.py'))
    checkpoint = torch.load(path, weights_only=True)
    assert any(k.startswith('decoders.') for k in checkpoint['state_dict'])
    for load in ('torch', 'mmengine'):
        model = MODELS.build(cfg.model).eval()
        if load == 'torch':
            model.load_state_dict(checkpoint['state_dict'], strict=True)
        else:
            load_checkpoint(model, path, strict=True, logger='silent')
        ref = checkpoint['reference']
        with torch.no_grad():
            losses = model.loss(ref['inputs'], masks=ref['masks'])
            preds = model(ref['inputs'], mode='tensor',
                          masks=ref['masks'])['preds']
        for key, value in ref['losses'].items():
            assert torch.equal(losses[key], value), (load, key)
        for key, value in ref['preds'].items():
            assert torch.equal(preds[key], value), (load, key)
