# Copyright (c) mmmultimae contributors. All rights reserved.
"""Layer-wise learning-rate decay with weight-decay exclusions."""
from typing import Callable, Dict, List, Optional, Set, Tuple

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from mmmultimae.registry import OPTIM_WRAPPER_CONSTRUCTORS

_PARAMWISE_KEYS = ('layer_decay_rate', 'scale_input_lr', 'no_decay_names')

#: Parameters without weight decay by default (matched as a full name or a
#: dotted suffix): positional tables and global tokens, as official.
DEFAULT_NO_DECAY_NAMES = ('pos_embed', 'global_tokens')

LayerDepthFn = Callable[[str], Tuple[int, int]]


def get_layer_depth_fn(model: nn.Module) -> LayerDepthFn:
    """``name -> (layer_id, num_layer_depths)`` of a model.

    ``model.get_layer_depth(name)`` if the model has one, else its
    backbone's ``get_layer_depth(name, 'backbone.')`` (mmseg segmentors have
    none themselves; parameters outside the backbone, e.g. heads, are the
    last layer).

    Args:
        model (nn.Module): The model, DDP-unwrapped.

    Returns:
        Callable[[str], tuple[int, int]]: The layer depth function.
    """
    if callable(getattr(model, 'get_layer_depth', None)):
        return model.get_layer_depth
    backbone = getattr(model, 'backbone', None)
    if callable(getattr(backbone, 'get_layer_depth', None)):
        return lambda name: backbone.get_layer_depth(name, 'backbone.')
    raise TypeError(
        f'Layer-wise lr decay needs {type(model).__name__}.get_layer_depth'
        '(name) or a backbone with get_layer_depth(name, prefix), e.g. '
        'MultiViT')


def declared_no_decay_names(model: nn.Module) -> Set[str]:
    """Full names returned by the ``no_weight_decay()`` methods (timm
    convention, names relative to the module) of the model and its
    submodules.

    Args:
        model (nn.Module): The model.

    Returns:
        set[str]: Names relative to ``model``. Entries are matched exactly,
        so a module name (official ``SemSegInputAdapter`` returns
        ``'class_emb'``) matches no parameter, as official.
    """
    names: Set[str] = set()
    for prefix, module in model.named_modules():
        method = getattr(module, 'no_weight_decay', None)
        if callable(method):
            dot = f'{prefix}.' if prefix else ''
            names.update(dot + name for name in method())
    return names


def lr_decay_scale(layer_id: int,
                   num_layer_depths: int,
                   decay_rate: float,
                   scale_input_lr: bool = True) -> float:
    """``decay_rate ** (num_layer_depths - 1 - layer_id)``.

    With ``L`` blocks, ``num_layer_depths = L + 2``: the input layer 0 gets
    ``decay_rate ** (L + 1)``, block ``i`` (layer ``i + 1``) gets
    ``decay_rate ** (L - i)``, the heads (layer ``L + 1``) get 1.

    Args:
        layer_id (int): Layer depth in ``[0, num_layer_depths)``.
        num_layer_depths (int): Number of layer depths.
        decay_rate (float): Decay per layer.
        scale_input_lr (bool): If False, layer 0 gets 1.0 (official depth /
            Taskonomy option ``--scale_input_lr``). Defaults to True.

    Returns:
        float: The lr multiplier.
    """
    if not 0 <= layer_id < num_layer_depths:
        raise ValueError(f'layer_id {layer_id} outside [0, '
                         f'{num_layer_depths})')
    if layer_id == 0 and not scale_input_lr:
        return 1.0
    return decay_rate**(num_layer_depths - 1 - layer_id)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Optimizer wrapper with layer-wise lr decay and no-decay groups.

    The design of mmpretrain's ``LearningRateDecayOptimWrapperConstructor``
    (a model-provided ``get_layer_depth``), with the parameter groups of
    official MultiMAE / BEiT fine-tuning: one group per (layer, decay)
    pair instead of one per parameter, so fused/foreach optimizers stay
    efficient.

    - Layer ids: ``model.get_layer_depth(name)`` or
      ``model.backbone.get_layer_depth(name, 'backbone.')``
      (:meth:`MultiViT.get_layer_depth`: adapters and global tokens 0,
      block ``i`` ``i + 1``, everything else ``L + 1``).
    - lr: ``optimizer.lr * lr_scale`` with ``lr_scale = layer_decay_rate **
      (L + 1 - layer_id)`` (:func:`lr_decay_scale`).
    - Weight decay: 0 for 1-D parameters, names ending in ``.bias``, names
      equal to or ending in ``'.' + n`` for ``n`` in ``no_decay_names``,
      and the names that ``no_weight_decay()`` methods of the model's
      modules declare; ``optimizer.weight_decay`` otherwise.
    - Frozen parameters (``requires_grad=False``) are left out.

    Each group is named ``layer_<id>_decay`` / ``layer_<id>_no_decay`` and
    records ``lr``, ``weight_decay``, ``lr_scale``, ``layer_id`` and
    ``param_names``. Groups are ordered by decreasing layer id (heads
    first), so the lr that mmengine logs (the first group's) is the
    scheduled base lr; within a layer, by first parameter in
    ``named_parameters()``. mmengine's lr schedulers scale each group's own
    initial lr, so ``LinearLR`` and ``CosineAnnealingLR(eta_min=0)`` or
    ``eta_min_ratio`` keep the ratios (an absolute ``eta_min`` > 0 does
    not; official MultiMAE scales its ``min_lr`` by ``lr_scale`` too).

    Example:
        >>> optim_wrapper = dict(
        ...     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        ...     constructor='LayerDecayOptimWrapperConstructor',
        ...     paramwise_cfg=dict(layer_decay_rate=0.75))

    Args:
        optim_wrapper_cfg (dict): Optimizer wrapper config with
            ``optimizer`` (which must set ``lr`` and ``weight_decay``).
        paramwise_cfg (dict, optional): ``layer_decay_rate`` (float in
            ``(0, 1]``, default 1.0), ``scale_input_lr`` (bool, default
            True) and ``no_decay_names`` (names or dotted suffixes, default
            :data:`DEFAULT_NO_DECAY_NAMES`; a given list replaces it).
    """

    def __init__(self,
                 optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        cfg = self.paramwise_cfg
        self.layer_decay_rate = float(cfg.get('layer_decay_rate', 1.0))
        self.scale_input_lr = bool(cfg.get('scale_input_lr', True))
        no_decay = cfg.get('no_decay_names', DEFAULT_NO_DECAY_NAMES)
        if isinstance(no_decay, str):
            no_decay = [no_decay]
        if not all(isinstance(n, str) and n for n in no_decay):
            raise TypeError('no_decay_names must be parameter names or '
                            f'dotted suffixes (str), got {no_decay!r}')
        self.no_decay_names: Tuple[str, ...] = tuple(no_decay)
        # The parent only calls add_params for a non-empty paramwise_cfg.
        self.paramwise_cfg = dict(
            layer_decay_rate=self.layer_decay_rate,
            scale_input_lr=self.scale_input_lr,
            no_decay_names=self.no_decay_names)

    def _validate_cfg(self) -> None:
        if not isinstance(self.paramwise_cfg, dict):
            raise TypeError('paramwise_cfg must be None or a dict, got '
                            f'{type(self.paramwise_cfg)}')
        unknown = sorted(set(self.paramwise_cfg) - set(_PARAMWISE_KEYS))
        if unknown:
            raise ValueError(f'LayerDecayOptimWrapperConstructor: unknown '
                             f'paramwise_cfg keys {unknown}; supported: '
                             f'{list(_PARAMWISE_KEYS)}')
        rate = self.paramwise_cfg.get('layer_decay_rate', 1.0)
        if not 0 < rate <= 1:
            raise ValueError(f'layer_decay_rate must be in (0, 1], got {rate}')
        if self.base_lr is None or self.base_wd is None:
            raise ValueError('LayerDecayOptimWrapperConstructor needs '
                             'optimizer.lr and optimizer.weight_decay, got '
                             f'{self.optimizer_cfg}')

    def is_no_decay(self, name: str, param: nn.Parameter,
                    declared: Set[str]) -> bool:
        """Whether a parameter gets no weight decay (see class doc)."""
        if param.ndim <= 1 or name.endswith('.bias') or name in declared:
            return True
        return any(name == n or name.endswith('.' + n)
                   for n in self.no_decay_names)

    def add_params(self, params: List[dict], module: nn.Module) -> None:
        """Append the (layer, decay) parameter groups of ``module``.

        Args:
            params (list[dict]): Parameter groups, extended in place.
            module (nn.Module): The model (names are relative to it).
        """
        layer_depth = get_layer_depth_fn(module)
        declared = declared_no_decay_names(module)
        groups: Dict[str, dict] = {}
        num_depths = None
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            layer_id, depths = layer_depth(name)
            if num_depths is None:
                num_depths = depths
            elif depths != num_depths:
                raise ValueError(f'get_layer_depth gave {depths} layer depths '
                                 f'for {name!r} but {num_depths} before')
            scale = lr_decay_scale(layer_id, depths, self.layer_decay_rate,
                                   self.scale_input_lr)
            no_decay = self.is_no_decay(name, param, declared)
            kind = 'no_decay' if no_decay else 'decay'
            group_name = f'layer_{layer_id}_{kind}'
            group = groups.get(group_name)
            if group is None:
                group = groups[group_name] = dict(
                    params=[],
                    param_names=[],
                    name=group_name,
                    layer_id=layer_id,
                    lr_scale=scale,
                    lr=self.base_lr * scale,
                    weight_decay=0.0 if no_decay else self.base_wd)
            group['params'].append(param)
            group['param_names'].append(name)
        if not groups:
            raise ValueError(f'{type(module).__name__} has no trainable '
                             'parameter')
        # Deepest layer (the heads, lr_scale 1) first: mmengine logs the lr
        # of the first group, which is then the scheduled base lr.
        ordered = sorted(
            groups.values(), key=lambda g: g['layer_id'], reverse=True)
        params.extend(ordered)
        lines = [
            f'  {g["name"]}: {len(g["params"])} params, '
            f'lr_scale={g["lr_scale"]:.4g}, weight_decay={g["weight_decay"]}'
            for g in ordered
        ]
        print_log(
            f'Layer-wise lr decay {self.layer_decay_rate} '
            f'({num_depths} layer depths):\n' + '\n'.join(lines),
            logger='current')
