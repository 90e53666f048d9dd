# Copyright (c) mmmultimae contributors. All rights reserved.
"""TaskonomyDataset and its split csv helpers on a tiny real-layout tree."""
import os
import os.path as osp

import pytest
from mmengine.registry import DefaultScope
from taskonomy_data import TASK_FORMATS, task_path, write_view

from mmmultimae.datasets.taskonomy import (
    TASKONOMY_TRANSFER_TASKS, TaskonomyDataset, list_taskonomy_views,
    read_taskonomy_split, taskonomy_file, write_taskonomy_split)
from mmmultimae.registry import DATASETS

# csv order is deliberately not sorted (as the official tiny csv files)
VIEWS = [('darden', 1385, 8), ('corozal', 115, 3), ('darden', 21, 1),
         ('corozal', 7, 12)]


@pytest.fixture(autouse=True)
def mmmultimae_scope():
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        yield


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / 'taskonomy'
    for view in VIEWS:
        write_view(str(root), *view)
    split = tmp_path / 'splits' / 'tiny_val.csv'
    write_taskonomy_split(str(split), VIEWS)
    return root, split


def test_split_csv_round_trip_and_errors(tmp_path, tree):
    _, split = tree
    assert split.read_text().splitlines()[:2] == [
        'building,point,view', 'darden,1385,8'
    ]
    assert read_taskonomy_split(str(split)) == VIEWS
    bad = tmp_path / 'bad.csv'
    bad.write_text('building,point\ndarden,1\n')
    with pytest.raises(ValueError, match=r"lacks columns \['view'\]"):
        read_taskonomy_split(str(bad))
    bad.write_text('building,point,view\ndarden,1,x\n')
    with pytest.raises(ValueError, match='line 2'):
        read_taskonomy_split(str(bad))
    bad.write_text('building,point,view\n')
    with pytest.raises(ValueError, match='no view'):
        read_taskonomy_split(str(bad))


def test_dataset_paths_first_rows_and_registry(tree):
    root, split = tree
    dataset = DATASETS.build(
        dict(
            type='TaskonomyDataset',
            data_root=str(root),
            ann_file=str(split),
            max_samples=3))
    assert isinstance(dataset, TaskonomyDataset)
    assert len(dataset) == 3  # the FIRST three rows, in csv order
    info = dataset.get_data_info(0)
    assert set(info) == {
        'img_path', 'img_id', 'building', 'point', 'view', 'sample_idx'
    }
    assert [dataset.get_data_info(i)['img_id'] for i in range(3)] == [
        'darden_point_1385_view_8', 'corozal_point_115_view_3',
        'darden_point_21_view_1'
    ]
    assert tuple(info['img_path']) == TASKONOMY_TRANSFER_TASKS
    assert info['img_path']['normal'] == osp.join(
        str(root), 'normal', 'darden', 'point_1385_view_8_domain_normal.png')
    assert dataset.metainfo['tasks'] == TASKONOMY_TRANSFER_TASKS
    # the Omnidata mask_valid folder uses the depth_zbuffer domain name
    assert taskonomy_file('r', 'mask_valid', 'b', 1, 2) == osp.join(
        'r', 'mask_valid', 'b', 'point_1_view_2_domain_depth_zbuffer.png')
    # relative ann_file is joined with data_root
    rel = TaskonomyDataset(
        str(split.parent.parent),
        ann_file='splits/tiny_val.csv',
        tasks=('rgb', ),
        check_files=False)
    assert len(rel) == 4


def test_dataset_missing_file_and_bad_args(tree):
    root, split = tree
    missing = task_path(str(root), 'reshading', 'darden', 21, 1)
    os.remove(missing)
    with pytest.raises(FileNotFoundError) as err:
        TaskonomyDataset(str(root), ann_file=str(split))
    message = str(err.value)
    assert 'row 3' in message and 'building=darden, point=21, view=1' in \
        message and missing in message
    # rows before the missing one are fine
    assert len(TaskonomyDataset(str(root), str(split), max_samples=2)) == 2
    with pytest.raises(ValueError, match='Taskonomy tasks'):
        TaskonomyDataset(str(root), str(split), tasks=('rgb', 'depth'))
    with pytest.raises(ValueError, match='max_samples'):
        TaskonomyDataset(str(root), str(split), max_samples=0)


def test_list_views_keeps_complete_views(tree):
    root, _ = tree
    os.remove(task_path(str(root), 'normal', 'corozal', 7, 12))
    views, dropped = list_taskonomy_views(str(root), TASKONOMY_TRANSFER_TASKS)
    assert views == sorted(set(VIEWS) - {('corozal', 7, 12)})
    assert dropped['normal'] == 1 and sum(dropped.values()) == 1
    views, _ = list_taskonomy_views(
        str(root), ('rgb', 'depth_zbuffer'), buildings=['darden'])
    assert views == [('darden', 21, 1), ('darden', 1385, 8)]
    with pytest.raises(FileNotFoundError, match='nowhere'):
        list_taskonomy_views(str(root), ('rgb', ), buildings=['nowhere'])
    assert set(TASK_FORMATS) == set(TASKONOMY_TRANSFER_TASKS)
