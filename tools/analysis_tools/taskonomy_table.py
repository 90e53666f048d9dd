# Copyright (c) mmmultimae contributors. All rights reserved.
"""Print Taskonomy transfer results as a row of the paper's Tables 7 / 8.

Each row is one method (e.g. a pre-training) given as ``NAME=PATH``:

- a folder holding that method's fine-tuning work dirs (one per task, any
  names, up to two levels deep): each work dir's dumped config names its
  task (``task`` / the ``depth_target`` of its test pipeline), and the
  newest test result in it (``<work_dir>/<timestamp>/<timestamp>.json``,
  written by ``tools/test.py``) holds its L1;
- a JSON file mapping tasks (official names such as
  ``principal_curvature`` or the table's ``curvature``, ``depth``,
  ``edges``, ...) to the test L1 of that task, or to the path of a work
  dir or of a test result JSON.

Columns are the per-task L1 losses times the paper's scale factors
(curvature x 1e2, depth x 1e2, edges x 1e3, occlusion x 1e4, 2D keypoints
x 1e4, 3D keypoints x 1e2, normals x 1e2, reshading x 10), the average of
the unscaled losses (x 1e2) and the average rank: per task the methods are
ranked by their loss (1 = lowest, ties share the mean rank), then the ranks
are averaged over the tasks. Every method must have the same tasks.

Example::

    python tools/analysis_tools/taskonomy_table.py \\
        MultiMAE=work_dirs/taskonomy/multimae MAE=results/mae.json
"""
import argparse
import glob
import json
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config
from scipy.stats import rankdata

#: Taskonomy task -> (column name, scale factor) of Tables 7 and 8.
TABLE_COLUMNS = {
    'principal_curvature': ('Curvature', 1e2),
    'depth_zbuffer': ('Depth', 1e2),
    'edge_texture': ('Edges', 1e3),
    'edge_occlusion': ('Occlusion', 1e4),
    'keypoints2d': ('2D-keypoints', 1e4),
    'keypoints3d': ('3D-keypoints', 1e2),
    'normal': ('Normals', 1e2),
    'reshading': ('Reshading', 1e1),
}
#: Scale of the average loss column.
AVERAGE_SCALE = 1e2
#: Other accepted task names: the tables' and the official config dirs'.
TASK_ALIASES = {
    'curvature': 'principal_curvature',
    'depth': 'depth_zbuffer',
    'edges': 'edge_texture',
    'occlusion': 'edge_occlusion',
    'normals': 'normal',
}


def canonical_task(name: str, where: str = '') -> str:
    """Official task name of a task or alias (a clear error otherwise)."""
    task = TASK_ALIASES.get(name, name)
    if task not in TABLE_COLUMNS:
        raise ValueError(
            f'unknown Taskonomy task {name!r}{where}; expected one of '
            f'{sorted(TABLE_COLUMNS)} or {sorted(TASK_ALIASES)}')
    return task


def rank_with_ties(values: Sequence[float]) -> List[float]:
    """Ranks of ``values`` in ascending order (1 = lowest); tied values
    share the mean of their ranks (scipy's ``rankdata``)."""
    return rankdata(values, method='average').tolist()


def table_rows(results: Dict[str, Dict[str, float]]) -> Dict[str, dict]:
    """Scaled losses, average loss and average rank of every method.

    Args:
        results (dict): Method -> {task: test L1 (unscaled)}; every method
            must have the same tasks.

    Returns:
        dict: Method -> ``dict(losses={task: scaled L1}, average_loss=
        mean unscaled L1 x 1e2, average_rank=...)``, tasks in table order.
    """
    if not results:
        raise ValueError('no method given')
    tasks = [t for t in TABLE_COLUMNS if t in next(iter(results.values()))]
    for name, losses in results.items():
        if set(losses) != set(tasks) or not tasks:
            raise ValueError(
                f'every method needs the same tasks: {name!r} has '
                f'{sorted(losses)}, the first method {sorted(tasks)}')
    names = list(results)
    ranks = {name: [] for name in names}
    for task in tasks:
        for name, rank in zip(names,
                              rank_with_ties([results[n][task]
                                              for n in names])):
            ranks[name].append(rank)
    return {
        name: dict(
            losses={t: results[name][t] * TABLE_COLUMNS[t][1]
                    for t in tasks},
            average_loss=AVERAGE_SCALE * sum(results[name].values()) /
            len(tasks),
            average_rank=sum(ranks[name]) / len(tasks))
        for name in names
    }


def _scale_label(scale: float) -> str:
    power = round(math.log10(scale))
    return '·10' if power == 1 else f'·10^{power}'


def format_table(rows: Dict[str, dict]) -> str:
    """A markdown table in the layout of Tables 7 / 8."""
    tasks = list(next(iter(rows.values()))['losses'])
    header = ['Method'] + [
        f'{TABLE_COLUMNS[t][0]} ({_scale_label(TABLE_COLUMNS[t][1])})'
        for t in tasks
    ] + [f'Average loss ({_scale_label(AVERAGE_SCALE)})', 'Average rank']
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    for name, row in rows.items():
        cells = [name] + [f'{row["losses"][t]:.3f}' for t in tasks] + [
            f'{row["average_loss"]:.3f}', f'{row["average_rank"]:.3f}'
        ]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _metric_of(result: dict, metric: str, path: str) -> float:
    if metric not in result:
        raise KeyError(f"'{path}' has no {metric!r} (it has "
                       f'{sorted(result)}); pass --metric')
    return float(result[metric])


def latest_test_result(work_dir: str, metric: str) -> Optional[str]:
    """Newest ``<work_dir>/<timestamp>/<timestamp>.json`` (what
    ``tools/test.py`` writes) that holds ``metric``; None if there is
    none."""
    found = []
    for path in glob.glob(osp.join(work_dir, '*', '*.json')):
        stamp = osp.basename(osp.dirname(path))
        if osp.basename(path) != f'{stamp}.json':
            continue
        with open(path) as f:
            try:
                result = json.load(f)
            except json.JSONDecodeError:
                continue
        if isinstance(result, dict) and metric in result:
            found.append((stamp, path))
    return max(found)[1] if found else None


def run_task(work_dir: str) -> str:
    """The Taskonomy task of a work dir's dumped config."""
    configs = glob.glob(osp.join(work_dir, '*.py'))
    if len(configs) != 1:
        raise FileNotFoundError(
            f"expected the one config tools/train.py dumps into "
            f"'{work_dir}', found {configs or 'none'}")
    cfg = Config.fromfile(configs[0])
    target = cfg.get('task')
    if target is None:
        for step in cfg.test_dataloader.dataset.pipeline:
            target = step.get('depth_target', target)
    if target is None:
        raise ValueError(f"'{configs[0]}' names no task (no 'task' and no "
                         'depth_target in its test pipeline)')
    return canonical_task(target, f" in '{configs[0]}'")


def _load_metric(path: str, metric: str) -> float:
    with open(path) as f:
        return _metric_of(json.load(f), metric, path)


def work_dir_loss(work_dir: str, metric: str) -> float:
    """The test L1 of a work dir (its newest test result)."""
    path = latest_test_result(work_dir, metric)
    if path is None:
        raise FileNotFoundError(
            f"'{work_dir}' has no test result with {metric!r} "
            f'(<timestamp>/<timestamp>.json): run tools/test.py with its '
            'best checkpoint')
    return _load_metric(path, metric)


def method_results(path: str, metric: str = 'loss_l1') -> Dict[str, float]:
    """Task -> test L1 of one method (a folder of work dirs or a JSON
    file, see the module docstring)."""
    if osp.isdir(path):
        results, where = {}, {}
        candidates = sorted(
            osp.dirname(p)
            for pattern in ('*/*.py', '*/*/*.py')
            for p in glob.glob(osp.join(path, pattern)))
        for work_dir in dict.fromkeys(candidates):
            result = latest_test_result(work_dir, metric)
            if result is None:
                continue
            task = run_task(work_dir)
            if task in results:
                raise ValueError(f"'{path}' has two {task} runs: "
                                 f"'{where[task]}' and '{work_dir}'")
            results[task] = _load_metric(result, metric)
            where[task] = work_dir
        if not results:
            raise FileNotFoundError(
                f"'{path}' holds no work dir with a test result "
                f'({metric!r} in <work_dir>/<timestamp>/<timestamp>.json)')
        return results
    if not osp.isfile(path):
        raise FileNotFoundError(f"'{path}' is neither a folder of work dirs "
                                'nor a JSON file')
    with open(path) as f:
        try:
            mapping = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"'{path}' is not valid JSON: {err}") from err
    if not isinstance(mapping, dict) or not mapping:
        raise ValueError(f"'{path}' must map tasks to L1 values or paths")
    results = {}
    for name, value in mapping.items():
        task = canonical_task(name, f" in '{path}'")
        if task in results:
            raise ValueError(f"'{path}' gives {task} twice")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            results[task] = float(value)
        elif isinstance(value, str):
            source = osp.join(osp.dirname(path), value)
            if osp.isdir(source):
                results[task] = work_dir_loss(source, metric)
            else:
                results[task] = _load_metric(source, metric)
        else:
            raise ValueError(f"'{path}': {name} must be a number or a path, "
                             f'got {value!r}')
    return results


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Taskonomy results as a row of the paper Tables 7 / 8')
    parser.add_argument(
        'methods',
        nargs='+',
        metavar='NAME=PATH',
        help='a folder of work dirs or a JSON file per method')
    parser.add_argument(
        '--metric',
        default='loss_l1',
        help='key of the L1 in the test results (default: loss_l1)')
    parser.add_argument('--out-json', help='also write the rows as JSON')
    args = parser.parse_args(argv)
    methods = {}
    for item in args.methods:
        name, sep, path = item.partition('=')
        if not sep or not name or not path:
            parser.error(f'methods are NAME=PATH, got {item!r}')
        if name in methods:
            parser.error(f'method {name!r} given twice')
        methods[name] = path
    args.methods = methods
    return args


def main(argv=None) -> Dict[str, dict]:
    args = parse_args(argv)
    results = {
        name: method_results(path, args.metric)
        for name, path in args.methods.items()
    }
    rows = table_rows(results)
    print(format_table(rows))
    if args.out_json:
        with open(args.out_json, 'w') as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == '__main__':
    main()
