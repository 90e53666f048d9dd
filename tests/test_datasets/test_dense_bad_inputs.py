# Copyright (c) mmmultimae contributors. All rights reserved.
"""Bad dense-regression inputs: each is a clear error naming what is wrong,
or a documented behaviour (an all-invalid sample adds nothing to the loss
and is an error for the metrics unless skipped).

NaN/inf depth files: ``test_transforms.test_non_finite_depth_is_an_error``;
a Taskonomy csv row whose files are missing:
``test_taskonomy.test_dataset_missing_file_and_bad_args``."""
import numpy as np
import pytest
import torch
from PIL import Image
from taskonomy_data import task_path, write_view

from mmmultimae.datasets.taskonomy import read_taskonomy_split
from mmmultimae.datasets.transforms import (LoadMultiModalImages,
                                            PackMultiModalSegInputs)
from mmmultimae.datasets.transforms.taskonomy import LoadTaskonomyTasks
from mmmultimae.evaluation.metrics import RegressionLossMetric
from mmmultimae.models.losses.regression_losses import PixelL1Loss

VIEW = ('darden', 21, 1)


def test_8bit_depth_png_is_an_error_naming_the_file(tmp_path):
    """NYUv2 / Hypersim / synthetic depth is a 16-bit (or float) image; an
    8-bit PNG (e.g. a depth visualisation) is refused, not rescaled."""
    path = str(tmp_path / '0001_depth.png')
    Image.fromarray(np.full((6, 8), 200, np.uint8)).save(path)
    with pytest.raises(ValueError) as err:
        LoadMultiModalImages(modalities=('depth', ))(
            dict(img_path=dict(depth=path)))
    message = str(err.value)
    assert path in message and "mode 'L'" in message and '16-bit' in message


def test_mask_of_another_size_than_the_depth_is_an_error(tmp_path):
    rgb, depth = str(tmp_path / 'a.png'), str(tmp_path / 'a_depth.png')
    mask = str(tmp_path / 'a_mask.png')
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(rgb)
    Image.fromarray(np.full((8, 8), 3000, np.uint16)).save(depth)
    Image.fromarray(np.full((4, 8), 255, np.uint8)).save(mask)
    sample = LoadMultiModalImages(
        ('rgb', 'depth'), optional_modalities=('mask_valid', ))(
            dict(img_path=dict(rgb=rgb, depth=depth, mask_valid=mask)))
    with pytest.raises(ValueError) as err:
        PackMultiModalSegInputs(depth_target='depth')(sample)
    message = str(err.value)
    assert 'depth (8, 8)' in message and 'mask_valid (4, 8)' in message
    assert mask in message
    # Taskonomy: an Omnidata mask_valid PNG of another size than the tasks
    root = str(tmp_path / 'taskonomy')
    write_view(root, *VIEW, tasks=('rgb', 'depth_zbuffer'))
    paths = {t: task_path(root, t, *VIEW) for t in ('rgb', 'depth_zbuffer')}
    paths['mask_valid'] = str(tmp_path / 'mask_valid.png')
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(
        paths['mask_valid'])
    with pytest.raises(ValueError, match='differ in size') as err:
        LoadTaskonomyTasks(('rgb', 'depth_zbuffer', 'mask_valid'))(
            dict(img_path=paths))
    assert "'mask_valid': (16, 16)" in str(err.value)


@pytest.mark.parametrize(
    'row,what',
    [(',115,3', 'empty building'), ('darden,,3', 'no point'),
     ('darden,115', 'no view'), ('darden,1.5,3', 'non-integer point')])
def test_taskonomy_csv_row_without_a_view_is_an_error(tmp_path, row, what):
    split = tmp_path / 'tiny_val.csv'
    split.write_text(f'building,point,view\ndarden,1,2\n{row}\n')
    with pytest.raises(ValueError, match='line 3') as err:
        read_taskonomy_split(str(split))
    assert str(split) in str(err.value), what


def test_all_invalid_sample_adds_nothing_and_is_named_by_the_metric(
        tmp_path):
    """A Taskonomy view without depth (all 65535: sky, a hole) has an empty
    mask_valid: in a batch it adds nothing to the masked L1 (a batch of
    only such views gives loss 0 and zero gradients, never NaN); the
    validation metric refuses it by name (skip_empty=True skips it)."""
    root = str(tmp_path)
    write_view(root, *VIEW, tasks=('rgb', 'depth_zbuffer', 'normal'))
    depth = task_path(root, 'depth_zbuffer', *VIEW)
    Image.fromarray(np.full((8, 8), 65535, np.uint16)).save(depth)
    paths = {
        t: task_path(root, t, *VIEW)
        for t in ('rgb', 'depth_zbuffer', 'normal')
    }
    loaded = LoadTaskonomyTasks(('rgb', 'normal', 'mask_valid'))(
        dict(img_path=paths))
    mask = loaded['mask_valid']
    assert mask.dtype == bool and not mask.any()
    packed = PackMultiModalSegInputs(depth_target='normal')(loaded)
    sample = packed['data_samples']
    target = sample.gt_depth_map.data[None]
    valid = sample.gt_valid_mask.data[None]
    pred = torch.rand_like(target, requires_grad=True)
    loss = PixelL1Loss()(pred, target, valid)
    loss.backward()
    assert loss.item() == 0 and torch.equal(pred.grad, torch.zeros_like(pred))
    # next to a valid sample it changes nothing
    full = torch.ones_like(valid)
    both = PixelL1Loss()(
        torch.cat([pred, pred]).detach(), torch.cat([target, target]),
        torch.cat([valid, full]))
    assert both.item() == pytest.approx(
        PixelL1Loss()(pred.detach(), target, full).item())
    sample.pred_depth_map = sample.gt_depth_map.clone()
    metric = RegressionLossMetric()
    with pytest.raises(ValueError, match='has no valid pixel') as err:
        metric.process({}, [sample.to_dict()])
    assert paths['rgb'] in str(err.value)
