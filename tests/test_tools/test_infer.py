# Copyright (c) mmmultimae contributors. All rights reserved.
"""tools/infer.py on synthetic scenes: dataset-layout folders, modality
groups, masks, fine-tuned segmentors and bad input."""
import importlib.util
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from mmmultimae.apis import MultiMAEInferencer, collect_inputs
from mmmultimae.datasets import write_synthetic_dataset
from mmmultimae.registry import MODELS
from mmmultimae.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'configs', 'multimae',
                'multimae_vit-tiny-6l-p8_1xb32-16e_synthetic-demo.py')
SEG = osp.join(
    ROOT, 'configs', 'multimae', 'benchmarks', 'semseg',
    'multimae_vit-tiny-6l-p8_convnext_1xb8-3e_synthetic-64x64-rgb.py')


def _tool():
    spec = importlib.util.spec_from_file_location(
        'infer', osp.join(ROOT, 'tools', 'infer.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


infer = _tool()


def _random_checkpoint(cfg: Config, path: str) -> str:
    register_all_modules()
    torch.manual_seed(0)
    torch.save(MODELS.build(cfg.model).state_dict(), path)
    return path


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('infer')
    write_synthetic_dataset(
        str(root / 'scenes'), 4, 64, seed=5, rgb_format='png', progress=False)
    ckpt = _random_checkpoint(Config.fromfile(DEMO), str(root / 'demo.pth'))
    return dict(root=root, scenes=str(root / 'scenes'), ckpt=ckpt)


def test_layout_folder_from_rgb(data, tmp_path, capsys):
    out, figs = str(tmp_path / 'out'), str(tmp_path / 'figs')
    written = infer.main([
        DEMO, data['ckpt'], data['scenes'], '--modalities', 'rgb', '--out',
        out, '--show-dir', figs, '--batch-size', '3', '--device', 'cpu'
    ])
    assert 'depth (standardized)' in capsys.readouterr().out
    names = [name for name, _ in collect_inputs(data['scenes'], ('rgb', ))]
    assert len(names) == 4
    expected = []
    for name in names:
        expected += [
            f'{key}/{name}.{ext}'
            for key, ext in (('rgb', 'png'), ('norm_rgb', 'npy'),
                             ('norm_rgb', 'png'), ('depth', 'npy'),
                             ('depth', 'png'), ('semseg', 'png'))
        ]
    assert sorted(osp.relpath(p, out) for p in written
                  if p.startswith(out)) == sorted(expected)
    assert sorted(osp.relpath(p, figs) for p in written
                  if p.startswith(figs)) == sorted(n + '.png' for n in names)
    name = names[0]
    rgb = Image.open(osp.join(out, 'rgb', name + '.png'))
    assert rgb.mode == 'RGB' and rgb.size == (64, 64)
    semseg = Image.open(osp.join(out, 'semseg', name + '.png'))
    assert semseg.mode == 'P' and np.array(semseg).max() < 10
    depth = np.load(osp.join(out, 'depth', name + '.npy'))
    assert depth.shape == (64, 64) and depth.dtype == np.float32
    # the same numbers as the API, one input at a time
    api = MultiMAEInferencer(DEMO, data['ckpt'], device='cpu')
    rgb_file = collect_inputs(data['scenes'], ('rgb', ))[0][1]
    pred = api(rgb_file)['predictions'][0]
    np.testing.assert_allclose(depth, pred['depth'], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(np.array(semseg), pred['semseg'])
    assert Image.open(osp.join(figs, name + '.png')).mode == 'RGB'


def test_groups_masks_and_batches(data, tmp_path, capsys):
    files = [paths for _, paths in collect_inputs(data['scenes'])]
    groups = [f'rgb={f["rgb"]},depth={f["depth"]}' for f in files[:3]]
    outputs = []
    for batch in ('1', '2'):
        out = str(tmp_path / f'b{batch}')
        infer.main([
            DEMO, data['ckpt'], *groups, '--mask-spec', 'rgb=visible',
            'depth=8', '--out', out, '--batch-size', batch, '--device', 'cpu',
            '--seed', '3'
        ])
        outputs.append(out)
    assert 'depth (input)' in capsys.readouterr().out
    api = MultiMAEInferencer(DEMO, data['ckpt'], device='cpu')
    preds = api([dict(rgb=f['rgb'], depth=f['depth']) for f in files[:3]],
                mask_spec=dict(rgb='visible', depth=8),
                seed=3)['predictions']
    for f, pred in zip(files[:3], preds):
        stem = osp.splitext(osp.basename(f['rgb']))[0]
        one, two = (
            np.load(osp.join(o, 'depth', stem + '.npy')) for o in outputs)
        np.testing.assert_allclose(one, two, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(one, pred['depth'], rtol=1e-4, atol=1e-4)
    # a visible-token budget instead of a spec
    infer.main([
        DEMO, data['ckpt'], groups[0], '--num-visible', '16', '--out',
        str(tmp_path / 'budget'), '--device', 'cpu'
    ])
    stem = osp.splitext(osp.basename(files[0]['rgb']))[0]
    assert osp.isfile(tmp_path / 'budget' / 'semseg' / (stem + '.png'))


def test_segmentor_checkpoint(data, tmp_path):
    cfg = Config.fromfile(SEG)
    cfg.model.backbone.init_cfg = None
    ckpt = _random_checkpoint(cfg, str(tmp_path / 'seg.pth'))
    out = str(tmp_path / 'out')
    infer.main([
        SEG, ckpt,
        osp.join(data['scenes'], 'rgb'), '--out', out, '--batch-size', '4',
        '--device', 'cpu', '--cfg-options', 'model.backbone.init_cfg=None'
    ])
    names = [n for n, _ in collect_inputs(osp.join(data['scenes'], 'rgb'))]
    for name in names:
        labels = np.array(Image.open(osp.join(out, 'sem_seg', name + '.png')))
        assert labels.shape == (64, 64) and labels.max() < 10


def test_errors(data, tmp_path):
    base = [DEMO, data['ckpt']]
    rgb = collect_inputs(data['scenes'], ('rgb', ))[0][1]['rgb']
    out = ['--out', str(tmp_path / 'out'), '--device', 'cpu']
    with pytest.raises(SystemExit, match="mask spec value of 'rgb'"):
        infer.main(base + [rgb, '--mask-spec', 'rgb=half'] + out)
    with pytest.raises(SystemExit, match='MODALITY=VALUE'):
        infer.main(base + [rgb, '--mask-spec', 'rgb'] + out)
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'\x89PNG but truncated')
    with pytest.raises(SystemExit, match=f"cannot read rgb file '{broken}'"):
        infer.main(base + [rgb, str(broken)] + out)
    with pytest.raises(SystemExit, match=r"\['normal'\]: the model has no "):
        infer.main(base + [data['scenes'], '--modalities', 'normal'] + out)
    with pytest.raises(SystemExit, match='neither a file'):
        infer.main(base + [str(tmp_path / 'nope.png')] + out)
    with pytest.raises(SystemExit, match='are one modality'):
        infer.main(base + [rgb, '--modalities', 'rgb', 'depth'] + out)
    twin = tmp_path / 'twin'
    twin.mkdir()
    shutil.copy(rgb, twin)
    with pytest.raises(SystemExit, match='would write the same outputs'):
        infer.main(base + [rgb, str(twin / osp.basename(rgb))] + out)
    with pytest.raises(SystemExit, match='MODALITY=PATH'):
        infer.main(base + [f'rgb={rgb},depth'] + out)
    with pytest.raises(SystemExit, match=r'token grid|has 64'):
        infer.main(base + [rgb, '--mask-spec', 'rgb=65'] + out)
