# Copyright (c) mmmultimae contributors. All rights reserved.
"""Numerical conformance with the official MultiMAE implementation.

The fixture (``MMMULTIMAE_OFFICIAL_FIXTURE``, else
``../shared/fixtures/official_multimae_tiny.pth`` next to the repository,
else ``tests/data/official_multimae_tiny.pth``) holds weights, inputs, masks
and outputs recorded from the official code; its format is described in
``shared/fixtures/README.md``. The architecture is rebuilt from the
fixture's ``meta`` (nothing here depends on the tiny sizes), the official
state dict is converted with ``convert_official_multimae`` and loaded
strictly, and every recorded output is compared in fp32 on the CPU with

    relative error = max|ours - official| / max|official| <= 1e-5.
"""
import copy
import re
import warnings
from typing import Dict

import pytest
import torch
import torch.nn.functional as F
from official_fixtures import load_official_fixture

from mmmultimae.models.converters import (convert_official_multimae,
                                          load_converted, multivit_to_timm)
from mmmultimae.models.losses import MaskedCrossEntropyLoss, MaskedMSELoss
from mmmultimae.models.utils.patchify import (normalize_patches, patchify,
                                              patchify_labels)
from mmmultimae.registry import MODELS

TOL = 1e-5


def rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """max|ours - ref| / max|ref|."""
    assert ours.shape == ref.shape, (tuple(ours.shape), tuple(ref.shape))
    ref = ref.double()
    diff = (ours.double() - ref).abs().max()
    scale = ref.abs().max()
    if scale == 0:  # an all-zero reference must be matched exactly
        return float(diff) * float('inf') if diff else 0.
    return float(diff / scale)


def assert_close(ours: torch.Tensor, ref: torch.Tensor, what: str) -> None:
    err = rel_err(ours, ref)
    assert err <= TOL, f'{what}: relative error {err:.3g} > {TOL}'


def assert_scalar_close(ours: torch.Tensor, ref: float, what: str) -> None:
    err = abs(float(ours) - ref) / abs(ref)
    assert err <= TOL, f'{what}: {float(ours)} vs official {ref} ({err:.3g})'


# ----------------------------------------------------------------------
# architecture from the fixture's meta
# ----------------------------------------------------------------------
def _short(cls_path: str) -> str:
    return cls_path.rsplit('.', 1)[-1]


def adapter_cfg(spec: dict) -> dict:
    kw = spec['kwargs']
    cls = _short(spec['class'])
    common = dict(
        patch_size=kw['patch_size_full'],
        stride_level=kw['stride_level'],
        image_size=tuple(kw['image_size']))
    if cls == 'PatchedInputAdapter':
        return dict(
            type='PatchInputAdapter', in_channels=kw['num_channels'], **common)
    if cls == 'SemSegInputAdapter':
        assert not kw.get('interpolate_class_emb', False)
        assert kw.get('emb_padding_idx') is None
        return dict(
            type='SemSegInputAdapter',
            num_classes=kw['num_classes'],
            class_embed_dims=kw.get('dim_class_emb', 64),
            **common)
    raise AssertionError(f'unexpected input adapter class {cls}')


def encoder_cfg(meta: dict) -> dict:
    model = meta['pretrain_model']
    kw = model['kwargs']
    return dict(
        type='MultiViT',
        adapters={
            name: adapter_cfg(spec)
            for name, spec in model['input_adapters'].items()
        },
        embed_dims=kw['dim_tokens'],
        num_layers=kw['depth'],
        num_heads=kw['num_heads'],
        mlp_ratio=kw['mlp_ratio'],
        qkv_bias=kw['qkv_bias'],
        num_global_tokens=kw['num_global_tokens'])


def decoder_cfg(spec: dict, defaults: dict) -> dict:
    assert _short(spec['class']) == 'SpatialOutputAdapter'
    kw = dict(defaults, **spec['kwargs'])
    assert kw.get('use_xattn', True)
    return dict(
        type='SpatialDecoder',
        out_channels=kw['num_channels'],
        context_modalities=list(kw['context_tasks']),
        embed_dims=kw['dim_tokens'],
        num_layers=kw['depth'],
        num_heads=kw['num_heads'],
        mlp_ratio=kw.get('mlp_ratio', 4.),
        qkv_bias=kw.get('qkv_bias', True),
        patch_size=kw['patch_size_full'],
        stride_level=kw['stride_level'],
        image_size=tuple(kw['image_size']),
        use_task_queries=kw['use_task_queries'],
        query_modality=kw['task'])


def head_cfg(name: str, decoder: dict, loss_spec: dict, target: str,
             fp32: bool) -> dict:
    """Our head for an official output adapter and its loss spec."""
    cls, kw = _short(loss_spec['class']), loss_spec['kwargs']
    common = dict(decoder=decoder, target=target, fp32_under_fp16=fp32)
    if cls in ('MaskedMSELoss', 'MaskedL1Loss'):
        return dict(
            type='PixelReconstructionHead',
            norm_target=kw.get('norm_pix', False),
            loss=dict(type=cls),
            **common)
    if cls == 'MaskedCrossEntropyLoss':
        return dict(
            type='SemSegReconstructionHead',
            loss=dict(
                type=cls,
                ignore_index=-100,
                label_smoothing=kw.get('label_smoothing', 0.)),
            **common)
    raise AssertionError(f'unexpected loss class {cls} of {name!r}')


def multimae_cfg(data: dict) -> dict:
    meta, pretrain = data['meta'], data['pretrain']
    model = meta['pretrain_model']
    defaults = model.get('output_adapter_defaults_not_passed', {})
    fp32 = meta['hparams'].get('fp32_output_adapters') or ''
    fp32 = fp32.split('-') if isinstance(fp32, str) else list(fp32)
    targets = pretrain.get('loss_mask_for_task', {})
    heads = {
        name: head_cfg(name, decoder_cfg(spec, defaults),
                       pretrain['loss_specs'][name], targets.get(name, name),
                       name in fp32)
        for name, spec in model['output_adapters'].items()
    }
    return dict(
        type='MultiMAE',
        encoder=encoder_cfg(meta),
        heads=heads,
        # Masks are always explicit here; the sampler is not used.
        mask_sampler=dict(
            type='DirichletMaskSampler',
            num_visible=pretrain['num_encoded_tokens']))


# ----------------------------------------------------------------------
# fixtures
# ----------------------------------------------------------------------
@pytest.fixture(scope='module')
def data() -> dict:
    return load_official_fixture()


@pytest.fixture(scope='module')
def model(data):
    torch.manual_seed(0)
    model = MODELS.build(multimae_cfg(data))
    state = convert_official_multimae(data['pretrain']['state_dict'])
    load_converted(model, state, strict=True)
    return model.eval()


def bool_masks(masks: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {name: m.bool() for name, m in masks.items()}


def official_rows_sorted(tokens: torch.Tensor, ids_keep: torch.Tensor,
                         num_global: int) -> torch.Tensor:
    """Reorder official encoder rows (in non-stable ``ids_keep`` order) to
    ascending token index, global tokens kept last."""
    order = torch.argsort(ids_keep, dim=1)
    n_vis = ids_keep.shape[1]
    visible = torch.gather(
        tokens[:, :n_vis], 1,
        order.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
    return torch.cat([visible, tokens[:, n_vis:n_vis + num_global]], dim=1)


CASES = ('pretrain', 'alt_resolution')


def case_record(data: dict, case: str) -> dict:
    if case == 'pretrain':
        return data['pretrain']
    return data['pretrain'][case]


@pytest.fixture(scope='module')
def results(data, model):
    """Our outputs for both recorded pre-training cases."""
    out = {}
    with torch.no_grad():
        for case in CASES:
            rec = case_record(data, case)
            masks = bool_masks(rec['task_masks'])
            x, layout, _, ids_keep, _ = model.encode(rec['inputs'], masks)
            tokens, _ = model.encoder.tokenize(rec['inputs'])
            preds = model(rec['inputs'], mode='tensor', masks=masks)['preds']
            out[case] = dict(
                encoder_tokens=x,
                input_tokens=tokens,
                layout=layout,
                ids_keep=ids_keep,
                preds=preds)
    return out


# ----------------------------------------------------------------------
# tests
# ----------------------------------------------------------------------
def test_state_dict_loads_strictly(data, model):
    state = convert_official_multimae(data['pretrain']['state_dict'])
    assert set(state) == set(model.state_dict())


@pytest.mark.parametrize('case', CASES)
def test_encoder_tokens(data, results, case):
    rec, ours = case_record(data, case), results[case]
    num_global = rec['input_info']['num_global_tokens']
    ref_ids = torch.sort(rec['ids_keep'], dim=1).values
    assert torch.equal(ours['ids_keep'], ref_ids)
    ref = official_rows_sorted(rec['encoder_tokens'], rec['ids_keep'],
                               num_global)
    assert_close(ours['encoder_tokens'], ref, f'{case} encoder tokens')
    if rec.get('encoder_input_tokens') is not None:
        ref_in = official_rows_sorted(rec['encoder_input_tokens'],
                                      rec['ids_keep'], num_global)
        visible = torch.gather(
            ours['input_tokens'], 1, ours['ids_keep'].unsqueeze(-1).expand(
                -1, -1, ours['input_tokens'].shape[-1]))
        assert_close(visible, ref_in[:, :-num_global],
                     f'{case} encoder input tokens')


@pytest.mark.parametrize('case', CASES)
def test_decoder_outputs(data, model, results, case):
    rec, ours = case_record(data, case), results[case]
    assert set(ours['preds']) == set(rec['outputs'])
    for name, ref in rec['outputs'].items():
        image = model.heads[name].to_image(ours['preds'][name],
                                           ours['layout'])
        assert_close(image, ref, f'{case} decoder {name}')


@pytest.mark.parametrize('case', CASES)
def test_masked_losses(data, model, case):
    rec = case_record(data, case)
    with torch.no_grad():
        losses = model.loss(rec['inputs'], masks=bool_masks(rec['task_masks']))
    assert set(losses) == {f'loss_{name}' for name in rec['losses']}
    for name, ref in rec['losses'].items():
        assert losses[f'loss_{name}'].dtype == torch.float32
        assert_scalar_close(losses[f'loss_{name}'], ref, f'{case} {name}')


def _loss_inputs(data, model, name):
    """Our prediction, target patches and mask of head ``name`` computed
    from the official outputs (so the loss is tested on its own)."""
    pretrain = data['pretrain']
    head = model.heads[name]
    pred = patchify(pretrain['outputs'][name], head.patch_size)
    target = head.target_patches(pretrain['inputs'][head.target])
    mask = pretrain['task_masks'][head.target].bool()
    return pred, target, mask


def test_unmasked_losses(data, model):
    pretrain = data['pretrain']
    for name, ref in pretrain['losses_unmasked'].items():
        pred, target, _ = _loss_inputs(data, model, name)
        loss = copy.deepcopy(model.heads[name].loss_module)
        loss.loss_on_unmasked = True
        assert_scalar_close(loss(pred, target, None), ref, f'unmasked {name}')


# e.g. 'MaskedMSELoss(patch_size, stride=1, norm_pix=True)(outputs[norm_rgb],
# inputs[rgb], mask=task_masks[rgb])'
_EXTRA_MSE = re.compile(r'MaskedMSELoss\(.*norm_pix=(True|False)\)'
                        r'\(outputs\[(\w+)\], inputs\[(\w+)\], '
                        r'mask=task_masks\[(\w+)\]\)')


def test_extra_mse_losses(data, model):
    """Each ``losses_extra`` record names the output, input and mask it was
    computed on; recompute exactly that."""
    pretrain = data['pretrain']
    extra = pretrain.get('losses_extra', {})
    if not extra:
        pytest.skip('no extra MSE records in this fixture')
    for key, record in extra.items():
        match = _EXTRA_MSE.fullmatch(record['what'])
        assert match, f'{key}: cannot parse {record["what"]!r}'
        norm, output, target, mask = match.groups()
        patch = model.heads[output].patch_size
        pred = patchify(pretrain['outputs'][output], patch)
        target = patchify(pretrain['inputs'][target], patch)
        if norm == 'True':
            target = normalize_patches(target)
        loss = MaskedMSELoss()(pred, target,
                               pretrain['task_masks'][mask].bool())
        assert_scalar_close(loss, record['value'], f'{key} ({output})')


def test_semseg_loss_with_ignored_labels(data, model):
    pretrain = data['pretrain']
    name = next(
        (n for n, h in model.heads.items() if h.target == 'semseg'), None)
    if name is None or 'semseg_ignore' not in pretrain:
        pytest.skip('no semseg decoder / ignore record in this fixture')
    record = pretrain['semseg_ignore']
    decoder = model.heads[name].decoder
    logits = pretrain['outputs'][name]
    pred = patchify(logits, decoder.patch_size)
    labels = patchify_labels(record['target'], decoder.patch_size)
    mask = pretrain['task_masks']['semseg'].bool()
    ignore = record['ignore_value']
    valid = labels != ignore
    assert (~valid).any() and valid.any()

    # Official semantics: ignored pixels count in the denominator.
    official = MaskedCrossEntropyLoss(
        ignore_index=ignore, avg_non_ignore=False)
    assert_scalar_close(
        official(pred, labels, mask), record['loss_masked'],
        'semseg ignore (official denominator)')
    assert_scalar_close(
        MaskedCrossEntropyLoss(
            ignore_index=ignore, avg_non_ignore=False,
            loss_on_unmasked=True)(pred, labels, mask),
        record['loss_unmasked'], 'semseg ignore unmasked (official)')

    # Ours: per sample the mean over valid masked pixels, i.e. the official
    # per-sample value scaled by (masked pixels) / (valid masked pixels).
    ours = MaskedCrossEntropyLoss(ignore_index=ignore)
    per_sample = torch.stack([
        ours(pred[i:i + 1], labels[i:i + 1], mask[i:i + 1])
        for i in range(pred.shape[0])
    ])
    masked_px = mask.sum(1) * labels.shape[-1]
    valid_px = (valid & mask.unsqueeze(-1)).sum((1, 2))
    has_mask = masked_px > 0
    official_from_ours = (per_sample * valid_px / masked_px)[has_mask].mean()
    assert_scalar_close(official_from_ours, record['loss_masked'],
                        'semseg ignore: ours rescaled to official')
    assert_close(
        ours(pred, labels, mask), per_sample[has_mask].mean(),
        'semseg ignore: batch = mean of samples')
    # An independent reference on the images.
    pixel = F.cross_entropy(
        logits, record['target'], ignore_index=ignore, reduction='none')
    h, w = logits.shape[-2:]
    grid = (h // decoder.patch_size[0], w // decoder.patch_size[1])
    up = mask.reshape(-1, *grid).float()
    up = F.interpolate(up[:, None], size=(h, w), mode='nearest')[:, 0]
    weight = up * (record['target'] != ignore)
    ref = ((pixel * weight).sum((1, 2)) / weight.sum((1, 2)))
    assert_close(per_sample, ref, 'semseg ignore per sample')
    unmasked = MaskedCrossEntropyLoss(
        ignore_index=ignore, loss_on_unmasked=True)(pred, labels, mask)
    assert_scalar_close(
        unmasked,
        float(F.cross_entropy(logits, record['target'], ignore_index=ignore)),
        'semseg ignore unmasked (ours: mean over valid pixels)')


@pytest.fixture(scope='module')
def multivit(data):
    torch.manual_seed(0)
    encoder = MODELS.build(encoder_cfg(data['meta']))
    state = convert_official_multimae(
        data['pretrain']['state_dict'], encoder_only=True)
    load_converted(encoder, state, strict=True)
    return encoder.eval()


def test_multivit_layers(data, multivit):
    num_global = data['meta']['pretrain_model']['kwargs']['num_global_tokens']
    for case, rec in data['multivit']['cases'].items():
        with torch.no_grad():
            layers, _ = multivit.forward_tokens(
                rec['inputs'], return_layers=rec['layer_indices'])
            tokens, _ = multivit.tokenize(rec['inputs'])
        assert len(layers) == len(rec['layers'])
        for i, (ours, ref) in enumerate(zip(layers, rec['layers'])):
            assert_close(ours, ref, f'multivit {case} layer {i}')
        if rec.get('encoder_input_tokens') is not None:
            assert_close(tokens, rec['encoder_input_tokens'][:, :-num_global],
                         f'multivit {case} input tokens')


def test_timm_export(data, multivit):
    ref = data['timm_format']['multimae_to_vit']
    with warnings.catch_warnings():
        # The other adapters are dropped (and reported) by the export.
        warnings.simplefilter('ignore', UserWarning)
        ours = multivit_to_timm(multivit.state_dict())
    assert set(ours) == set(ref)
    for key, value in ref.items():
        assert_close(ours[key], value, f'timm {key}')
