# Copyright (c) mmmultimae contributors. All rights reserved.
"""tools/analysis_tools/taskonomy_table.py: Table 7/8 rows from JSON files
and work dirs, checked against the paper's Table 7 and a hand
computation."""
import json
import os
import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
import taskonomy_table  # noqa: E402

#: supplementary Table 7 as printed (scaled L1, average loss, average rank)
TABLE7 = {
    'MAE (D2)': ([4.455, 3.651, 4.608, 6.237, 2.736, 4.585, 6.189, 1.120],
                 3.828, 3.75),
    'RGB-D': ([4.249, 3.378, 4.031, 6.608, 2.440, 4.447, 6.094, 1.051], 3.646,
              2.125),
    'RGB-S': ([4.276, 3.406, 3.868, 5.939, 2.615, 4.467, 6.139, 1.067], 3.678,
              2.625),
    'RGB-D-S': ([4.236, 3.340, 5.290, 5.924, 2.590, 4.432, 6.086, 1.040],
                3.639, 1.5),
}
SHORT = ('curvature', 'depth', 'edges', 'occlusion', 'keypoints2d',
         'keypoints3d', 'normals', 'reshading')
SCALES = (1e2, 1e2, 1e3, 1e4, 1e4, 1e2, 1e2, 1e1)


def write_json(path, data):
    with open(path, 'w') as f:
        json.dump(data, f)
    return str(path)


def test_table7_from_hand_made_jsons(tmp_path, capsys):
    args = []
    for name, (scaled, _, _) in TABLE7.items():
        # the unscaled L1 of each task, as a test run reports it
        raw = {t: v / s for t, v, s in zip(SHORT, scaled, SCALES)}
        path = write_json(tmp_path / f'{len(args)}.json', raw)
        args.append(f'{name}={path}')
    out_json = tmp_path / 'rows.json'
    rows = taskonomy_table.main(args + ['--out-json', str(out_json)])
    assert list(rows) == list(TABLE7)
    for name, (scaled, average_loss, average_rank) in TABLE7.items():
        row = rows[name]
        assert list(row['losses']) == list(taskonomy_table.TABLE_COLUMNS)
        assert list(row['losses'].values()) == pytest.approx(scaled)
        # the paper averaged unrounded losses: within its last digit
        assert row['average_loss'] == pytest.approx(average_loss, abs=1.5e-3)
        assert row['average_rank'] == average_rank
    # by hand for MAE (D2): ranks 4, 4, 3, 3, 4, 4, 4, 4 -> 30 / 8; the
    # unscaled losses sum to 0.3063053 -> / 8 x 100
    assert rows['MAE (D2)']['average_rank'] == 30 / 8
    assert rows['MAE (D2)']['average_loss'] == pytest.approx(
        0.3063053 / 8 * 100, rel=1e-6)
    printed = capsys.readouterr().out
    assert '| Method | Curvature (·10^2) |' in printed
    assert 'Reshading (·10) | Average loss (·10^2) | Average rank |' in printed
    assert '| RGB-D-S | 4.236 | 3.340 | 5.290 | 5.924 | 2.590 | 4.432 | ' \
        '6.086 | 1.040 | 3.639 | 1.500 |' in printed
    assert json.loads(out_json.read_text())['RGB-D']['average_rank'] == 2.125


def test_ties_share_the_mean_rank():
    assert taskonomy_table.rank_with_ties([0.3, 0.1, 0.3, 0.2]) == [
        3.5, 1.0, 3.5, 2.0
    ]
    rows = taskonomy_table.table_rows({
        'a': dict(normal=0.1, reshading=0.2),
        'b': dict(normal=0.1, reshading=0.1),
        'c': dict(normal=0.3, reshading=0.3),
    })
    # normal: a, b tie for ranks 1-2 -> 1.5; reshading: b 1, a 2, c 3
    assert [r['average_rank'] for r in rows.values()] == [1.75, 1.25, 3.0]
    assert rows['c']['average_loss'] == pytest.approx(30.0)
    assert rows['a']['losses'] == pytest.approx(dict(normal=10., reshading=2.))


def fake_run(work_dir, task, results):
    """A work dir as tools/train.py + tools/test.py leave it."""
    os.makedirs(work_dir)
    with open(osp.join(work_dir, 'cfg.py'), 'w') as f:
        f.write(f"task = '{task}'\n")
    # the training run's scalar log is no test result
    os.makedirs(osp.join(work_dir, '20250101_000000', 'vis_data'))
    write_json(
        osp.join(work_dir, '20250101_000000', 'vis_data',
                 '20250101_000000.json'), dict(loss=1.0))
    for stamp, value in results:
        os.makedirs(osp.join(work_dir, stamp))
        write_json(
            osp.join(work_dir, stamp, f'{stamp}.json'),
            dict(loss_l1=value, time=0.5))


def test_work_dirs_and_paths_in_json(tmp_path):
    method = tmp_path / 'multimae'
    # two test runs: the newest counts
    fake_run(str(method / 'normal'), 'normal',
             [('20250102_000000', 0.07), ('20250103_000000', 0.0609)])
    fake_run(str(method / 'nested' / 'reshading'), 'reshading',
             [('20250102_000000', 0.104)])
    os.makedirs(method / 'untested')  # no test result: ignored
    (method / 'untested' / 'cfg.py').write_text("task = 'keypoints2d'\n")
    assert taskonomy_table.method_results(str(method)) == dict(
        normal=0.0609, reshading=0.104)
    # a JSON naming work dirs / test results relative to itself
    other = write_json(
        tmp_path / 'mae.json',
        dict(
            normals='multimae/normal',
            reshading='multimae/nested/reshading/20250102_000000/'
            '20250102_000000.json'))
    assert taskonomy_table.method_results(other) == dict(
        normal=0.0609, reshading=0.104)
    rows = taskonomy_table.main([f'A={method}', f'B={other}'])
    assert rows['A']['average_rank'] == rows['B']['average_rank'] == 1.5


def test_bad_inputs_are_named(tmp_path):
    a = write_json(tmp_path / 'a.json', dict(normal=0.1, depth=0.2))
    b = write_json(tmp_path / 'b.json', dict(normal=0.1))
    with pytest.raises(ValueError, match="same tasks: 'B' has"):
        taskonomy_table.main([f'A={a}', f'B={b}'])
    bad = write_json(tmp_path / 'bad.json', dict(surface=0.1))
    with pytest.raises(ValueError, match=r"unknown Taskonomy task 'surface'"):
        taskonomy_table.method_results(bad)
    twice = write_json(tmp_path / 'twice.json', dict(normal=0.1, normals=0.2))
    with pytest.raises(ValueError, match='normal twice'):
        taskonomy_table.method_results(twice)
    write_json(tmp_path / 'r.json', dict(mIoU=1.0))
    named = write_json(tmp_path / 'named.json', dict(normal='r.json'))
    with pytest.raises(KeyError, match="no 'loss_l1'"):
        taskonomy_table.method_results(named)
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='no work dir'):
        taskonomy_table.method_results(str(empty))
    with pytest.raises(FileNotFoundError, match='neither'):
        taskonomy_table.method_results(str(tmp_path / 'missing.json'))
    with pytest.raises(SystemExit):
        taskonomy_table.parse_args(['A=x', 'A=y'])
