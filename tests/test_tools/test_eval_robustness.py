# Copyright (c) mmmultimae contributors. All rights reserved.
"""tools/analysis_tools/eval_robustness.py on tiny datasets in the published
layouts, with a classifier whose predictions are known by construction
(tests/data/robustness_toy.py: nearest template colour)."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image

from mmmultimae.apis.robustness import (insert_before_packing,
                                        restrict_to_classes,
                                        strict_test_pipeline)
from mmmultimae.datasets.transforms import LoadImageFromFileStrict
from mmmultimae.evaluation.imagenet_variants import (alexnet_corruption_errors,
                                                     load_wnids,
                                                     subset_indices)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'eval_robustness.py')
CONFIG = osp.join(REPO, 'tests', 'data', 'configs',
                  'robustness_toy_classifier.py')

# W1, W2: in ImageNet-A and ImageNet-R; OUT: in neither; W3, W4: others
W1, W2, OUT, W3, W4 = ('n01498041', 'n01531178', 'n01440764', 'n01491361',
                       'n01496331')
RED, GREEN, BLUE = (200, 40, 40), (40, 200, 40), (40, 40, 200)
GREY = (128, 128, 128)
BRIGHT_RED = (245, 40, 40)  # nearest template overall: OUT's (240, 40, 40)
DARK_RED = (40, 0, 0)
TEMPLATES = {
    W1: RED,
    W2: GREEN,
    OUT: (240, 40, 40),
    W3: BLUE,
    W4: GREY,
}


def _load_tool():
    spec = importlib.util.spec_from_file_location('eval_robustness', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _save(path, colour, mode='RGB', size=(44, 36)):
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = Image.new('RGB', size, colour)
    if mode != 'RGB':
        img = img.convert(mode)
    img.save(path, quality=95)


def _folder(root, images):
    """images: {wnid: [colour, ...]} -> root/<wnid>/<i>.JPEG."""
    for wnid, colours in images.items():
        for i, colour in enumerate(colours):
            _save(osp.join(root, wnid, f'{i}.JPEG'), colour)


def _checkpoint(path, templates):
    from robustness_toy import template_head_state  # tests/data
    index = {w: i for i, w in enumerate(load_wnids('imagenet'))}
    state = template_head_state(
        {index[w]: colour
         for w, colour in templates.items()})
    torch.save(dict(state_dict=state), path)
    return path


# per (corruption, severity): images of W1 and W2, the first k of them
# coloured as the other class (wrong)
INC_WRONG = {'gaussian_noise': [0, 1, 1, 2, 3], 'fog': [0, 0, 1, 1, 2]}


def _imagenet_c(root):
    for corruption, wrong in INC_WRONG.items():
        for severity, k in enumerate(wrong, 1):
            colours = [GREEN] * k + [RED] * (2 - min(k, 2))
            colours = colours[:2]
            w2 = [RED] * max(k - 2, 0) + [GREEN] * (2 - max(k - 2, 0))
            _folder(
                osp.join(root, corruption, str(severity)), {
                    W1: colours,
                    W2: w2
                })


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('robustness'))
    # ImageNet-1K val: 3 of 4 right (W3's second image is green -> W2)
    _folder(osp.join(root, 'imagenet', 'val'), {
        W1: [RED, RED],
        W3: [BLUE, GREEN]
    })
    # ImageNet-A: 3 of 4 right once restricted to its 200 classes (the
    # bright red W1 image's best class overall is OUT, not in IN-A);
    # unrestricted it would be 2 of 4
    _folder(
        osp.join(root, 'imagenet-a'), {
            W1: [RED, BRIGHT_RED],
            W2: [GREEN, RED]
        })
    # ImageNet-R: 3 of 3 restricted (2 of 3 unrestricted)
    _folder(osp.join(root, 'imagenet-r'), {W1: [BRIGHT_RED, RED], W2: [GREEN]})
    # ImageNet-Sketch (1000 classes): bright red is OUT's -> 2 of 3 right
    # among the RGB files; plus a grey-scale JPEG (W4, grey template) and a
    # CMYK JPEG (W1, red), both right once converted to RGB
    _folder(
        osp.join(root, 'imagenet-sketch'), {
            W1: [RED, BRIGHT_RED],
            OUT: [BRIGHT_RED]
        })
    _save(osp.join(root, 'imagenet-sketch', W4, 'grey.JPEG'), GREY, mode='L')
    _save(osp.join(root, 'imagenet-sketch', W1, 'cmyk.JPEG'), RED, 'CMYK')
    _imagenet_c(osp.join(root, 'imagenet-c'))
    return root


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('ckpt') / 'toy.pth')
    return _checkpoint(path, TEMPLATES)


@pytest.fixture(scope='module')
def tool():
    return _load_tool()


def _expected_mce():
    """mCE by hand: CE_c = sum_s err_{c,s} / (5 * AlexNet_c)."""
    alexnet = alexnet_corruption_errors()
    ce = {
        c: sum(k / 4 for k in wrong) / (5 * alexnet[c])
        for c, wrong in INC_WRONG.items()
    }
    return 100 * (ce['gaussian_noise'] + ce['fog']) / 2, ce


def test_table9_row_and_json(tool, data_root, checkpoint, tmp_path, capsys):
    out_json = str(tmp_path / 'robustness.json')

    def current_scope():
        instance = DefaultScope.get_current_instance()
        return None if instance is None else instance.scope_name

    # mmengine restores a deep copy of the scope, not the same object
    scope = current_scope()
    results = tool.main([
        CONFIG, checkpoint, '--data-root', data_root, '--corruptions',
        'gaussian_noise', 'fog', '--out-json', out_json
    ])
    # the config's scope (mmpretrain) was set for the run only
    assert current_scope() == scope
    printed = capsys.readouterr().out
    mce, ce = _expected_mce()
    with open(out_json) as f:
        saved = json.load(f)
    assert saved['table9'] == results['table9']
    table = saved['table9']
    assert table['IN-1K top-1'] == pytest.approx(75.0)
    assert table['IN-A'] == pytest.approx(75.0)
    assert table['IN-R'] == pytest.approx(100.0)
    assert table['IN-S'] == pytest.approx(80.0)  # 4 of 5
    assert table['IN-C mCE'] == pytest.approx(mce, abs=1e-4)
    inc = saved['datasets']['in-c']
    assert inc['CE/gaussian_noise'] == pytest.approx(
        100 * ce['gaussian_noise'], abs=1e-4)
    assert inc['accuracy/gaussian_noise/5'] == pytest.approx(25.0)
    assert inc['accuracy/fog/3'] == pytest.approx(75.0)
    assert inc['num_images'] == 40 and not inc['complete']
    # restricted top-5 holds both template classes of IN-A
    assert saved['datasets']['in-a']['accuracy/top5'] == pytest.approx(100.)
    assert saved['datasets']['in-a']['num_classes'] == 200
    assert saved['datasets']['in-a']['num_classes_present'] == 2
    assert saved['datasets']['in-sketch']['num_images'] == 5
    row = [line for line in printed.splitlines() if line.startswith('| 75')]
    assert row == [f'| 75.00 | 75.00 | {mce:.2f}* | 100.00 | 80.00 |']
    assert 'mCE over 2 corruptions x 5 severities' in printed


def test_restriction_is_exact():
    """A top logit outside the subset does not count; inside it, the
    order of the subset's scores decides."""
    from mmpretrain.structures import DataSample
    indices = subset_indices(load_wnids('imagenet-a'))
    score = torch.zeros(1000)
    score[0] = 10.  # tench: not an IN-A class
    score[indices[7]] = 3.
    score[indices[150]] = 2.
    sample = DataSample().set_pred_score(score).set_gt_label(7)
    restrict_to_classes([sample], indices)
    assert sample.pred_score.shape == (200, )
    assert int(sample.pred_label) == 7
    assert torch.equal(sample.pred_score, score[indices])
    with pytest.raises(ValueError, match='cannot restrict'):
        restrict_to_classes([DataSample().set_pred_score(torch.zeros(10))],
                            indices)


def test_unknown_wnids_are_named(tool, data_root, checkpoint, tmp_path):
    root = str(tmp_path)
    _folder(osp.join(root, 'imagenet-a'), {W1: [RED], W3: [BLUE]})
    _folder(osp.join(root, 'imagenet-r'), {W1: [RED], 'holiday': [RED]})
    with pytest.raises(ValueError, match=f"'{W3}'"):
        tool.main([
            CONFIG, checkpoint, '--data-root', root, '--datasets', 'in-a'
        ])
    with pytest.raises(ValueError, match="'holiday'"):
        tool.main([
            CONFIG, checkpoint, '--data-root', root, '--datasets', 'in-r'
        ])


def test_imagenet_ann_file_layout(tool, checkpoint, tmp_path):
    """mmpretrain's ImageNet layout (meta/val.txt + val/<file>), given by
    --paths: labels come from the file (W1 = 6, W2 = 11)."""
    root = tmp_path / 'in1k'
    for i, colour in enumerate([RED, GREEN, RED]):
        _save(str(root / 'val' / f'ILSVRC2012_val_{i}.JPEG'), colour)
    (root / 'meta').mkdir()
    (root / 'meta' / 'val.txt').write_text(
        'ILSVRC2012_val_0.JPEG 6\nILSVRC2012_val_1.JPEG 11\n'
        'ILSVRC2012_val_2.JPEG 11\n')
    results = tool.main([
        CONFIG, checkpoint, '--paths', f'in1k={root}', '--datasets', 'in1k'
    ])
    assert results['table9']['IN-1K top-1'] == pytest.approx(200 / 3)
    assert results['datasets']['in1k']['num_images'] == 3
    (root / 'meta' / 'val.txt').write_text('ILSVRC2012_val_0.JPEG 1000\n')
    with pytest.raises(ValueError, match=r'labels outside \[0, 1000\)'):
        tool.main([
            CONFIG, checkpoint, '--paths', f'in1k={root}', '--datasets',
            'in1k'
        ])


def test_folder_errors(tool, checkpoint, tmp_path):
    root = tmp_path / 'imagenet-sketch'
    _folder(str(root), {W1: [RED]})
    (root / W2).mkdir()
    argv = [CONFIG, checkpoint, '--data-root', str(tmp_path), '--datasets',
            'in-sketch']
    with pytest.raises(ValueError, match=f"without images: \\['{W2}'\\]"):
        tool.main(argv)
    (root / W2 / 'notes.txt').write_text('not an image')
    with pytest.raises(ValueError, match='notes.txt'):
        tool.main(argv)


@pytest.mark.parametrize('damage', ['truncated', 'garbage'])
def test_corrupt_jpeg_is_named(tool, checkpoint, tmp_path, damage):
    root = str(tmp_path)
    _folder(osp.join(root, 'imagenet-r'), {W1: [RED, RED], W2: [GREEN]})
    bad = osp.join(root, 'imagenet-r', W1, '1.JPEG')
    with open(bad, 'rb') as f:
        data = f.read()
    with open(bad, 'wb') as f:
        f.write(data[:len(data) // 2] if damage == 'truncated' else b'no')
    with pytest.raises(OSError, match=f"cannot decode image '{bad}'"):
        tool.main([
            CONFIG, checkpoint, '--data-root', root, '--datasets', 'in-r'
        ])


def test_missing_datasets(tool, checkpoint, tmp_path, capsys):
    root = str(tmp_path)
    _folder(osp.join(root, 'imagenet-r'), {W1: [RED]})
    with pytest.raises(FileNotFoundError) as info:
        tool.main([CONFIG, checkpoint, '--data-root', root])
    message = str(info.value)
    for name, folder in [('in1k', 'imagenet'), ('in-a', 'imagenet-a'),
                         ('in-sketch', 'imagenet-sketch'),
                         ('in-c', 'imagenet-c')]:
        assert f'{name}: {osp.join(root, folder)}' in message
    assert 'in-r' not in message
    results = tool.main(
        [CONFIG, checkpoint, '--data-root', root, '--skip-missing'])
    printed = capsys.readouterr().out
    assert results['table9'] == {
        'IN-1K top-1': None,
        'IN-A': None,
        'IN-C mCE': None,
        'IN-R': 100.0,
        'IN-S': None
    }
    assert '| - | - | - | 100.00 | - |' in printed
    assert f'skipped in-a: {osp.join(root, "imagenet-a")} not found' \
        in printed


def test_missing_corruption_folders(tool, data_root, checkpoint, capsys):
    with pytest.raises(FileNotFoundError, match='in-c/snow/1'):
        tool.main([
            CONFIG, checkpoint, '--data-root', data_root, '--datasets',
            'in-c', '--corruptions', 'fog', 'snow'
        ])
    results = tool.main([
        CONFIG, checkpoint, '--data-root', data_root, '--datasets', 'in-c',
        '--corruptions', 'fog', 'snow', '--skip-missing'
    ])
    inc = results['datasets']['in-c']
    assert inc['corruptions'] == ['fog']
    alexnet = alexnet_corruption_errors()['fog']
    assert inc['mCE'] == pytest.approx(100 * (4 / 4) / (5 * alexnet),
                                       abs=1e-4)


def test_head_must_have_1000_classes(tool, data_root, tmp_path):
    cfg = Config.fromfile(CONFIG)
    cfg.model.head.num_classes = 10
    cfg.model.data_preprocessor.num_classes = 10
    config = str(tmp_path / 'ten.py')
    cfg.dump(config)
    ckpt = str(tmp_path / 'ten.pth')
    torch.save(
        dict(state_dict={
            'head.fc.weight': torch.zeros(10, 3),
            'head.fc.bias': torch.zeros(10)
        }), ckpt)
    with pytest.raises(ValueError, match='predicts 10 classes'):
        tool.main([
            config, ckpt, '--data-root', data_root, '--datasets', 'in-r'
        ])


def test_pipeline_helpers():
    pipeline = [
        dict(type='LoadImageFromFile', to_float32=True),
        dict(type='CenterCrop', crop_size=32),
        dict(type='PackInputs')
    ]
    strict = strict_test_pipeline(pipeline)
    assert isinstance(strict[0], LoadImageFromFileStrict)
    assert strict[0].to_float32 and strict[0].channel_order == 'bgr'
    assert strict[1:] == pipeline[1:]
    with pytest.raises(ValueError, match='ignore_empty'):
        strict_test_pipeline([dict(type='LoadImageFromFile',
                                   ignore_empty=True)])
    ignoring = strict_test_pipeline([
        dict(
            type='mmpretrain.LoadImageFromFile',
            imdecode_backend='pillow',
            color_type='color_ignore_orientation')
    ])[0]
    assert ignoring.ignore_orientation and not strict[0].ignore_orientation
    with pytest.raises(ValueError, match='color_type'):
        strict_test_pipeline([
            dict(type='mmcv.LoadImageFromFile', color_type='grayscale')
        ])
    corrupt = dict(type='ImageCorruption', corruption='fog')
    assert insert_before_packing(pipeline, corrupt) == [
        pipeline[0], pipeline[1], corrupt, pipeline[2]
    ]
    with pytest.raises(ValueError, match='no packing transform'):
        insert_before_packing(pipeline[:2], corrupt)


def _val_set(root):
    """Config test set (mmpretrain CustomDataset: folders sorted -> labels
    0, 1): class 0 dark red, class 1 bright red templates."""
    _folder(root, {
        'a_dark': [DARK_RED] * 3,
        'b_light': [(170, 0, 0)] * 2 + [DARK_RED]
    })


def test_corrupt_val(tool, tmp_path, capsys):
    """Brightness adds 0.1 * severity to the HSV value: dark red (V=40)
    becomes 66, 91, 117, 142, 168 -> nearest template dark (40) at
    severities 1-2, bright (170) at 3-5. Contrast leaves a flat image as it
    is. So, by hand: clean 5/6; brightness per severity 5/6, 5/6, 3/6, 3/6,
    3/6; contrast 5/6 everywhere."""
    val = str(tmp_path / 'val')
    _val_set(val)
    ckpt = _checkpoint(
        str(tmp_path / 'val.pth'), {
            load_wnids('imagenet')[0]: DARK_RED,
            load_wnids('imagenet')[1]: (170, 0, 0)
        })
    out_json = str(tmp_path / 'val.json')
    argv = [
        CONFIG, ckpt, '--corrupt-val', '--corruptions', 'brightness',
        'contrast', '--cfg-options', f'test_dataloader.dataset.data_prefix='
        f'{val}', '--out-json', out_json
    ]
    results = tool.main(argv)
    printed = capsys.readouterr().out
    metrics = results['corrupt_val']
    five, three = 500 / 6, 300 / 6
    expected = {
        'accuracy/clean': five,
        'accuracy/brightness/1': five,
        'accuracy/brightness/2': five,
        'accuracy/brightness/3': three,
        'accuracy/brightness/5': three,
        'accuracy/contrast/4': five,
        'accuracy/brightness': (2 * five + 3 * three) / 5,
        'accuracy/contrast': five,
        'mean_accuracy': ((2 * five + 3 * three) / 5 + five) / 2,
    }
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=1e-3), key
    assert metrics['mean_error'] == pytest.approx(
        100 - expected['mean_accuracy'], abs=1e-3)
    drop = (five - expected['accuracy/brightness']) / 2
    assert metrics['relative_mean_error'] == pytest.approx(drop, abs=1e-3)
    assert 'mCE' not in metrics
    assert f"| brightness | {five:.2f} | {five:.2f} | {three:.2f} |" \
        in printed
    # deterministic under the seed; a reference run normalises the errors
    again = tool.main(argv[:-2] + ['--reference-json', out_json])
    for key, value in metrics.items():
        assert again['corrupt_val'][key] == pytest.approx(value), key
    assert again['corrupt_val']['mCE'] == pytest.approx(100.0)
    # contrast: the reference is not worse than on clean images
    assert 'relative_mCE' not in again['corrupt_val']


@pytest.mark.slow
def test_cli_reports_missing_dataset(checkpoint, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join(
        [osp.join(REPO, 'tests', 'data'), REPO,
         env.get('PYTHONPATH', '')])
    proc = subprocess.run([
        sys.executable, TOOL, CONFIG, checkpoint, '--data-root',
        str(tmp_path), '--datasets', 'in-a'
    ],
                          capture_output=True,
                          text=True,
                          env=env,
                          timeout=300)
    assert proc.returncode != 0
    assert f'in-a: {osp.join(str(tmp_path), "imagenet-a")}' in proc.stderr
