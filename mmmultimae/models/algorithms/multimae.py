# Copyright (c) mmmultimae contributors. All rights reserved.
"""MultiMAE pre-training model."""
import inspect
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel, ModuleDict
from mmengine.structures import BaseDataElement
from timm.layers import trunc_normal_
from torch import Tensor, nn

from mmmultimae.registry import MASK_SAMPLERS, MODELS
from ..decoders.spatial_decoder import gather_tokens
from ..losses.masked_losses import MaskedCrossEntropyLoss
from ..mask_samplers import masks_to_ids
from ..utils.autocast import active_autocast_dtype
from ..utils.patchify import patchify, patchify_labels, unpatchify
from ..utils.pos_embed import resize_pos_embed
from ..utils.token_layout import TokenLayout

Masks = Dict[str, Tensor]


def _build_with_defaults(cfg: dict, **defaults) -> nn.Module:
    """Build ``cfg`` through ``MODELS``, filling in the ``defaults`` that the
    class accepts and the config does not set."""
    cfg = dict(cfg)
    cls = MODELS.get(cfg['type']) if isinstance(cfg.get('type'),
                                                str) else cfg.get('type')
    if cls is None:
        raise KeyError(f'{cfg.get("type")!r} is not registered in MODELS')
    params = inspect.signature(cls.__init__).parameters
    for key, value in defaults.items():
        if key in params:
            cfg.setdefault(key, value)
    return MODELS.build(cfg)


@MODELS.register_module()
class MultiMAE(BaseModel):
    """Multi-modal multi-task masked autoencoder (Bachmann et al., 2022).

    The encoder (a ``MultiViT``) tokenizes the input modalities, a mask
    sampler picks the visible tokens (a fixed number per sample), the encoder
    runs on the visible tokens plus its global tokens, and every decoder
    predicts the patches of its output, scored on the masked tokens by its
    loss. The split into encoder / decoders / losses follows mmpretrain's
    ``MAE`` algorithm.

    Args:
        encoder (dict): Config of the encoder (``MultiViT``).
        decoders (dict[str, dict]): Decoder configs by name
            (``SpatialDecoder`` / ``MAEDecoder``); ``modality`` (the name),
            ``query_modality`` (the target modality), ``encoder_dims`` and
            ``context_modalities`` (the input modalities) are filled in when
            the class takes them and the config does not set them.
        losses (dict[str, dict]): Loss config of every decoder.
        mask_sampler (dict): Config in ``MASK_SAMPLERS``.
        input_modalities (Sequence[str], optional): Modalities fed to the
            encoder; others present in the inputs serve only as targets.
            Defaults to all modalities with an encoder adapter.
        targets (dict[str, str], optional): Target modality of decoders
            whose name is not a modality, e.g. ``dict(norm_rgb='rgb')``. The
            loss uses the target modality's mask (all tokens count as masked
            if it is not an input).
        task_weighting (dict, optional): ``TaskWeighting`` config.
        fp32_decoders (Sequence[str], optional): Decoders that run with
            autocast disabled, on float32 encoder tokens, when autocast is
            in float16 (official ``fp32_output_adapters``, which guards the
            133-class semseg logits against fp16 overflow). Under bfloat16
            autocast, which has float32's range, they run in bfloat16 like
            the rest: 25 % more images/s on an H200, and the semseg decoder's
            gradients stay within bf16 rounding of float32 (see
            ``docs/benchmarks.md``). Defaults to ``('semseg',)`` if there is
            a ``semseg`` decoder, else none.
        compile (bool | dict): ``torch.compile`` the training step after
            mask sampling (encoder, decoders and losses; the sampler stays
            eager). A dict is passed to ``torch.compile`` as keyword
            arguments, e.g. ``dict(mode='max-autotune-no-cudagraphs')``.
            Shapes are static (a fixed number of visible tokens), so it
            compiles once. Defaults to False.
        encoder_mask_tokens (bool): Feed all tokens to the encoder, the
            masked ones replaced by a learned mask token plus their position
            embedding (the "w/ [M]" variant of the paper's Table 11);
            decoders then see every encoded token. Defaults to False.
        data_preprocessor (dict, optional): Data preprocessor config.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 encoder: dict,
                 decoders: Dict[str, dict],
                 losses: Dict[str, dict],
                 mask_sampler: dict,
                 input_modalities: Optional[Sequence[str]] = None,
                 targets: Optional[Dict[str, str]] = None,
                 task_weighting: Optional[dict] = None,
                 fp32_decoders: Optional[Sequence[str]] = None,
                 encoder_mask_tokens: bool = False,
                 compile: Union[bool, dict] = False,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if isinstance(data_preprocessor, dict):
            # Built here so that our registry (not mmengine's root one)
            # resolves it whatever the default scope (as mmpretrain does).
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.encoder = MODELS.build(encoder)
        modalities = list(self.encoder.adapters)
        if input_modalities is None:
            input_modalities = modalities
        unknown = [m for m in input_modalities if m not in modalities]
        if unknown or not input_modalities:
            raise ValueError(f'input_modalities {list(input_modalities)} '
                             'must be a non-empty subset of the encoder '
                             f'adapters {modalities}')
        self.input_modalities = list(input_modalities)

        if not decoders:
            raise ValueError('MultiMAE needs at least one decoder')
        if set(losses) != set(decoders):
            raise ValueError(f'losses must be given for exactly the decoders '
                             f'{sorted(decoders)}, got {sorted(losses)}')
        targets = dict(targets or {})
        unknown = [name for name in targets if name not in decoders]
        if unknown:
            raise ValueError(f'targets name unknown decoders {unknown}; '
                             f'decoders: {list(decoders)}')
        self.targets = {name: targets.get(name, name) for name in decoders}
        self.decoders = ModuleDict({
            name:
            _build_with_defaults(
                cfg,
                modality=name,
                query_modality=self.targets[name],
                encoder_dims=self.encoder.embed_dims,
                context_modalities=self.input_modalities)
            for name, cfg in decoders.items()
        })
        self.losses = nn.ModuleDict(
            {name: MODELS.build(losses[name])
             for name in decoders})

        self.mask_sampler = MASK_SAMPLERS.build(mask_sampler)
        self.task_weighting = MODELS.build(task_weighting) \
            if task_weighting else None
        if fp32_decoders is None:
            fp32_decoders = [n for n in ('semseg', ) if n in decoders]
        unknown = [n for n in fp32_decoders if n not in decoders]
        if unknown:
            raise ValueError(f'fp32_decoders {unknown} are not decoders '
                             f'{list(decoders)}')
        self.fp32_decoders = set(fp32_decoders)
        self.encoder_mask_tokens = encoder_mask_tokens
        if encoder_mask_tokens:
            self.encoder_mask_token = nn.Parameter(
                torch.zeros(1, 1, self.encoder.embed_dims))
            trunc_normal_(self.encoder_mask_token, std=0.02)
        self._loss_step = self._masked_losses
        if compile:
            options = compile if isinstance(compile, dict) else {}
            self._loss_step = torch.compile(self._masked_losses, **options)

    def init_weights(self) -> None:
        """Official init of encoder and decoders (their ``init_weights``),
        trunc-normal(0.02) encoder mask token; a ``Pretrained`` ``init_cfg``
        is applied last."""
        if self.encoder_mask_tokens:
            trunc_normal_(self.encoder_mask_token, std=0.02)
        super().init_weights()

    # ------------------------------------------------------------------
    # masking and encoding
    # ------------------------------------------------------------------
    def _encoder_inputs(self, inputs: Dict[str, Tensor]) -> Dict[str, Tensor]:
        if not isinstance(inputs, dict):
            raise TypeError('MultiMAE expects a dict of modality tensors, '
                            f'got {type(inputs).__name__}')
        selected = {
            k: v
            for k, v in inputs.items() if k in self.input_modalities
        }
        if not selected:
            raise ValueError(f'none of the input modalities '
                             f'{self.input_modalities} is in the inputs '
                             f'{list(inputs)}')
        return selected

    @staticmethod
    def _check_masks(masks: Masks, layout: TokenLayout, batch: int,
                     device: torch.device) -> Masks:
        if set(masks) != set(layout.modalities):
            raise ValueError(f'masks must be given for exactly the input '
                             f'modalities {layout.modalities}, got '
                             f'{sorted(masks)}')
        out = {}
        for name in layout.modalities:
            m = masks[name]
            n = layout.num_tokens[name]
            if tuple(m.shape) not in ((batch, n), (1, n)):
                raise ValueError(
                    f'mask of {name!r} must have shape (B, N) = '
                    f'({batch}, {n}) (or (1, {n})), got {tuple(m.shape)}')
            out[name] = m.to(device).bool().expand(batch, n)
        return out

    def _mask_token_inputs(self, tokens: Tensor, masks: Masks,
                           layout: TokenLayout) -> Tensor:
        """Replace masked tokens by the mask token + their position."""
        pos = []
        for name, grid in layout.grids.items():
            adapter = self.encoder.adapters[name]
            table = resize_pos_embed(adapter.pos_embed, grid,
                                     adapter.interpolate_mode)
            pos.append(table.flatten(2).transpose(1, 2))
        fill = (self.encoder_mask_token + torch.cat(pos, dim=1)).to(
            tokens.dtype)
        mask = torch.cat([masks[name] for name in layout.modalities], dim=1)
        return torch.where(mask.unsqueeze(-1), fill, tokens)

    def sample_masks(self, inputs: Dict[str, Tensor]) -> Masks:
        """Sample token masks for the input modalities of a batch.

        Args:
            inputs (dict[str, Tensor]): Preprocessed modalities.

        Returns:
            dict[str, Tensor]: ``(B, N_m)`` bool masks, True = masked.
        """
        selected = self._encoder_inputs(inputs)
        grids = {
            name: self.encoder.adapters[name].token_grid(x)
            for name, x in selected.items()
        }
        first = next(iter(selected.values()))
        layout = TokenLayout(grids, self.encoder.num_global_tokens)
        return self.mask_sampler(layout, first.shape[0], first.device)

    def encode(
        self,
        inputs: Dict[str, Tensor],
        masks: Optional[Masks] = None,
        num_visible: Optional[int] = None
    ) -> Tuple[Tensor, TokenLayout, Masks, Tensor, Tensor]:
        """Tokenize, mask and encode.

        Args:
            inputs (dict[str, Tensor]): Preprocessed modalities.
            masks (dict[str, Tensor], optional): Explicit masks ``(B, N_m)``
                (True = masked) for every input modality; every sample must
                keep the same number of tokens. Sampled when None.
            num_visible (int, optional): Visible tokens per sample of the
                given ``masks`` when known (saves counting them, a host
                sync).

        Returns:
            tuple: Encoder output ``(B, n_vis + G, D)``, the token layout,
            the masks, ``ids_keep`` and ``ids_restore`` (with
            ``encoder_mask_tokens`` every token counts as encoded).
        """
        tokens, layout = self.encoder.tokenize(self._encoder_inputs(inputs))
        batch, total = tokens.shape[:2]
        if masks is None:
            masks = self.mask_sampler(layout, batch, tokens.device)
            num_visible = getattr(self.mask_sampler, 'num_visible', None)
        else:
            masks = self._check_masks(masks, layout, batch, tokens.device)
        if self.encoder_mask_tokens:
            ids = torch.arange(
                total, device=tokens.device).expand(batch, total)
            x = self.encoder.encode(
                self._mask_token_inputs(tokens, masks, layout))
            return x, layout, masks, ids, ids
        ids_keep, ids_restore = masks_to_ids(masks, num_visible)
        x = self.encoder.encode(gather_tokens(tokens, ids_keep))
        return x, layout, masks, ids_keep, ids_restore

    def _forward(
        self,
        inputs: Dict[str, Tensor],
        masks: Optional[Masks] = None,
        num_visible: Optional[int] = None
    ) -> Tuple[Dict[str, Tensor], Masks, TokenLayout]:
        x, layout, masks, ids_keep, ids_restore = self.encode(
            inputs, masks, num_visible)
        device_type = x.device.type
        amp_dtype = active_autocast_dtype(device_type)
        # one cast for all decoders (autocast would cast x in each of them)
        x_amp = x if amp_dtype is None else x.to(amp_dtype)
        preds = {}
        for name, decoder in self.decoders.items():
            if amp_dtype == torch.float16 and name in self.fp32_decoders:
                with torch.autocast(device_type=device_type, enabled=False):
                    preds[name] = decoder(x.float(), layout, ids_keep,
                                          ids_restore)
            else:
                preds[name] = decoder(x_amp, layout, ids_keep, ids_restore)
        return preds, masks, layout

    # ------------------------------------------------------------------
    # modes
    # ------------------------------------------------------------------
    def forward(
        self,
        inputs: Dict[str, Tensor],
        data_samples: Optional[List[BaseDataElement]] = None,
        mode: str = 'tensor',
        masks: Optional[Masks] = None
    ) -> Union[Dict[str, Tensor], List[BaseDataElement], dict]:
        """Run the model.

        Args:
            inputs (dict[str, Tensor]): Preprocessed modalities, e.g. rgb
                ``(B, 3, H, W)``, depth ``(B, 1, H, W)``, semseg
                ``(B, H/4, W/4)``; also the targets.
            data_samples (list[BaseDataElement], optional): Per-sample
                meta information.
            mode (str): ``'loss'``, ``'predict'`` or ``'tensor'``.
            masks (dict[str, Tensor], optional): Explicit masks instead of
                sampled ones (e.g. for visualisation).

        Returns:
            ``'loss'``: ``{'loss_<decoder>': Tensor}``; ``'predict'``: one
            data element per sample (see :meth:`predict`); ``'tensor'``:
            ``dict(preds={decoder: (B, N, C*ph*pw)}, masks={...})``.
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples, masks)
        if mode == 'predict':
            return self.predict(inputs, data_samples, masks)
        if mode == 'tensor':
            preds, masks, _ = self._forward(inputs, masks)
            return dict(preds=preds, masks=masks)
        raise ValueError(f'Invalid mode {mode!r}: expected "loss", '
                         '"predict" or "tensor"')

    def target_patches(self, name: str, target: Tensor) -> Tensor:
        """Patch tokens of the target of decoder ``name``.

        Args:
            name (str): Decoder name.
            target (Tensor): Float ``(B, C, H, W)`` or int label map
                ``(B, h, w)``.

        Returns:
            Tensor: ``(B, N, C*ph*pw)`` or ``(B, N, ph*pw)``.
        """
        patch = self.decoders[name].patch_size
        if target.dtype.is_floating_point:
            return patchify(target, patch)
        return patchify_labels(target, patch)

    def loss(self,
             inputs: Dict[str, Tensor],
             data_samples: Optional[List[BaseDataElement]] = None,
             masks: Optional[Masks] = None) -> Dict[str, Tensor]:
        """Masked reconstruction losses.

        Args:
            inputs (dict[str, Tensor]): Preprocessed modalities.
            data_samples (list, optional): Unused.
            masks (dict[str, Tensor], optional): Explicit masks.

        Returns:
            dict[str, Tensor]: ``loss_<decoder>`` for every decoder (after
            task weighting, if any).
        """
        num_visible = None
        if masks is None:
            masks = self.sample_masks(inputs)
            num_visible = getattr(self.mask_sampler, 'num_visible', None)
        return self._loss_step(inputs, masks, num_visible)

    def _masked_losses(self, inputs: Dict[str, Tensor], masks: Masks,
                       num_visible: Optional[int]) -> Dict[str, Tensor]:
        """Forward and losses for given masks (what ``compile`` compiles)."""
        preds, masks, _ = self._forward(inputs, masks, num_visible)
        losses = {}
        for name, pred in preds.items():
            target_name = self.targets[name]
            if target_name not in inputs:
                raise KeyError(f'target {target_name!r} of decoder {name!r} '
                               f'is missing from the inputs {list(inputs)}')
            target = self.target_patches(name, inputs[target_name])
            if target.shape[:2] != pred.shape[:2]:
                raise ValueError(
                    f'decoder {name!r} predicts {pred.shape[1]} patches but '
                    f'its target {target_name!r} has {target.shape[1]}')
            mask = masks.get(target_name)
            if mask is None:
                mask = torch.ones(
                    pred.shape[:2], dtype=torch.bool, device=pred.device)
            losses[name] = self.losses[name](pred.float(), target, mask)
        if self.task_weighting is not None:
            losses = self.task_weighting(losses)
        return {f'loss_{name}': value for name, value in losses.items()}

    def predict(self,
                inputs: Dict[str, Tensor],
                data_samples: Optional[List[BaseDataElement]] = None,
                masks: Optional[Masks] = None) -> List[BaseDataElement]:
        """Reconstructions and masks, per sample.

        Args:
            inputs (dict[str, Tensor]): Preprocessed modalities.
            data_samples (list[BaseDataElement], optional): Filled in place
                when given, else new elements are returned.
            masks (dict[str, Tensor], optional): Explicit masks ``(B, N_m)``
                or ``(1, N_m)``, True = masked.

        Returns:
            list[BaseDataElement]: Per sample, ``pred_<decoder>`` (the
            prediction as an image ``(C, h * ph, w * pw)``; logits at 1/4
            resolution for semseg), ``pred_<decoder>_label`` (argmax, for
            cross-entropy decoders) and ``mask_<modality>`` (the ``(h, w)``
            bool token mask used, True = masked).
        """
        preds, masks, layout = self._forward(inputs, masks)
        batch = next(iter(preds.values())).shape[0]
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(batch)]
        if len(data_samples) != batch:
            raise ValueError(f'{len(data_samples)} data samples for a batch '
                             f'of {batch}')
        fields: Dict[str, Tensor] = {}
        for name, pred in preds.items():
            decoder = self.decoders[name]
            image = unpatchify(pred.float(), decoder.query_grid(layout),
                               decoder.patch_size, decoder.out_channels)
            fields[f'pred_{name}'] = image
            if isinstance(self.losses[name], MaskedCrossEntropyLoss):
                fields[f'pred_{name}_label'] = image.argmax(dim=1)
        for name, mask in masks.items():
            fields[f'mask_{name}'] = mask.reshape(batch, *layout.grids[name])
        for i, sample in enumerate(data_samples):
            sample.set_data({key: value[i] for key, value in fields.items()})
        return data_samples
