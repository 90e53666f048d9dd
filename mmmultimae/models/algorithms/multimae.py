# Copyright (c) mmmultimae contributors. All rights reserved.
"""MultiMAE pre-training model."""
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel, ModuleDict
from mmengine.structures import BaseDataElement
from timm.layers import trunc_normal_
from torch import Tensor, nn

from mmmultimae.registry import MODELS, TASK_UTILS
from ..mask_samplers import masks_to_ids
from ..utils.autocast import active_autocast_dtype
from ..utils.token_layout import TokenLayout
from ..utils.tokens import gather_tokens

Masks = Dict[str, Tensor]

#: State-dict keys written before the heads existed (``decoders.<name>.*``)
#: and where they live now.
_LEGACY_DECODER_KEY = re.compile(r'decoders\.([^.]+)\.(.*)')


@MODELS.register_module()
class MultiMAE(BaseModel):
    """Multi-modal multi-task masked autoencoder (Bachmann et al., 2022).

    The encoder (a ``MultiViT``) tokenizes the input modalities, a mask
    sampler picks the visible tokens (a fixed number per sample), the encoder
    runs on the visible tokens plus its global tokens, and every head
    decodes its output and scores it on the masked tokens of its target.
    The split into encoder and heads that own their loss follows
    mmpretrain's ``MAE`` algorithm.

    Args:
        encoder (dict): Config of the encoder (``MultiViT``).
        heads (dict[str, dict]): Head configs by output name
            (``PixelReconstructionHead`` / ``SemSegReconstructionHead``, each
            with its ``decoder``, ``loss`` and ``target``). A ``None`` entry
            is skipped, so a config drops an output of its base with
            ``heads=dict(norm_rgb=None)``.
        mask_sampler (dict): Mask sampler config (``TASK_UTILS``).
        input_modalities (Sequence[str], optional): Modalities fed to the
            encoder; others present in the inputs serve only as targets.
            Defaults to all modalities with an encoder adapter.
        task_weighting (dict, optional): ``TaskWeighting`` config.
        compile (bool | dict): ``torch.compile`` the training step after
            mask sampling (encoder, heads and losses; the sampler stays
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
                 heads: Dict[str, Optional[dict]],
                 mask_sampler: dict,
                 input_modalities: Optional[Sequence[str]] = None,
                 task_weighting: Optional[dict] = None,
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
        modalities = self.encoder.modalities
        if input_modalities is None:
            input_modalities = modalities
        unknown = [m for m in input_modalities if m not in modalities]
        if unknown or not input_modalities:
            raise ValueError(f'input_modalities {list(input_modalities)} '
                             'must be a non-empty subset of the encoder '
                             f'adapters {modalities}')
        self.input_modalities = list(input_modalities)

        heads = {name: cfg for name, cfg in heads.items() if cfg is not None}
        if not heads:
            raise ValueError('MultiMAE needs at least one head')
        self.heads = ModuleDict({
            name: MODELS.build(
                cfg,
                default_args=dict(
                    name=name,
                    encoder_dims=self.encoder.embed_dims,
                    context_modalities=self.input_modalities))
            for name, cfg in heads.items()
        })
        self.mask_sampler = TASK_UTILS.build(mask_sampler)
        self.task_weighting = MODELS.build(task_weighting) \
            if task_weighting else None
        self.encoder_mask_tokens = encoder_mask_tokens
        if encoder_mask_tokens:
            self.encoder_mask_token = nn.Parameter(
                torch.zeros(1, 1, self.encoder.embed_dims))
            trunc_normal_(self.encoder_mask_token, std=0.02)
        self._loss_step = self._masked_losses
        if compile:
            options = compile if isinstance(compile, dict) else {}
            self._loss_step = torch.compile(self._masked_losses, **options)
        self.register_load_state_dict_pre_hook(_rename_legacy_decoder_keys)

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

    @property
    def num_visible(self) -> int:
        """Visible tokens per sample of the mask sampler (the training
        budget)."""
        return self.mask_sampler.num_visible

    def example_inputs(
            self,
            batch_size: int,
            generator: Optional[torch.Generator] = None) -> Dict[str, Tensor]:
        """Random preprocessed inputs and targets at the training size.

        Every input modality (standard normal floats, uniform class ids) at
        the size its adapter's position table was built for, plus the
        targets of heads that are not inputs; for benchmarks and tests.

        Args:
            batch_size (int): ``B``.
            generator (torch.Generator, optional): CPU random generator.

        Returns:
            dict[str, Tensor]: e.g. rgb ``(B, 3, H, W)``, depth
            ``(B, 1, H, W)``, semseg ``(B, H/4, W/4)``, on the CPU.
        """
        inputs = {
            name: self.encoder.adapters[name].example_input(
                batch_size, generator)
            for name in self.input_modalities
        }
        for head in self.heads.values():
            if head.target not in inputs:
                inputs[head.target] = head.example_target(
                    batch_size, generator)
        return inputs

    def token_layout(self, inputs: Dict[str, Tensor]) -> TokenLayout:
        """Layout of the encoder's input tokens for a batch.

        Args:
            inputs (dict[str, Tensor]): Preprocessed modalities (targets
                that are not input modalities are ignored).

        Returns:
            TokenLayout: The input modalities' grids, in input order.
        """
        return self.encoder.token_layout(self._encoder_inputs(inputs))

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
        fill = (self.encoder_mask_token +
                self.encoder.pos_tokens(layout)).to(tokens.dtype)
        mask = torch.cat([masks[name] for name in layout.modalities], dim=1)
        return torch.where(mask.unsqueeze(-1), fill, tokens)

    def sample_masks(self,
                     inputs: Dict[str, Tensor],
                     num_visible: Optional[int] = None,
                     generator: Optional[torch.Generator] = None) -> Masks:
        """Sample token masks for the input modalities of a batch.

        Args:
            inputs (dict[str, Tensor]): Preprocessed modalities.
            num_visible (int, optional): Visible tokens per sample; defaults
                to the sampler's budget.
            generator (torch.Generator, optional): Random generator (the
                global RNG is then not touched); the masks are drawn on its
                device.

        Returns:
            dict[str, Tensor]: ``(B, N_m)`` bool masks, True = masked, on the
            generator's device, else the inputs'.
        """
        layout = self.token_layout(inputs)
        first = next(iter(inputs.values()))
        device = first.device if generator is None else generator.device
        return self.mask_sampler(layout, first.shape[0], device, generator,
                                 num_visible)

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
            num_visible = self.num_visible
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
    ) -> Tuple[Dict[str, Tensor], Masks, TokenLayout, Tensor]:
        x, layout, masks, ids_keep, ids_restore = self.encode(
            inputs, masks, num_visible)
        amp_dtype = active_autocast_dtype(x.device.type)
        # one cast for all heads (autocast would cast x in each of them)
        x_amp = None if amp_dtype is None else x.to(amp_dtype)
        preds = {
            name: head(x, layout, ids_keep, ids_restore, x_amp)
            for name, head in self.heads.items()
        }
        return preds, masks, layout, x

    def pool_tokens(self, tokens: Tensor, pooling: str = 'mean') -> Tensor:
        """One feature vector per sample from encoder output tokens.

        Args:
            tokens (Tensor): Encoder output ``(B, n + G, D)`` (``n``
                encoded modality tokens, then the ``G`` global tokens), e.g.
                ``forward(mode='tensor')['tokens']``.
            pooling (str): ``'mean'`` (mean of the ``n`` modality tokens)
                or ``'global'`` (the first global token).

        Returns:
            Tensor: ``(B, D)``.
        """
        num_global = self.encoder.num_global_tokens
        if pooling == 'mean':
            if tokens.shape[1] <= num_global:
                raise ValueError(f'no modality tokens to pool: tokens '
                                 f'{tuple(tokens.shape)} hold only the '
                                 f'{num_global} global tokens')
            return tokens[:, :tokens.shape[1] - num_global].mean(dim=1)
        if pooling == 'global':
            if num_global < 1:
                raise ValueError("pooling='global' needs a global token; "
                                 'the encoder has num_global_tokens=0')
            return tokens[:, tokens.shape[1] - num_global]
        raise ValueError(f"pooling must be 'mean' or 'global', got "
                         f'{pooling!r}')

    def extract_feat(self,
                     inputs: Dict[str, Tensor],
                     pooling: str = 'mean') -> Tensor:
        """Pooled features of the encoder on every token of the inputs (no
        masking), e.g. for k-NN or linear-probe monitors.

        Args:
            inputs (dict[str, Tensor]): Preprocessed modalities; those that
                are not input modalities of the model are ignored (pass only
                ``rgb`` for RGB features).
            pooling (str): See :meth:`pool_tokens`.

        Returns:
            Tensor: ``(B, D)``.
        """
        tokens, _ = self.encoder.forward_tokens(self._encoder_inputs(inputs))
        return self.pool_tokens(tokens, pooling)

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
            ``'loss'``: ``{'loss_<head>': Tensor}``; ``'predict'``: one
            data element per sample (see :meth:`predict`); ``'tensor'``:
            ``dict(preds={head: (B, N, C*ph*pw)}, masks={...},
            tokens=(B, n_vis + G, D))``, ``tokens`` being the encoder output
            (see :meth:`pool_tokens`).
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples, masks)
        if mode == 'predict':
            return self.predict(inputs, data_samples, masks)
        if mode == 'tensor':
            preds, masks, _, tokens = self._forward(inputs, masks)
            return dict(preds=preds, masks=masks, tokens=tokens)
        raise ValueError(f'Invalid mode {mode!r}: expected "loss", '
                         '"predict" or "tensor"')

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
            dict[str, Tensor]: ``loss_<head>`` for every head (after task
            weighting, if any).
        """
        num_visible = None
        if masks is None:
            masks = self.sample_masks(inputs)
            num_visible = self.num_visible
        return self._loss_step(inputs, masks, num_visible)

    def _masked_losses(self, inputs: Dict[str, Tensor], masks: Masks,
                       num_visible: Optional[int]) -> Dict[str, Tensor]:
        """Forward and losses for given masks (what ``compile`` compiles)."""
        preds, masks, _, _ = self._forward(inputs, masks, num_visible)
        losses = {
            name: self.heads[name].loss(pred, inputs, masks)
            for name, pred in preds.items()
        }
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
            list[BaseDataElement]: Per sample, ``pred_<head>`` (the
            prediction as an image ``(C, h * ph, w * pw)``; logits at 1/4
            resolution for semseg), ``pred_<head>_label`` (argmax, for label
            heads) and ``mask_<modality>`` (the ``(h, w)`` bool token mask
            used, True = masked).
        """
        preds, masks, layout, _ = self._forward(inputs, masks)
        batch = next(iter(preds.values())).shape[0]
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(batch)]
        if len(data_samples) != batch:
            raise ValueError(f'{len(data_samples)} data samples for a batch '
                             f'of {batch}')
        fields: Dict[str, Tensor] = {}
        for name, pred in preds.items():
            fields.update(self.heads[name].predict(pred, layout))
        for name, mask in masks.items():
            fields[f'mask_{name}'] = mask.reshape(batch, *layout.grids[name])
        for i, sample in enumerate(data_samples):
            sample.set_data({key: value[i] for key, value in fields.items()})
        return data_samples


def _rename_legacy_decoder_keys(module: nn.Module, state_dict: dict,
                                prefix: str, *args) -> None:
    """Load-state-dict pre-hook: map ``decoders.<name>.*`` (checkpoints
    written before the heads existed) to ``heads.<name>.decoder.*``, in
    place, so ``load_from``, ``resume`` and ``load_checkpoint`` of old
    checkpoints keep working (the optimizer state is unaffected: the
    parameter order did not change)."""
    for key in list(state_dict):
        if not key.startswith(prefix):
            continue
        match = _LEGACY_DECODER_KEY.fullmatch(key[len(prefix):])
        if match is not None:
            name, rest = match.groups()
            new = f'{prefix}heads.{name}.decoder.{rest}'
            if new not in state_dict:
                state_dict[new] = state_dict.pop(key)
