# Copyright (c) mmmultimae contributors. All rights reserved.
"""Image classification with a MultiViT encoder (mmpretrain conventions)."""
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.structures import DataSample
from torch import Tensor

from mmmultimae.registry import MODELS

#: The classifier's default data preprocessor: mmpretrain's, built under
#: mmpretrain's scope so that its batch augments (``Mixup``, ``CutMix``)
#: resolve by their plain names.
DEFAULT_PREPROCESSOR = dict(
    type='mmpretrain.ClsDataPreprocessor', _scope_='mmpretrain')


@MODELS.register_module()
class MultiViTClassifier(ImageClassifier):
    """mmpretrain's ``ImageClassifier`` on a :class:`MultiViT` encoder.

    The data preprocessor (mmpretrain's ``ClsDataPreprocessor``: stacking,
    ImageNet normalisation, Mixup / CutMix from ``train_cfg.augments``)
    gives one image tensor; it becomes the input of the ``modality``
    adapter, every token is encoded (no masking) and the head receives the
    tokens ``(B, N + G, D)`` (global tokens last), as official fine-tuning
    (``MultiViT.forward`` then ``LinearOutputAdapter``). A dict of
    modalities (a multi-modal preprocessor) is passed on as it is.
    ``test_step`` / ``predict`` return mmpretrain ``DataSample`` s with
    ``pred_score`` and ``pred_label``; ``get_layer_depth`` (for
    ``LayerDecayOptimWrapperConstructor``) is the backbone's.

    ``freeze_backbone=True`` is linear probing: the encoder's parameters
    take no gradient, it stays in eval mode (no drop path) and runs without
    autograd, only the head (and neck) train.

    Args:
        backbone (dict): A ``MultiViT`` config.
        head (dict): Head config, e.g. :class:`MultiViTClsHead`.
        modality (str): The backbone adapter that reads the image tensor.
            Defaults to ``'rgb'``.
        freeze_backbone (bool): Linear probing. Defaults to False.
        neck (dict, optional): mmpretrain neck between encoder and head
            (it receives ``(tokens, )``).
        train_cfg (dict, optional): ``augments`` (mmpretrain batch
            augments, e.g. ``Mixup`` / ``CutMix``) and ``probs``.
        data_preprocessor (dict, optional): Defaults to mmpretrain's
            ``ClsDataPreprocessor`` (:data:`DEFAULT_PREPROCESSOR`); a dict
            without ``type`` is completed with it.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 modality: str = 'rgb',
                 freeze_backbone: bool = False,
                 neck: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(DEFAULT_PREPROCESSOR)
        elif isinstance(data_preprocessor, dict) and \
                'type' not in data_preprocessor:
            data_preprocessor = {**DEFAULT_PREPROCESSOR, **data_preprocessor}
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if modality not in self.backbone.modalities:
            raise ValueError(
                f'{type(self).__name__}: modality {modality!r} has no input '
                f'adapter; the backbone has {self.backbone.modalities}')
        self.modality = modality
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:
            self.backbone.requires_grad_(False)
            self.backbone.eval()

    def train(self, mode: bool = True) -> 'MultiViTClassifier':
        """Set the training mode; a frozen backbone stays in eval mode."""
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def extract_feat(self,
                     inputs: Union[Tensor, Dict[str, Tensor]],
                     stage: str = 'neck') -> Union[Tuple[Tensor], Tensor]:
        """Encoder tokens (``stage='backbone'``), after the neck
        (``'neck'``, the default) or the head's pooled, normalised feature
        (``'pre_logits'``).

        Args:
            inputs (Tensor | dict[str, Tensor]): Images ``(B, C, H, W)`` of
                ``modality``, or a dict of modalities.
            stage (str): ``'backbone'``, ``'neck'`` or ``'pre_logits'``.

        Returns:
            tuple[Tensor] | Tensor: ``(tokens, )`` with tokens
            ``(B, N + G, D)``, or the ``(B, D)`` pre-logits.
        """
        if stage not in ('backbone', 'neck', 'pre_logits'):
            raise ValueError(f'stage must be backbone, neck or pre_logits, '
                             f'got {stage!r}')
        if isinstance(inputs, Tensor):
            inputs = {self.modality: inputs}
        with torch.set_grad_enabled(torch.is_grad_enabled()
                                    and not self.freeze_backbone):
            tokens, _ = self.backbone.forward_tokens(inputs)
        feats = (tokens, )
        if stage == 'backbone':
            return feats
        if self.with_neck:
            feats = self.neck(feats)
        if stage == 'neck':
            return feats
        return self.head.pre_logits(feats)

    def example_batch(
            self,
            batch_size: int,
            generator: Optional[torch.Generator] = None
    ) -> Tuple[Tensor, List[DataSample]]:
        """A random preprocessed batch at the adapter's input size with
        random labels of the head's classes, for benchmarks."""
        inputs = self.backbone.adapters[self.modality].example_input(
            batch_size, generator)
        labels = torch.randint(
            0, self.head.num_classes, (batch_size, ), generator=generator)
        samples = [DataSample().set_gt_label(label) for label in labels]
        return inputs, samples
