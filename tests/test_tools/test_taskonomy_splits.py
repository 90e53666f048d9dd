# Copyright (c) mmmultimae contributors. All rights reserved.
"""tools/dataset_converters/taskonomy_splits.py writes loadable csv files."""
import importlib.util
import os
import os.path as osp

import pytest
from taskonomy_data import task_path, write_view

from mmmultimae.datasets.taskonomy import (TaskonomyDataset,
                                           read_taskonomy_split)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'dataset_converters', 'taskonomy_splits.py')


def load_tool():
    spec = importlib.util.spec_from_file_location('taskonomy_splits', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_taskonomy_splits_tool(tmp_path, capsys):
    tool = load_tool()
    root = tmp_path / 'taskonomy'
    views = [('corozal', 3, 0), ('corozal', 20, 1), ('darden', 5, 2),
             ('markleeville', 1, 1)]
    tasks = ('rgb', 'depth_zbuffer', 'normal')
    for view in views:
        write_view(str(root), *view, tasks=tasks)
    os.remove(task_path(str(root), 'normal', 'darden', 5, 2))
    out = tmp_path / 'splits' / 'mine.csv'
    tool.main([
        str(root),
        str(out), '--tasks', *tasks, '--buildings', 'corozal', 'darden'
    ])
    printed = capsys.readouterr().out
    assert '2 views of 1 buildings (corozal)' in printed
    assert '1 views of rgb skipped: no normal file' in printed
    assert read_taskonomy_split(str(out)) == [('corozal', 3, 0),
                                              ('corozal', 20, 1)]
    dataset = TaskonomyDataset(str(root), str(out), tasks=tasks)
    assert len(dataset) == 2
    # all buildings by default
    tool.main([str(root), str(out), '--tasks', 'rgb', 'depth_zbuffer'])
    assert len(read_taskonomy_split(str(out))) == 4
    with pytest.raises(SystemExit) as exit_info:
        tool.main([str(root), str(out), '--tasks', 'rgb', 'edge_texture'])
    assert 'no view' in str(exit_info.value.code)
    with pytest.raises(SystemExit) as exit_info:
        tool.main([str(tmp_path / 'nope'), str(out)])
    assert 'not found' in str(exit_info.value.code)
