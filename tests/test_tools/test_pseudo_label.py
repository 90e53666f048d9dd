# Copyright (c) mmmultimae contributors. All rights reserved.
"""tools/dataset_converters/pseudo_label.py: our segmentor / depth
estimator and plain mmseg ones label an ImageNet-layout folder into a set
the pre-training pipeline reads, with the predictions of the models'
evaluation paths at full resolution; resuming, 2-process sharding and bad
input (unreadable images, too many classes, another dataset in the output
root)."""
import copy
import functools
import hashlib
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope, init_default_scope
from PIL import Image

from mmmultimae.apis.pseudo_label import (DEPTH_SCALE, META_FILE,
                                          encode_depth_png)
from mmmultimae.datasets import (MultiModalImageFolder,
                                 SyntheticScenesSegDataset,
                                 write_synthetic_dataset)
from mmmultimae.datasets.synthetic.metainfo import CLASSES
from mmmultimae.registry import MODELS
from mmmultimae.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))
import pseudo_label  # noqa: E402

BENCH = osp.join(ROOT, 'configs', 'multimae', 'benchmarks')
OUR_SEG = osp.join(
    BENCH, 'semseg',
    'multimae_vit-tiny-6l-p8_convnext_1xb8-3e_synthetic-64x64-rgb.py')
OUR_DEPTH = osp.join(
    BENCH, 'depth',
    'multimae_vit-tiny-6l-p8_dpt_1xb8-3e_synthetic-64x64-rgb.py')
MMSEG_SEG = osp.join(ROOT, 'tests', 'data', 'configs',
                     'mmseg_tiny_encoder_decoder.py')
MMSEG_DEPTH = osp.join(ROOT, 'tests', 'data', 'configs',
                       'mmseg_tiny_depth_estimator.py')
SIZE = (80, 112)  # (H, W) of the scenes: not square, not the models' 64


def _save_random_model(config, path, classes=None, depth_bias=None):
    """Random weights of the config's model as a checkpoint (with the
    class names in its dataset_meta, as a training run saves them)."""
    cfg = Config.fromfile(config)
    scope = cfg.get('default_scope', 'mmseg')
    if 'init_cfg' in cfg.model.backbone:
        cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(scope):
        from mmseg.registry import MODELS as MMSEG_MODELS
        model = MMSEG_MODELS.build(cfg.model)
        if scope == 'mmseg':
            model.init_weights()
    if depth_bias is not None:  # depths around a few metres
        conv = model.decode_head.conv_seg
        conv.weight.data *= 20
        conv.bias.data.fill_(depth_bias)
    meta = dict(dataset_meta=dict(classes=list(classes))) if classes else {}
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return path


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """Scenes with ground truth (png rgb), the ImageNet-layout source (their
    rgb plus an image of another size and format) and checkpoints."""
    root = tmp_path_factory.mktemp('pseudo_label')
    scenes = str(root / 'scenes')
    write_synthetic_dataset(
        scenes, 5, SIZE, seed=3, rgb_format='png', progress=False)
    src = str(root / 'src')
    shutil.copytree(osp.join(scenes, 'rgb'), src)
    first = sorted(os.listdir(src))[0]
    name = sorted(os.listdir(osp.join(src, first)))[0]
    with Image.open(osp.join(src, first, name)) as img:
        odd = np.array(img)[:48, :72]
    Image.fromarray(odd).save(osp.join(src, first, 'odd.bmp'))
    ckpts = dict(
        our_seg=_save_random_model(OUR_SEG, str(root / 'our_seg.pth'),
                                   CLASSES),
        our_depth=_save_random_model(OUR_DEPTH, str(root / 'our_depth.pth')),
        mmseg_seg=_save_random_model(MMSEG_SEG, str(root / 'mmseg_seg.pth'),
                                     [f'c{i}' for i in range(300)]),
        mmseg_depth=_save_random_model(
            MMSEG_DEPTH, str(root / 'mmseg_depth.pth'), depth_bias=3.))
    return dict(
        root=root,
        scenes=scenes,
        src=src,
        odd=osp.join(first, 'odd'),
        ckpts=ckpts)


def _args(data, out, semseg=None, depth=None, *extra):
    argv = [data['src'], str(out), '--batch-size', '4', '--quiet', *extra]
    models = dict(
        our_seg=OUR_SEG,
        our_depth=OUR_DEPTH,
        mmseg_seg=MMSEG_SEG,
        mmseg_depth=MMSEG_DEPTH)
    for task, name in (('semseg', semseg), ('depth', depth)):
        if name:
            argv += [f'--{task}', models[name], data['ckpts'][name]]
    return argv


def _label(data, out, semseg=None, depth=None, *extra):
    return pseudo_label.main(_args(data, out, semseg, depth, *extra))


def _read(path):
    with Image.open(path) as img:
        return img.mode, np.array(img)


def _sources(data):
    """(folder/stem, source path) of every source image."""
    out = []
    for folder in sorted(os.listdir(data['src'])):
        for name in sorted(os.listdir(osp.join(data['src'], folder))):
            out.append((osp.join(folder,
                                 osp.splitext(name)[0]),
                        osp.join(data['src'], folder, name)))
    return out


@functools.lru_cache()
def _mmseg_model(config, checkpoint):
    from mmseg.apis import init_model
    model = init_model(config, checkpoint, device='cpu')
    # mmseg's inference_model drops LoadAnnotations only
    model.cfg.test_pipeline = [
        t for t in model.cfg.test_pipeline
        if t['type'] not in ('LoadAnnotations', 'LoadDepthAnnotation')
    ]
    return model


def _mmseg_reference(config, checkpoint, path):
    """mmseg's own inference API on the image file."""
    from mmseg.apis import inference_model
    init_default_scope('mmseg')
    return inference_model(_mmseg_model(config, checkpoint), path)


def _our_reference(config, checkpoint, scenes):
    """Predictions of our model on the scenes by its evaluation path (the
    config's test pipeline on the written files, scored at ori_shape)."""
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        model = MODELS.build(cfg.model)
        model.load_state_dict(
            torch.load(checkpoint, weights_only=True)['state_dict'])
        model.eval()
        dataset = SyntheticScenesSegDataset(
            data_root=scenes,
            modalities=('rgb', 'depth', 'semseg'),
            test_mode=True,
            pipeline=copy.deepcopy(cfg.test_pipeline))
        preds = {}
        for i in range(len(dataset)):
            with torch.no_grad():
                out = model.test_step(pseudo_collate([dataset[i]]))[0]
            path = out.metainfo['img_path']['rgb']
            key = osp.join(
                osp.basename(osp.dirname(path)),
                osp.splitext(osp.basename(path))[0])
            field = out.pred_sem_seg if 'pred_sem_seg' in out else \
                out.pred_depth_map
            preds[key] = field.data[0].numpy()
    return preds


def _pretraining_dataset(out, num_classes):
    """The demo's pre-training pipeline on a pseudo-labelled root."""
    demo = Config.fromfile(
        osp.join(ROOT, 'configs', 'multimae',
                 'multimae_vit-tiny-6l-p8_1xb32-16e_synthetic-demo.py'))
    pipeline = copy.deepcopy(demo.train_pipeline)
    pipeline[-1]['num_classes'] = num_classes
    with DefaultScope.overwrite_default_scope('mmmultimae'):
        return MultiModalImageFolder(str(out), pipeline=pipeline)


def _tree_digest(root):
    digest = hashlib.sha1()
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(filenames):
            digest.update(name.encode())
            with open(osp.join(dirpath, name), 'rb') as f:
                digest.update(f.read())
    return digest.hexdigest()


@pytest.fixture(scope='module')
def ours_then_mmseg(data):
    """Our segmentor + mmseg's DepthEstimator."""
    out = data['root'] / 'out_a'
    return out, _label(data, out, 'our_seg', 'mmseg_depth')


@pytest.fixture(scope='module')
def mmseg_then_ours(data):
    """A plain mmseg EncoderDecoder of 300 classes + our depth estimator."""
    out = data['root'] / 'out_b'
    return out, _label(data, out, 'mmseg_seg', 'our_depth')


def test_our_segmentor_and_mmseg_depth_estimator(data, ours_then_mmseg):
    out, stats = ours_then_mmseg
    sources = _sources(data)
    assert (stats['images'], stats['labelled'], stats['skipped']) == (6, 6, 0)
    assert stats['unreadable'] == [] and stats['report'] is None
    with open(out / META_FILE) as f:
        meta = json.load(f)
    assert meta['modalities'] == ['rgb', 'semseg', 'depth']
    assert meta['semseg']['num_classes'] == 10
    assert meta['semseg']['classes'] == list(CLASSES)
    assert meta['semseg']['encoding'].startswith('palette')
    assert meta['depth']['depth_scale'] == DEPTH_SCALE
    reference = _our_reference(OUR_SEG, data['ckpts']['our_seg'],
                               data['scenes'])
    for key, src in sources:
        with Image.open(src) as img:
            size = img.size[::-1]
            image = np.array(img.convert('RGB'))
        if key == data['odd']:  # a .bmp: re-encoded as PNG, same pixels
            assert _read(out / 'rgb' / f'{key}.png')[1].tolist() == \
                image.tolist()
        else:  # copied byte for byte
            with open(src, 'rb') as a, open(out / 'rgb' / f'{key}.png',
                                            'rb') as b:
                assert a.read() == b.read()
        mode, semseg = _read(out / 'semseg' / f'{key}.png')
        assert mode == 'P' and semseg.shape == size
        if key in reference:  # the evaluation path's prediction, aligned
            assert (semseg == reference[key]).mean() > 0.999
        mode, depth = _read(out / 'depth' / f'{key}.png')
        assert mode == 'I;16' and depth.shape == size
        expected = _mmseg_reference(MMSEG_DEPTH, data['ckpts']['mmseg_depth'],
                                    src).pred_depth_map.data[0].numpy()
        assert expected.std() > 5 * DEPTH_SCALE  # not a constant map
        code, clipped = encode_depth_png(expected)
        assert clipped == 0
        assert np.abs(depth.astype(int) - code).max() <= 1
    assert len(reference) == 5
    dataset = _pretraining_dataset(out, 10)
    assert len(dataset) == 6
    sample = dataset[0]['inputs']
    assert sample['rgb'].shape == (3, 64, 64)
    assert sample['depth'].shape == (1, 64, 64)
    assert sample['semseg'].shape == (16, 16)


def test_mmseg_segmentor_of_300_classes_and_our_depth(data, mmseg_then_ours):
    out, stats = mmseg_then_ours
    assert stats['labelled'] == 6
    with open(out / META_FILE) as f:
        meta = json.load(f)['semseg']
    assert meta['num_classes'] == 300 and meta['classes'][299] == 'c299'
    assert meta['encoding'].startswith('16-bit') and 'palette' not in meta
    reference = _our_reference(OUR_DEPTH, data['ckpts']['our_depth'],
                               data['scenes'])
    for key, src in _sources(data):
        mode, semseg = _read(out / 'semseg' / f'{key}.png')
        assert mode == 'I;16'
        expected = _mmseg_reference(MMSEG_SEG, data['ckpts']['mmseg_seg'],
                                    src).pred_sem_seg.data[0].numpy()
        assert semseg.shape == expected.shape
        assert (semseg == expected).mean() > 0.999
        assert len(np.unique(semseg)) > 1
        _, depth = _read(out / 'depth' / f'{key}.png')
        if key in reference:
            code, _ = encode_depth_png(reference[key])
            assert np.abs(depth.astype(int) - code).max() <= 1
    assert len(reference) == 5
    # 16-bit labels through the pre-training pipeline
    dataset = _pretraining_dataset(out, 300)
    labels = torch.cat([
        dataset[i]['inputs']['semseg'].flatten() for i in range(len(dataset))
    ])
    assert labels.dtype == torch.int64 and 0 <= labels.min()
    assert labels.max() < 300


def test_resume_rewrites_only_missing_or_broken_files(data, ours_then_mmseg,
                                                      tmp_path):
    out = tmp_path / 'out'
    shutil.copytree(ours_then_mmseg[0], out)
    (key_a, _), (key_b, _), (key_c, _) = _sources(data)[:3]
    os.remove(out / 'depth' / f'{key_a}.png')
    semseg_b = out / 'semseg' / f'{key_b}.png'
    before_b = _read(semseg_b)[1]
    with open(semseg_b, 'r+b') as f:
        f.truncate(os.path.getsize(semseg_b) // 2)
    os.remove(out / 'rgb' / f'{key_c}.png')  # labels kept, rgb re-copied
    untouched = {
        p: os.stat(p).st_mtime_ns
        for p in out.rglob('*.png')
        if key_a not in str(p) and key_b not in str(p) and key_c not in str(p)
    }
    stats = _label(data, out, 'our_seg', 'mmseg_depth')
    assert (stats['labelled'], stats['skipped']) == (3, 3)
    assert all(os.stat(p).st_mtime_ns == t for p, t in untouched.items())
    assert (_read(semseg_b)[1] == before_b).mean() > 0.999
    for mod in ('rgb', 'depth', 'semseg'):
        assert len(list((out / mod).rglob('*.png'))) == 6
    stats = _label(data, out, 'our_seg', 'mmseg_depth')
    assert (stats['labelled'], stats['skipped']) == (0, 6)


def test_unreadable_images_are_reported_and_the_run_goes_on(
        data, tmp_path, capsys):
    src = tmp_path / 'src'
    shutil.copytree(data['src'], src)
    folder = sorted(os.listdir(src))[-1]
    broken = src / folder / 'broken.jpg'
    broken.write_bytes(b'not an image at all')
    good = next((src / folder).glob('*.png'))
    cut = src / folder / 'cut.png'
    cut.write_bytes(good.read_bytes()[:300])
    out = tmp_path / 'out'
    stats = pseudo_label.main([
        str(src),
        str(out), '--depth', MMSEG_DEPTH, data['ckpts']['mmseg_depth']
    ])
    assert sorted(p for p, _ in stats['unreadable']) == sorted(
        [str(broken), str(cut)])
    assert stats['labelled'] == 6
    printed = capsys.readouterr().out
    assert str(broken) in printed and str(cut) in printed
    with open(out / 'unreadable_images.txt') as f:
        assert sorted(line.split('\t')[0]
                      for line in f) == sorted([str(broken),
                                                str(cut)])
    for mod in ('rgb', 'depth'):
        names = {p.stem for p in (out / mod).rglob('*.*')}
        assert len(names) == 6 and not {'broken', 'cut'} & names
    # repaired: the next run reads them and drops the stale report
    broken.write_bytes(good.read_bytes())
    cut.write_bytes(good.read_bytes())
    stats = pseudo_label.main([
        str(src),
        str(out), '--depth', MMSEG_DEPTH, data['ckpts']['mmseg_depth'],
        '--quiet'
    ])
    assert (stats['labelled'], stats['skipped']) == (2, 6)
    assert stats['unreadable'] == []
    assert not osp.exists(out / 'unreadable_images.txt')


def test_a_segmentor_of_more_classes_than_16_bits_hold(data, tmp_path):
    config = tmp_path / 'huge.py'
    config.write_text(f'_base_ = [{MMSEG_SEG!r}]\n'
                      'model = dict(decode_head=dict(num_classes=65536))\n')
    out = tmp_path / 'out'
    with pytest.raises(
            ValueError,
            match='65536 classes cannot be stored: '
            'label PNGs hold at most 65535'):
        pseudo_label.main([
            data['src'],
            str(out), '--semseg',
            str(config), data['ckpts']['mmseg_seg']
        ])
    assert not out.exists()


def test_an_output_root_holding_another_dataset(data, mmseg_then_ours,
                                                ours_then_mmseg):
    out_300 = mmseg_then_ours[0]
    before = _tree_digest(out_300)
    with pytest.raises(
            ValueError,
            match='class count mismatch: .* 300 '
            'classes .* the --semseg model has 10'):
        _label(data, out_300, 'our_seg', 'our_depth')
    with pytest.raises(ValueError, match='holds modalities'):
        _label(data, out_300, None, 'our_depth')
    assert _tree_digest(out_300) == before
    # written synthetic scenes: not a pseudo-labelled root
    before = _tree_digest(data['scenes'])
    with pytest.raises(ValueError, match='holds no pseudo_labels.json'):
        _label(data, data['scenes'], 'our_seg', 'our_depth')
    assert _tree_digest(data['scenes']) == before


@pytest.mark.slow
def test_two_processes_label_disjoint_halves(data, tmp_path):
    out = tmp_path / 'out'
    script = osp.join(ROOT, 'tools', 'dataset_converters', 'pseudo_label.py')
    argv = _args(data, out, None, 'mmseg_depth')
    procs = [
        subprocess.Popen([sys.executable, script, *argv],
                         cwd=ROOT,
                         env=dict(
                             os.environ,
                             RANK=str(rank),
                             WORLD_SIZE='2',
                             OMP_NUM_THREADS='1'),
                         stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE,
                         text=True) for rank in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (stdout, stderr) in zip(procs, outputs):
        assert proc.returncode == 0, stderr[-3000:]
    # 6 images: 3 each, each labelled by one process only
    assert 'rank 0/2: 3 images: 3 labelled' in outputs[0][0]
    assert 'rank 1/2: 3 images: 3 labelled' in outputs[1][0]
    for mod in ('rgb', 'depth'):
        assert len(list((out / mod).rglob('*.png'))) == 6
    stats = _label(data, out, None, 'mmseg_depth')
    assert (stats['labelled'], stats['skipped']) == (0, 6)
