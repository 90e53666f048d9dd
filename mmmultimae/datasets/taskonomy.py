# Copyright (c) mmmultimae contributors. All rights reserved.
"""Taskonomy views listed in a split csv (MultiMAE dense regression).

Layout (Taskonomy / Omnidata)::

    root/<task>/<building>/point_<p>_view_<v>_domain_<domain>.png

where ``<domain>`` is the task's official ``domain_id`` (the task name
for all regression tasks; ``depth_zbuffer`` for the Omnidata
``mask_valid`` folder). Split files are csv with the header
``building,point,view`` (the official ``utils/taskonomy/splits/
tiny_{train,val,test}.csv``); ``tools/dataset_converters/
taskonomy_splits.py`` writes such files from a folder listing.
"""
import csv
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.dataset import BaseDataset

from mmmultimae.registry import DATASETS
from .transforms.taskonomy import TASKONOMY_TASK_PARAMETERS

#: The eight MultiMAE transfer tasks (paper B.4) plus the rgb input.
TASKONOMY_TRANSFER_TASKS = ('rgb', 'principal_curvature', 'depth_zbuffer',
                            'edge_texture', 'edge_occlusion', 'keypoints2d',
                            'keypoints3d', 'normal', 'reshading')
SPLIT_HEADER = ('building', 'point', 'view')

View = Tuple[str, int, int]


def _check_tasks(tasks: Sequence[str]) -> Tuple[str, ...]:
    tasks = tuple(tasks)
    unknown = [t for t in tasks if t not in TASKONOMY_TASK_PARAMETERS]
    if not tasks or unknown or len(set(tasks)) != len(tasks):
        raise ValueError(f'tasks must be distinct Taskonomy tasks from '
                         f'{tuple(TASKONOMY_TASK_PARAMETERS)}, got {tasks}')
    return tasks


def taskonomy_file(root: str, task: str, building: str, point: int,
                   view: int) -> str:
    """Path of one task image of a view."""
    domain = TASKONOMY_TASK_PARAMETERS[task]['domain_id']
    ext = TASKONOMY_TASK_PARAMETERS[task]['ext']
    return osp.join(root, task, building,
                    f'point_{point}_view_{view}_domain_{domain}.{ext}')


def read_taskonomy_split(path: str) -> List[View]:
    """Read a split csv (header ``building,point,view``) in file order.

    Raises:
        ValueError: For a missing column, an empty building or a
            non-integer point/view (naming the line) or an empty file.
    """
    views = []
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        missing = [
            c for c in SPLIT_HEADER if c not in (reader.fieldnames or [])
        ]
        if missing:
            raise ValueError(
                f"'{path}' lacks columns {missing}: expected the header "
                f"'building,point,view', got {reader.fieldnames}")
        for row in reader:
            try:
                building = row['building'].strip()
                views.append((building, int(row['point']), int(row['view'])))
                if not building:
                    raise ValueError('empty building')
            except (AttributeError, TypeError, ValueError):
                raise ValueError(
                    f"'{path}' line {reader.line_num}: expected building,"
                    'point,view with a building name and integer point and '
                    f'view, got {row}')
    if not views:
        raise ValueError(f"'{path}' lists no view")
    return views


def write_taskonomy_split(path: str, views: Sequence[View]) -> None:
    """Write views as a split csv with the header ``building,point,view``."""
    folder = osp.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(SPLIT_HEADER)
        writer.writerows(views)


def list_taskonomy_views(
    root: str,
    tasks: Sequence[str],
    buildings: Optional[Sequence[str]] = None
) -> Tuple[List[View], Dict[str, int]]:
    """List the views whose files exist for every task.

    Views are found in ``root/<tasks[0]>/<building>/``; a view counts if
    every other task has its file.

    Args:
        root (str): Taskonomy root.
        tasks (Sequence[str]): Tasks; the first is scanned.
        buildings (Sequence[str], optional): Only these buildings (each
            must have a folder); all folders of ``root/<tasks[0]>`` if None.

    Returns:
        tuple: Views sorted by (building, point, view) and, per task, the
        number of scanned views that lacked its file.
    """
    tasks = _check_tasks(tasks)
    first = tasks[0]
    first_root = osp.join(root, first)
    if not osp.isdir(first_root):
        raise FileNotFoundError(f"task folder '{first_root}' not found")
    if buildings is None:
        buildings = sorted(
            e.name for e in os.scandir(first_root) if e.is_dir())
    domain = TASKONOMY_TASK_PARAMETERS[first]['domain_id']
    ext = TASKONOMY_TASK_PARAMETERS[first]['ext']
    pattern = re.compile(r'point_(\d+)_view_(\d+)_domain_' +
                         re.escape(domain) + r'\.' + re.escape(ext))
    views, dropped = [], {t: 0 for t in tasks[1:]}
    for building in buildings:
        folder = osp.join(first_root, building)
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f"building '{building}' has no folder '{folder}'")
        found = []
        for name in os.listdir(folder):
            match = pattern.fullmatch(name)
            if match:
                found.append((building, int(match[1]), int(match[2])))
        for view in sorted(found):
            complete = True
            for task in tasks[1:]:
                if not osp.isfile(taskonomy_file(root, task, *view)):
                    dropped[task] += 1
                    complete = False
            if complete:
                views.append(view)
    return views, dropped


@DATASETS.register_module()
class TaskonomyDataset(BaseDataset):
    """Taskonomy views of a split csv, one file per task.

    Each entry of the data list is ``dict(img_path={task: path},
    img_id='<building>_point_<p>_view_<v>', building=..., point=...,
    view=..., sample_idx=i)``. Load it with
    :class:`~mmmultimae.datasets.transforms.taskonomy.LoadTaskonomyTasks`
    (which can also derive ``mask_valid`` from ``depth_zbuffer``; list
    ``'mask_valid'`` here only for Omnidata's ``mask_valid`` folder).

    ``max_samples`` keeps the FIRST rows of the csv, as the official
    ``max_images`` does (the paper's "random subset" of 800 train / 200 val
    views is the first rows of the official tiny csv files).

    Args:
        data_root (str): Taskonomy root.
        ann_file (str): Split csv (relative to ``data_root`` or absolute).
        tasks (Sequence[str]): Tasks to list (rgb first by convention).
            Defaults to :data:`TASKONOMY_TRANSFER_TASKS`.
        max_samples (int, optional): Keep the first N rows.
        check_files (bool): Check that every file exists (an error names
            the csv row and the missing path). Defaults to True.
        metainfo (dict, optional): Meta information.
        pipeline (Sequence): Transforms.
        test_mode (bool): mmengine test mode.
        lazy_init (bool): mmengine lazy init.
        serialize_data (bool): mmengine data-list serialisation.
        max_refetch (int): mmengine refetch limit.
    """

    def __init__(self,
                 data_root: str,
                 ann_file: str,
                 tasks: Sequence[str] = TASKONOMY_TRANSFER_TASKS,
                 max_samples: Optional[int] = None,
                 check_files: bool = True,
                 metainfo: Optional[dict] = None,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 serialize_data: bool = True,
                 max_refetch: int = 1000) -> None:
        self.tasks = _check_tasks(tasks)
        if max_samples is not None and max_samples < 1:
            raise ValueError(f'max_samples must be >= 1, got {max_samples}')
        if not ann_file:
            raise ValueError('ann_file (the split csv) is required')
        self.max_samples = max_samples
        self.check_files = check_files
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            metainfo=dict(metainfo or {}, tasks=self.tasks),
            pipeline=list(pipeline),
            test_mode=test_mode,
            lazy_init=lazy_init,
            serialize_data=serialize_data,
            max_refetch=max_refetch)

    def load_data_list(self) -> List[dict]:
        """Read the split csv and build the per-task paths."""
        views = read_taskonomy_split(self.ann_file)
        if self.max_samples is not None:
            views = views[:self.max_samples]
        data_list = []
        for i, (building, point, view) in enumerate(views):
            paths = {
                task: taskonomy_file(self.data_root, task, building, point,
                                     view)
                for task in self.tasks
            }
            if self.check_files:
                for task, path in paths.items():
                    if not osp.isfile(path):
                        raise FileNotFoundError(
                            f"row {i + 1} of '{self.ann_file}' (building="
                            f'{building}, point={point}, view={view}): '
                            f"{task} file '{path}' does not exist")
            data_list.append(
                dict(
                    img_path=paths,
                    img_id=f'{building}_point_{point}_view_{view}',
                    building=building,
                    point=point,
                    view=view,
                    sample_idx=i))
        return data_list
