# Copyright (c) mmmultimae contributors. All rights reserved.
"""The transfer comparison glue: the constant baseline and run lookup."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmmultimae.apis.transfer import (constant_prediction_metrics,
                                      label_histogram, run_config)
from mmmultimae.utils import register_all_modules


class LabelMaps:
    """A dataset of packed samples holding only label maps."""

    def __init__(self, maps, classes):
        self.maps = maps
        self.metainfo = dict(classes=classes)

    def __len__(self):
        return len(self.maps)

    def __getitem__(self, i):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.as_tensor(self.maps[i])[None])
        return dict(inputs={}, data_samples=sample)


def test_label_histogram_counts_and_rejects_unknown_ids():
    data = LabelMaps([np.array([[0, 1], [1, 255]]),
                      np.array([[2, 1]])], ('a', 'b', 'c'))
    assert label_histogram(data, 3).tolist() == [1, 3, 1]
    bad = LabelMaps([np.array([[0, 3]])], ('a', 'b', 'c'))
    with pytest.raises(ValueError, match=r'outside \[0, 3\).*\[3\]'):
        label_histogram(bad, 3)


def test_constant_prediction_miou_is_the_classes_share():
    register_all_modules()
    # class 1 covers 3 of the 5 valid pixels; classes 0, 2 appear once:
    # IoU = (0, 3/5, 0) over the 3 present classes; accuracy 3/5
    data = LabelMaps([np.array([[0, 1], [1, 255]]),
                      np.array([[2, 1]])], ('a', 'b', 'c', 'd'))
    metrics = constant_prediction_metrics(
        data, 1, dict(type='IoUMetric', iou_metrics=['mIoU']))
    assert metrics['mIoU'] == pytest.approx(100 * 0.6 / 3, abs=0.01)
    assert metrics['aAcc'] == pytest.approx(60., abs=0.01)


def test_run_config_needs_a_finished_run(tmp_path):
    with pytest.raises(FileNotFoundError, match='found none'):
        run_config(str(tmp_path))
    (tmp_path / 'cfg.py').write_text('a = 1\n')
    with pytest.raises(FileNotFoundError, match='finished training'):
        run_config(str(tmp_path))
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_3.pth'))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        run_config(str(tmp_path))
    (tmp_path / 'epoch_3.pth').write_bytes(b'')
    cfg, ckpt = run_config(str(tmp_path))
    assert cfg.a == 1 and ckpt.endswith('epoch_3.pth')
