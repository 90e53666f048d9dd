# Copyright (c) mmmultimae contributors. All rights reserved.
"""Test-time modes of the multi-modal segmentors on dicts of modalities.

mmseg's ``EncoderDecoder`` slides windows over one image tensor; MultiMAE's
inputs are a dict of modalities, some at reduced resolution (semseg at
1/4), and its paper evaluates with a largest-side resize and pad instead
(supplementary B.2), which works for inputs whose normalisation uses the
whole image (standardised depth). The pure functions here compute windows,
crop every modality consistently and resize-and-pad them;
:class:`MultiModalSegmentorMixin` runs the modes.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmengine.structures import BaseDataElement, PixelData
from mmseg.structures import SegDataSample
from torch import Tensor, nn

from mmmultimae.registry import MODELS

Inputs = Dict[str, Tensor]
Box = Tuple[int, int, int, int]

#: Test modes; ``resize_pad`` has two protocols (``test_cfg.protocol``).
TEST_MODES = ('whole', 'slide', 'resize_pad')
PROTOCOLS = ('full', 'official')
#: Ground-truth fields carried into every mode's results.
GT_FIELDS = ('gt_sem_seg', 'gt_depth_map', 'gt_valid_mask')


def slide_windows(height: int, width: int, crop: Tuple[int, int],
                  stride: Tuple[int, int]) -> List[Box]:
    """Windows ``(y1, y2, x1, x2)`` of mmseg's sliding-window inference.

    Windows start every ``stride`` pixels; the last one of a row / column
    is shifted back to end at the border; an image smaller than the crop
    gives one window covering it.
    """
    (h_crop, w_crop), (h_stride, w_stride) = crop, stride
    h_grids = max(height - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(width - w_crop + w_stride - 1, 0) // w_stride + 1
    boxes = []
    for h_idx in range(h_grids):
        for w_idx in range(w_grids):
            y2 = min(h_idx * h_stride + h_crop, height)
            x2 = min(w_idx * w_stride + w_crop, width)
            boxes.append((max(y2 - h_crop, 0), y2, max(x2 - w_crop, 0), x2))
    return boxes


def crop_inputs(inputs: Inputs, box: Box, strides: Dict[str, int]) -> Inputs:
    """The same full-resolution ``box = (y1, y2, x1, x2)`` of every
    modality, each at its own ``stride_level``.

    Raises:
        ValueError: If the box does not fall on a modality's pixel grid.
    """
    out = {}
    for name, x in inputs.items():
        s = strides[name]
        if any(v % s for v in box):
            raise ValueError(
                f'window {box} of the full-resolution image does not fall on '
                f'the pixel grid of {name!r} (stride_level {s}); use a crop '
                f'size and stride divisible by {s}')
        y1, y2, x1, x2 = (v // s for v in box)
        out[name] = x[..., y1:y2, x1:x2]
    return out


def resize_pad_inputs(inputs: Inputs,
                      strides: Dict[str, int],
                      content: Tuple[int, int],
                      size: int,
                      nearest: Sequence[str] = ('depth', ),
                      pad_value: float = 0.) -> Tuple[Inputs, Tuple[int, int]]:
    """The paper's evaluation geometry: resize the largest side of the
    image to ``size``, pad bottom / right to ``size x size``.

    Args:
        inputs (dict[str, Tensor]): Preprocessed modalities ``(B, C, h, w)``
            / label maps ``(B, h, w)``; only their top-left ``content``
            (full resolution, e.g. without the preprocessor's padding) is
            used.
        strides (dict[str, int]): ``stride_level`` of every modality.
        content (tuple[int, int]): Full-resolution ``(H, W)`` of the image.
        size (int): Target of the largest side (the training size).
        nearest (Sequence[str]): Float modalities resized nearest (depth,
            as official); others bilinear; integer maps always nearest.
        pad_value (float): Value of the padding (0 = the mean colour and
            the standardised mean depth).

    Returns:
        tuple: The padded inputs (``size / stride_level`` square per
        modality) and the resized full-resolution ``(h, w)`` of the
        content.
    """
    height, width = content
    scale = size / max(height, width)
    new_h = min(size, max(1, int(round(height * scale))))
    new_w = min(size, max(1, int(round(width * scale))))
    out = {}
    for name, x in inputs.items():
        s = strides[name]
        if size % s:
            raise ValueError(f'resize_pad size {size} is not divisible by '
                             f'the stride_level {s} of {name!r}')
        region = x[..., :height // s, :width // s]
        target = (max(1, round(new_h / s)), max(1, round(new_w / s)))
        labels = not x.dtype.is_floating_point
        image = region[:, None] if labels else region
        mode = 'nearest' if labels or name in nearest else 'bilinear'
        kwargs = {} if mode == 'nearest' else dict(align_corners=False)
        resized = F.interpolate(image.float(), target, mode=mode, **kwargs)
        resized = resized.to(x.dtype)
        resized = resized[:, 0] if labels else resized
        pad = (0, size // s - target[1], 0, size // s - target[0])
        out[name] = F.pad(resized, pad, value=pad_value)
    return out, (new_h, new_w)


def content_size(meta: dict, padded: Tuple[int, int]) -> Tuple[int, int]:
    """Full-resolution size of an image without the preprocessor's
    padding (``img_padding_size = [left, right, top, bottom]``)."""
    left, right, top, bottom = meta.get('img_padding_size',
                                        meta.get('padding_size', [0] * 4))
    return padded[0] - top - bottom, padded[1] - left - right


def mode_label(mode: str, protocol: str = 'full') -> str:
    """Name under which a mode's predictions and metrics are reported:
    ``whole``, ``slide``, ``resize_pad`` or ``resize_pad_official``."""
    return f'{mode}_official' if protocol == 'official' else mode


def parse_test_cfg(test_cfg: Optional[dict]) -> List[Tuple[str, str]]:
    """``(mode, label)`` of every mode of a ``test_cfg`` (``mode`` may be a
    list: one prediction per mode, reported side by side).

    Raises:
        ValueError: Unknown mode / protocol, or missing settings.
    """
    cfg = dict(test_cfg or {})
    modes = cfg.get('mode', 'whole')
    modes = [modes] if isinstance(modes, str) else list(modes)
    out = []
    for mode in modes:
        if mode not in TEST_MODES:
            raise ValueError(f'test_cfg.mode {mode!r} is not one of '
                             f'{TEST_MODES}')
        protocol = 'full'
        if mode == 'slide' and not {'crop_size', 'stride'} <= set(cfg):
            raise ValueError("test_cfg.mode 'slide' needs crop_size and "
                             'stride')
        if mode == 'resize_pad':
            if 'size' not in cfg:
                raise ValueError("test_cfg.mode 'resize_pad' needs size (the "
                                 'training size)')
            protocol = cfg.get('protocol', 'full')
            if protocol not in PROTOCOLS:
                raise ValueError(f'test_cfg.protocol must be one of '
                                 f'{PROTOCOLS}, got {protocol!r}')
        out.append((mode, mode_label(mode, protocol)))
    if not out:
        raise ValueError('test_cfg.mode lists no mode')
    return out


class MultiModalSegmentorMixin:
    """Dict inputs and the test modes for mmseg ``EncoderDecoder``-like
    models (``backbone`` a ``MultiViT``; ``encode_decode``,
    ``postprocess_result`` from the mmseg class it is mixed into).

    ``test_cfg``:

    - ``mode``: ``'whole'``, ``'slide'`` (``crop_size``, ``stride``, as
      mmseg), ``'resize_pad'`` (``size``: the largest side; ``protocol``:
      ``'full'`` upsamples the logits to the original image, ``'official'``
      scores the resized image against the nearest-resized ground truth, as
      official MultiMAE computes its numbers; ``nearest``: modalities
      resized nearest, default depth; ``pad_value``), or a list of them:
      the first fills ``pred_sem_seg`` / ``seg_logits``, and every mode's
      prediction is kept in the data sample's ``test_mode_results`` under
      its label (``whole``, ``slide``, ``resize_pad``,
      ``resize_pad_official``) for ``PerTestModeMetric``.
    """

    def __init__(self,
                 *,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 test_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        """Build the mmseg model under our scope: the data preprocessor by
        our registry, ``test_cfg`` (default ``dict(mode='whole')``) checked
        at build time, the parts (``MultiViT``, our heads and losses, or
        mmseg's) found by mmseg's builders under the ``mmmultimae`` scope.
        Other arguments are the mmseg class's."""
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        test_cfg = dict(mode='whole') if test_cfg is None else test_cfg
        parse_test_cfg(test_cfg)  # errors at build time, not at test time
        with DefaultScope.overwrite_default_scope('mmmultimae'):
            super().__init__(
                data_preprocessor=data_preprocessor,
                test_cfg=test_cfg,
                **kwargs)

    # -- inputs ----------------------------------------------------------
    def select_inputs(self, inputs: Inputs) -> Inputs:
        """The modalities the backbone has adapters for, in its order.

        A batch may carry more (a dataset loads rgb and depth for every
        model; an rgb-only model reads rgb): the model's adapters are its
        declared inputs. A missing one is an error.
        """
        if not isinstance(inputs, dict):
            raise TypeError(f'{type(self).__name__} expects a dict of '
                            f'modality tensors, got {type(inputs).__name__}')
        wanted = self.backbone.modalities
        missing = [name for name in wanted if name not in inputs]
        if missing:
            raise KeyError(
                f'{type(self).__name__}: the batch has no {missing} (the '
                f'backbone reads {list(wanted)}, the batch holds '
                f'{list(inputs)}); load and pack them in the pipeline '
                '(PackMultiModalSegInputs inputs=...)')
        return {name: inputs[name] for name in wanted}

    def forward(self,
                inputs: Inputs,
                data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """mmseg's ``forward`` on the backbone's modalities of ``inputs``
        (see :meth:`select_inputs`)."""
        return super().forward(self.select_inputs(inputs), data_samples, mode)

    # -- benchmarks --------------------------------------------------------
    def example_batch(self,
                      batch_size: int,
                      generator: Optional[torch.Generator] = None
                      ) -> Tuple[Inputs, list]:
        """A random preprocessed batch at the adapters' input size, for
        benchmarks: ``(inputs, data_samples)`` with the ground truth
        :meth:`example_target` makes."""
        inputs = {
            name: self.backbone.adapters[name].example_input(
                batch_size, generator)
            for name in self.backbone.modalities
        }
        size = self.backbone.image_size(inputs)
        samples = []
        for _ in range(batch_size):
            sample = SegDataSample(
                metainfo=dict(
                    ori_shape=size, img_shape=size, pad_shape=size))
            self.example_target(sample, size, generator)
            samples.append(sample)
        return inputs, samples

    def example_target(self, sample, size: Tuple[int, int],
                       generator: Optional[torch.Generator]) -> None:
        """Random ``gt_sem_seg`` of the head's classes."""
        sample.gt_sem_seg = PixelData(
            data=torch.randint(
                0,
                self.decode_head.num_classes, (1, *size),
                generator=generator))

    # -- features ------------------------------------------------------
    def extract_feat(
            self,
            inputs: Inputs,
            batch_img_metas: Optional[List[dict]] = None) -> List[Tensor]:
        """Backbone (and neck) feature maps of a dict of modalities
        (``batch_img_metas`` is unused, as in mmseg's signature; ``forward``
        has checked the dict, see :meth:`select_inputs`)."""
        x = self.backbone(inputs)
        if self.with_neck:
            x = self.neck(x)
        return x

    def _strides(self, inputs: Inputs) -> Dict[str, int]:
        return {name: self.backbone.stride_level(name) for name in inputs}

    def _logits(self, inputs: Inputs, size: Tuple[int, int]) -> Tensor:
        """Logits of the head resized to the full-resolution ``size``."""
        batch = next(iter(inputs.values())).shape[0]
        return self.encode_decode(inputs, [dict(img_shape=size)] * batch)

    # -- modes -----------------------------------------------------------
    def whole_inference(self, inputs: Inputs,
                        batch_img_metas: List[dict]) -> Tensor:
        """One forward on the whole (padded) image."""
        return self._logits(inputs, self.backbone.image_size(inputs))

    def slide_inference(self, inputs: Inputs,
                        batch_img_metas: List[dict]) -> Tensor:
        """mmseg's sliding window over every modality at once: logits of
        overlapping windows are averaged. Inputs are normalised (depth
        standardised) on the whole image before the windows are cut."""
        height, width = self.backbone.image_size(inputs)
        crop = tuple(self.test_cfg['crop_size'])
        stride = tuple(self.test_cfg['stride'])
        strides = self._strides(inputs)
        preds = count = None
        for y1, y2, x1, x2 in slide_windows(height, width, crop, stride):
            window = crop_inputs(inputs, (y1, y2, x1, x2), strides)
            logits = self._logits(window, (y2 - y1, x2 - x1))
            if preds is None:
                preds = logits.new_zeros(logits.shape[:2] + (height, width))
                count = logits.new_zeros((1, 1, height, width))
            preds[..., y1:y2, x1:x2] += logits
            count[..., y1:y2, x1:x2] += 1
        return preds / count

    def resize_pad_inference(self,
                             inputs: Inputs,
                             batch_img_metas: List[dict],
                             to_input_size: bool = True) -> Tensor:
        """The paper's evaluator: largest side resized to
        ``test_cfg.size``, padded, one forward, padding cropped off.

        Args:
            inputs (dict[str, Tensor]): Preprocessed modalities.
            batch_img_metas (list[dict]): Metas (``img_padding_size`` of the
                preprocessor is excluded from the image).
            to_input_size (bool): Upsample the logits back to the input's
                (padded) size, for :meth:`postprocess_result`; else return
                them at the resized size (official protocol).

        Returns:
            Tensor: ``(B, C, H, W)`` logits.
        """
        padded = self.backbone.image_size(inputs)
        content = content_size(batch_img_metas[0], padded)
        size = int(self.test_cfg['size'])
        resized, (new_h, new_w) = resize_pad_inputs(
            inputs, self._strides(inputs), content, size,
            self.test_cfg.get('nearest', ('depth', )),
            self.test_cfg.get('pad_value', 0.))
        logits = self._logits(resized, (size, size))[..., :new_h, :new_w]
        if not to_input_size:
            return logits
        logits = F.interpolate(
            logits, content, mode='bilinear', align_corners=False)
        return F.pad(logits,
                     (0, padded[1] - content[1], 0, padded[0] - content[0]))

    def run_test_mode(self, mode: str, inputs: Inputs,
                      batch_img_metas: List[dict]) -> Tensor:
        """Logits of one mode at the input's (padded) size."""
        if mode == 'whole':
            return self.whole_inference(inputs, batch_img_metas)
        if mode == 'slide':
            return self.slide_inference(inputs, batch_img_metas)
        return self.resize_pad_inference(inputs, batch_img_metas)

    def inference(self, inputs: Inputs, batch_img_metas: List[dict]) -> Tensor:
        """Logits of the first test mode (mmseg's ``inference`` API)."""
        mode, _ = parse_test_cfg(self.test_cfg)[0]
        return self.run_test_mode(mode, inputs, batch_img_metas)

    # -- prediction --------------------------------------------------------
    def _img_metas(self, inputs: Inputs,
                   data_samples: Optional[list]) -> List[dict]:
        if data_samples is not None:
            return [sample.metainfo for sample in data_samples]
        size = self.backbone.image_size(inputs)
        batch = next(iter(inputs.values())).shape[0]
        return [
            dict(
                ori_shape=size,
                img_shape=size,
                pad_shape=size,
                padding_size=[0] * 4) for _ in range(batch)
        ]

    def set_prediction(self, sample, logits: Tensor) -> None:
        """Store one image's ``(1, C, h, w)`` output in ``sample`` at its
        size: ``pred_sem_seg`` (argmax) here; the depth estimator stores
        ``pred_depth_map``."""
        sample.pred_sem_seg = PixelData(data=logits.argmax(dim=1))

    def official_protocol_samples(self, logits: Tensor,
                                  data_samples: list) -> list:
        """Predictions and ground truth at the resized size (official
        MultiMAE's numbers): targets nearest-resized to the prediction."""
        out = []
        for i, sample in enumerate(data_samples):
            result = type(sample)(metainfo=sample.metainfo)
            self.set_prediction(result, logits[i:i + 1])
            for key in GT_FIELDS:
                if key in sample:
                    gt = sample.get(key).data
                    resized = F.interpolate(
                        gt[None].float(), logits.shape[-2:], mode='nearest')
                    result.set_field(
                        PixelData(data=resized[0].to(gt.dtype)), key)
            out.append(result)
        return out

    def predict(self,
                inputs: Inputs,
                data_samples: Optional[list] = None) -> list:
        """Predict with every test mode (see the class docstring)."""
        metas = self._img_metas(inputs, data_samples)
        modes = parse_test_cfg(self.test_cfg)
        per_mode: Dict[str, list] = {}
        for index, (mode, label) in enumerate(modes):
            if label == 'resize_pad_official':
                if data_samples is None:
                    raise ValueError('the official resize_pad protocol '
                                     'needs data samples with ground truth')
                logits = self.resize_pad_inference(
                    inputs, metas, to_input_size=False)
                per_mode[label] = self.official_protocol_samples(
                    logits, data_samples)
                continue
            logits = self.run_test_mode(mode, inputs, metas)
            if index == 0:
                data_samples = self.postprocess_result(logits, data_samples)
                per_mode[label] = data_samples
            else:
                copies = [s.new() for s in data_samples]
                per_mode[label] = self.postprocess_result(logits, copies)
        if data_samples is None:  # only the official protocol was asked
            data_samples = per_mode[modes[0][1]]
        keep = ('pred_sem_seg', 'pred_depth_map') + GT_FIELDS
        for i, sample in enumerate(data_samples):
            results = BaseDataElement()
            for label, samples in per_mode.items():
                item = type(sample)(metainfo=sample.metainfo)
                for key in keep:
                    source = samples[i] if key.startswith('pred') or \
                        label == 'resize_pad_official' else sample
                    if key in source:
                        item.set_field(source.get(key), key)
                results.set_field(item, label)
            sample.test_mode_results = results
        return data_samples
