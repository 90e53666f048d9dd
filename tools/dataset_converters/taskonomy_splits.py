# Copyright (c) mmmultimae contributors. All rights reserved.
"""Write a Taskonomy split csv (``building,point,view``) from a folder.

For users without the official ``tiny_{train,val,test}.csv``: lists the
views of ``ROOT/<first task>/<building>/`` whose files exist for every
requested task (``ROOT/<task>/<building>/point_<p>_view_<v>_domain_
<task>.png``) and writes them sorted by building, point and view.

Example::

    python tools/dataset_converters/taskonomy_splits.py data/taskonomy \
        data/taskonomy/splits/val.csv \
        --buildings collierville corozal darden markleeville wiconisco

The official tiny split uses the buildings of Taskonomy's tiny subset;
pass ``--buildings`` to reproduce a building-level split. Read the csv
with ``TaskonomyDataset(data_root=ROOT, ann_file=OUT_CSV, tasks=...)``.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mmmultimae.datasets.taskonomy import (  # noqa: E402
    TASKONOMY_TRANSFER_TASKS, list_taskonomy_views, write_taskonomy_split)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write a Taskonomy split csv (building,point,view) of '
        'the views that have a file for every task.')
    parser.add_argument('root', help='Taskonomy root (ROOT/<task>/...)')
    parser.add_argument('out_csv', help='output csv file')
    parser.add_argument(
        '--tasks',
        nargs='+',
        default=list(TASKONOMY_TRANSFER_TASKS),
        help='tasks every view must have; the first is scanned '
        '(default: rgb and the 8 MultiMAE transfer tasks)')
    parser.add_argument(
        '--buildings',
        nargs='+',
        help='only these buildings (default: every folder of the first '
        'task)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        views, dropped = list_taskonomy_views(args.root, args.tasks,
                                              args.buildings)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f'error: {err}')
    if not views:
        sys.exit(f'error: no view under {args.root} has files for all of '
                 f'{args.tasks} (views lacking a task: {dropped})')
    write_taskonomy_split(args.out_csv, views)
    buildings = sorted({v[0] for v in views})
    print(f'{args.out_csv}: {len(views)} views of {len(buildings)} '
          f'buildings ({", ".join(buildings)})')
    for task, count in dropped.items():
        if count:
            print(f'  {count} views of {args.tasks[0]} skipped: no {task} '
                  'file')


if __name__ == '__main__':
    main()
