# Copyright (c) mmmultimae contributors. All rights reserved.
"""MultiMAEInferencer: pre-trained MultiMAE (any subset of modalities,
masks, natural units), fine-tuned segmentor / depth estimator and a
generic MultiViT model, on synthetic scenes with random weights."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from PIL import Image

from mmmultimae.apis import (MultiMAEInferencer, collect_inputs,
                             parse_input_group, save_label_png,
                             save_predictions)
from mmmultimae.datasets import write_synthetic_dataset
from mmmultimae.models.data_preprocessors import (depth_statistics,
                                                  standardize_depth,
                                                  unstandardize_depth)
from mmmultimae.registry import MODELS
from mmmultimae.utils import register_all_modules
from mmmultimae.visualization import grid_size, tile_size

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'configs', 'multimae',
                'multimae_vit-tiny-6l-p8_1xb32-16e_synthetic-demo.py')
BENCH = osp.join(ROOT, 'configs', 'multimae', 'benchmarks')
SEG = osp.join(
    BENCH, 'semseg',
    'multimae_vit-tiny-6l-p8_convnext_1xb8-3e_synthetic-64x64-rgb.py')
SEG_RGBD = osp.join(
    BENCH, 'semseg',
    'multimae_vit-tiny-6l-p8_convnext_1xb8-3e_synthetic-64x64-rgb-depth.py')
DEPTH = osp.join(BENCH, 'depth',
                 'multimae_vit-tiny-6l-p8_dpt_1xb8-3e_synthetic-64x64-rgb.py')
IMAGENET_MEAN = np.array([123.675, 116.28, 103.53])
IMAGENET_STD = np.array([58.395, 57.12, 57.375])


def save_random_weights(cfg: Config, path: str, meta=None) -> str:
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    torch.save(dict(state_dict=model.state_dict(), meta=meta or {}), path)
    return path


def scene_files(root: str):
    """``[{modality: path}]`` of the scenes written under ``root``."""
    return [
        paths for _, paths in collect_inputs(root, ('rgb', 'depth', 'semseg'))
    ]


@pytest.fixture(scope='module')
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp('scenes')
    write_synthetic_dataset(
        str(root / 's64'), 5, 64, seed=3, rgb_format='png', progress=False)
    write_synthetic_dataset(
        str(root / 's96'), 2, 96, seed=4, rgb_format='png', progress=False)
    return str(root)


@pytest.fixture(scope='module')
def pretrain(tmp_path_factory):
    ckpt = str(tmp_path_factory.mktemp('ckpt') / 'demo.pth')
    save_random_weights(Config.fromfile(DEMO), ckpt)
    return MultiMAEInferencer(DEMO, ckpt, device='cpu')


def load_arrays(paths: dict) -> dict:
    """The scene's modalities as the inferencer's array inputs (depth in
    metres, as the demo config's depth_scale reads the files)."""
    out = dict(rgb=np.array(Image.open(paths['rgb']).convert('RGB')))
    if 'depth' in paths:
        out['depth'] = np.array(Image.open(paths['depth'])).astype(
            np.float32) * (128 / 2**16)
    if 'semseg' in paths:
        out['semseg'] = np.array(Image.open(paths['semseg']))
    return out


# ----------------------------------------------------------------------
# pre-training model
# ----------------------------------------------------------------------
def test_all_modalities_natural_units(pretrain, scenes):
    files = scene_files(osp.join(scenes, 's64'))
    out = pretrain(files, batch_size=2)
    assert pretrain.kind == 'pretrain'
    assert pretrain.image_size == (64, 64)  # the demo's position tables
    assert pretrain.depth_scale == 128 / 2**16  # the config's loader
    assert len(out['predictions']) == len(files) == 5
    assert out['visualization'] is None
    for pred, masks, units in zip(out['predictions'], out['masks'],
                                  out['units']):
        assert set(pred) == {'rgb', 'norm_rgb', 'depth', 'semseg'}
        assert pred['rgb'].shape == (64, 64, 3)
        assert pred['rgb'].dtype == np.uint8
        assert pred['rgb'].max() > pred['rgb'].min()
        assert pred['norm_rgb'].shape == (64, 64, 3)
        assert pred['norm_rgb'].dtype == np.float32
        assert pred['depth'].shape == (64, 64)
        assert pred['depth'].dtype == np.float32
        assert pred['semseg'].shape == (64, 64)
        assert pred['semseg'].dtype == np.int64
        assert 0 <= pred['semseg'].min() and pred['semseg'].max() < 10
        # every given modality fully visible by default
        assert {
            m: v.shape
            for m, v in masks.items()
        } == dict(
            rgb=(8, 8), depth=(8, 8), semseg=(8, 8))
        assert not any(v.any() for v in masks.values())
        assert units == dict(
            rgb='uint8 [0, 255]',
            norm_rgb='per-patch standardized',
            depth='input',
            semseg='class ids')


def test_rgb_only_depth_in_standardized_units(pretrain, scenes):
    files = scene_files(osp.join(scenes, 's64'))[:2]
    out = pretrain([dict(rgb=f['rgb']) for f in files])
    assert list(out['masks'][0]) == ['rgb']
    assert out['units'][0]['depth'] == 'standardized'
    # a plain path or an rgb array is the rgb modality
    path_out = pretrain(files[0]['rgb'])
    array_out = pretrain(load_arrays(files[0])['rgb'])
    for key in ('rgb', 'depth', 'semseg'):
        np.testing.assert_array_equal(path_out['predictions'][0][key],
                                      out['predictions'][0][key])
        np.testing.assert_array_equal(array_out['predictions'][0][key],
                                      out['predictions'][0][key])


def test_batched_equals_one_by_one(pretrain, scenes):
    files = scene_files(osp.join(scenes, 's64'))
    for kwargs in (dict(mask_spec=dict(rgb=12, depth=6, semseg='masked')),
                   dict(num_visible=20)):
        batched = pretrain(files, batch_size=3, seed=7, **kwargs)
        single = [
            pretrain(f, seed=7 + i, **kwargs) for i, f in enumerate(files)
        ]
        for i, one in enumerate(single):
            for m, mask in batched['masks'][i].items():
                np.testing.assert_array_equal(mask, one['masks'][0][m])
            visible = sum(int((~v).sum()) for v in one['masks'][0].values())
            assert visible == (18 if 'mask_spec' in kwargs else 20)
            assert batched['units'][i] == one['units'][0]
            for key, value in batched['predictions'][i].items():
                other = one['predictions'][0][key]
                if key == 'rgb':
                    assert np.abs(value.astype(int) - other).max() <= 1
                elif key == 'semseg':
                    assert (value == other).mean() > 0.99
                else:
                    np.testing.assert_allclose(
                        value, other, rtol=1e-4, atol=1e-4)
    # different seeds, different masks
    first = pretrain(files[0], num_visible=20, seed=0)['masks'][0]
    second = pretrain(files[0], num_visible=20, seed=1)['masks'][0]
    assert any((first[m] != second[m]).any() for m in first)


def _trimmed_stats(depth: np.ndarray, trim=0.1, eps=1e-6):
    """The trimmed mean / std written plainly (numpy, float64)."""
    values = np.sort(depth.ravel().astype(np.float64))
    n = values.size
    kept = values[int(trim * n):int((1 - trim) * n)]
    return kept.mean(), np.sqrt(kept.var(ddof=1) + eps)


def test_equals_model_forward_on_same_masks(pretrain, scenes):
    files = scene_files(osp.join(scenes, 's64'))[:3]
    spec = dict(rgb='visible', depth='visible', semseg='masked')
    samples = pretrain(
        files, batch_size=3, mask_spec=spec, return_datasamples=True)
    out = pretrain(files, batch_size=3, mask_spec=spec)
    model = pretrain.model
    arrays = [load_arrays(f) for f in files]
    raw = dict(
        rgb=[torch.from_numpy(a['rgb']).permute(2, 0, 1) for a in arrays],
        depth=[torch.from_numpy(a['depth'])[None] for a in arrays],
        semseg=[
            torch.from_numpy(a['semseg'][2::4, 2::4].astype(np.int64))
            for a in arrays
        ])
    data = model.data_preprocessor(dict(inputs=raw), False)
    layout = model.token_layout(data['inputs'])
    masks = {
        m: torch.full((3, n), m == 'semseg')
        for m, n in layout.num_tokens.items()
    }
    with torch.no_grad():
        expected = model(data['inputs'], mode='predict', masks=masks)
    for got, want, natural, array in zip(samples, expected, out['predictions'],
                                         arrays):
        for head in ('rgb', 'norm_rgb', 'depth', 'semseg'):
            torch.testing.assert_close(
                got.get(f'pred_{head}'), want.get(f'pred_{head}'))
        # natural units from the model's own output
        rgb = want.pred_rgb.numpy().transpose(1, 2, 0)
        rgb = np.clip(np.round(rgb * IMAGENET_STD + IMAGENET_MEAN), 0, 255)
        assert np.abs(natural['rgb'].astype(int) - rgb).max() <= 1
        mean, std = _trimmed_stats(array['depth'])
        np.testing.assert_allclose(
            natural['depth'],
            want.pred_depth[0].numpy() * std + mean,
            rtol=1e-5,
            atol=1e-4)
        logits = F.interpolate(
            want.pred_semseg[None], (64, 64),
            mode='bilinear',
            align_corners=False)
        np.testing.assert_array_equal(natural['semseg'],
                                      logits[0].argmax(0).numpy())


def test_depth_statistics_round_trip():
    # values 0..9: trimmed to 1..8, mean 4.5, unbiased variance 6
    depth = torch.arange(10.).view(1, 1, 2, 5).repeat(2, 1, 1, 1)
    depth[1] = depth[1] * 3 + 2  # mean 15.5, variance 54
    mean, std, usable = depth_statistics(depth)
    torch.testing.assert_close(mean, torch.tensor([4.5, 15.5]))
    torch.testing.assert_close(std, torch.tensor([6., 54.]).add(1e-6).sqrt())
    assert usable.tolist() == [True, True]
    standardized = standardize_depth(depth)
    torch.testing.assert_close(standardized, (depth - mean.view(-1, 1, 1, 1)) /
                               std.view(-1, 1, 1, 1))
    torch.testing.assert_close(
        unstandardize_depth(standardized, mean, std), depth)
    # visible pixels only; too few -> unusable
    valid = torch.zeros_like(depth, dtype=torch.bool)
    valid[0, ..., :1, :] = True  # 0..4: kept 0..3 (int(0.5) = 0)
    mean, std, usable = depth_statistics(depth, valid)
    assert usable.tolist() == [True, False]
    torch.testing.assert_close(mean[0], torch.tensor(1.5))
    with pytest.raises(ValueError, match=r'\(B,\)'):
        unstandardize_depth(standardized, mean[:1], std[:1])


def test_depth_in_input_units(pretrain, scenes):
    """Depth given in other units comes back in those units: scaling or
    shifting the input depth scales or shifts the prediction (the model
    sees the same standardised input); masked depth pixels never reach
    the model."""
    arrays = load_arrays(scene_files(osp.join(scenes, 's64'))[0])
    spec = dict(rgb='visible', depth=np.arange(64).reshape(8, 8) % 3 == 0)
    base = pretrain(arrays, mask_spec=spec)
    assert base['units'][0]['depth'] == 'input'
    assert (~base['masks'][0]['depth']).sum() == 42
    depth = base['predictions'][0]['depth']
    metres_to_mm = pretrain(
        dict(arrays, depth=arrays['depth'] * 1000),
        mask_spec=spec)['predictions'][0]['depth']
    np.testing.assert_allclose(metres_to_mm, depth * 1000, rtol=1e-3)
    shifted = pretrain(
        dict(arrays, depth=arrays['depth'] + 5),
        mask_spec=spec)['predictions'][0]['depth']
    np.testing.assert_allclose(shifted, depth + 5, atol=1e-3)
    # masked patches (mask True, 8 x 8 pixels each) hold other values
    hidden = np.kron(base['masks'][0]['depth'], np.ones((8, 8))) > 0
    noisy = np.where(hidden, 1e4, arrays['depth']).astype(np.float32)
    noisy_out = pretrain(dict(arrays, depth=noisy), mask_spec=spec)
    np.testing.assert_array_equal(noisy_out['predictions'][0]['depth'], depth)
    # the prediction is not the input: it is un-standardised, not copied
    assert np.abs(depth - arrays['depth']).mean() > 1e-3
    # no visible depth token: standardised units
    out = pretrain(arrays, mask_spec=dict(rgb='visible', depth='masked'))
    assert out['units'][0]['depth'] == 'standardized'


def test_resize_and_figure(pretrain, scenes):
    files = scene_files(osp.join(scenes, 's96'))
    out = pretrain(
        files + [dict(rgb=files[0]['rgb'])],
        batch_size=3,
        mask_spec=dict(rgb=16),
        return_vis=True)
    assert [p['depth'].shape for p in out['predictions']] == [(64, 64)] * 3
    figure = out['visualization'][0]
    assert figure.dtype == np.uint8
    # rows: rgb, depth, semseg (rgb head shown, not norm_rgb); 3 columns
    assert figure.shape == grid_size(3, 3, tile_size((64, 64))) + (3, )
    assert out['visualization'][2].shape == figure.shape
    # a larger working size
    big = MultiMAEInferencer(
        pretrain.cfg, device='cpu', image_size=96)  # random weights
    assert big(files[0])['predictions'][0]['rgb'].shape == (96, 96, 3)


def test_mask_arguments_errors(pretrain, scenes):
    files = scene_files(osp.join(scenes, 's64'))
    rgb = files[0]['rgb']
    with pytest.raises(ValueError,
                       match=r"names \['normal'\]: the model has no input"):
        pretrain(rgb, mask_spec=dict(normal='visible'))
    with pytest.raises(ValueError, match='input 0 does not provide'):
        pretrain(rgb, mask_spec=dict(depth='visible'))
    with pytest.raises(ValueError, match='not both'):
        pretrain(rgb, mask_spec=dict(rgb=3), num_visible=4)
    with pytest.raises(ValueError, match=r'token grid shape \(8, 8\)'):
        pretrain(rgb, mask_spec=dict(rgb=np.zeros((4, 4), bool)))
    with pytest.raises(ValueError, match='bool'):
        pretrain(rgb, mask_spec=dict(rgb=np.full((8, 8), 0.5)))
    with pytest.raises(ValueError, match='65 visible tokens'):
        pretrain(rgb, mask_spec=dict(rgb=65))
    with pytest.raises(ValueError, match='num_visible=200 exceeds'):
        pretrain(rgb, num_visible=200)
    with pytest.raises(TypeError, match='parse_mask_spec'):
        pretrain(rgb, mask_spec=['rgb=visible'])


def test_bad_inputs(pretrain, scenes, tmp_path):
    files = scene_files(osp.join(scenes, 's64'))
    arrays = load_arrays(files[0])
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'not a png at all')
    with pytest.raises(OSError, match=f"cannot read rgb file '{broken}'"):
        pretrain([files[0]['rgb'], str(broken)])
    with pytest.raises(FileNotFoundError, match='missing.png'):
        pretrain(dict(rgb=str(tmp_path / 'missing.png')))
    with pytest.raises(
            ValueError,
            match=r"input 0: the model has no input adapter for "
            r"\['normal'\]"):
        pretrain(dict(rgb=arrays['rgb'], normal=files[0]['rgb']))
    bad_arrays = [
        (dict(rgb=arrays['rgb'].astype(np.float32)),
         r'rgb array must be uint8 \(H, W, 3\).*float32 of shape'),
        (dict(rgb=arrays['rgb'][..., 0]), r'shape \(64, 64\)'),
        (dict(rgb=arrays['rgb'], depth=arrays['depth'].astype(np.uint16)),
         r'depth array must be float \(H, W\)'),
        (dict(rgb=arrays['rgb'], depth=np.full((64, 64), np.nan,
                                               np.float32)), 'non-finite'),
        (dict(rgb=arrays['rgb'], semseg=arrays['semseg'].astype(float)),
         'semseg array must be integer class ids'),
        (dict(rgb=arrays['rgb'], depth=arrays['depth'][:32]),
         r"same height and width, got \{'rgb': \(64, 64\), 'depth': "
         r'\(32, 64\)\}'),
    ]
    for item, message in bad_arrays:
        with pytest.raises(ValueError, match=message):
            pretrain([arrays, item])
    with pytest.raises(TypeError, match='got int'):
        pretrain([3])
    with pytest.raises(ValueError, match=r'class ids must be in \[0, 10\)'):
        pretrain(dict(rgb=arrays['rgb'], semseg=arrays['semseg'] + 20))


# ----------------------------------------------------------------------
# files
# ----------------------------------------------------------------------
def test_collect_inputs_and_groups(scenes, tmp_path):
    root = osp.join(scenes, 's64')
    samples = collect_inputs(root, ('rgb', 'depth'))
    assert len(samples) == 5
    name, paths = samples[0]
    assert list(paths) == ['rgb', 'depth'] and '/' in name  # <class>/<stem>
    assert paths['rgb'].endswith(name + '.png')
    # a plain folder: every image (recursive) is rgb
    plain = collect_inputs(osp.join(root, 'rgb'))
    assert [p for _, p in plain] == [{'rgb': p['rgb']} for _, p in samples]
    assert parse_input_group('rgb=a.png, depth=b.png') == dict(
        rgb='a.png', depth='b.png')
    for text in ('rgb', 'rgb=a.png,depth', 'rgb=a.png,rgb=b.png', '=a.png'):
        with pytest.raises(ValueError, match='MODALITY=PATH|twice'):
            parse_input_group(text)
    with pytest.raises(FileNotFoundError, match='nope.png'):
        collect_inputs(f'rgb={paths["rgb"]},depth=nope.png')
    with pytest.raises(ValueError, match=r"no \['normal'\] sub-folder"):
        collect_inputs(root, ('normal', ), known_modalities=('rgb', 'depth'))
    # unpaired files are reported, not dropped
    partial = tmp_path / 'partial'
    for m in ('rgb', 'depth'):
        (partial / m).mkdir(parents=True)
        Image.new('RGB', (8, 8)).save(partial / m / 'a.png')
    Image.new('RGB', (8, 8)).save(partial / 'rgb' / 'b.png')
    with pytest.raises(ValueError, match=r'1 files are missing \(depth/b'):
        collect_inputs(str(partial))
    assert len(collect_inputs(str(partial), ('rgb', ))) == 2
    (tmp_path / 'empty' / 'sub').mkdir(parents=True)
    (tmp_path / 'empty' / 'sub' / 'notes.txt').write_text('no image')
    with pytest.raises(ValueError, match='holds no image'):
        collect_inputs(str(tmp_path / 'empty'))


def test_save_predictions(tmp_path):
    rng = np.random.default_rng(0)
    prediction = dict(
        rgb=rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
        depth=rng.random((8, 8), dtype=np.float32),
        semseg=rng.integers(0, 10, (8, 8)),
        many=np.array([[0, 300], [65535, 7]]))
    written = save_predictions(prediction, str(tmp_path), 'cls/a')
    assert sorted(osp.relpath(p, tmp_path) for p in written) == [
        'depth/cls/a.npy', 'depth/cls/a.png', 'many/cls/a.png',
        'rgb/cls/a.png', 'semseg/cls/a.png'
    ]
    np.testing.assert_array_equal(
        np.load(tmp_path / 'depth/cls/a.npy'), prediction['depth'])
    semseg = Image.open(tmp_path / 'semseg/cls/a.png')
    assert semseg.mode == 'P'
    np.testing.assert_array_equal(np.array(semseg), prediction['semseg'])
    np.testing.assert_array_equal(
        np.array(Image.open(tmp_path / 'many/cls/a.png')), prediction['many'])
    np.testing.assert_array_equal(
        np.array(Image.open(tmp_path / 'rgb/cls/a.png')), prediction['rgb'])
    with pytest.raises(ValueError, match=r'\[0, 65536\)'):
        save_label_png(
            np.array([[70000]]), np.zeros((1, 3), np.uint8),
            str(tmp_path / 'x.png'))


# ----------------------------------------------------------------------
# fine-tuned and other models
# ----------------------------------------------------------------------
def _dense(path: str, tmp_path, meta=None) -> MultiMAEInferencer:
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    ckpt = save_random_weights(cfg, str(tmp_path / 'dense.pth'), meta)
    return MultiMAEInferencer(cfg, ckpt, device='cpu')


def test_segmentor(scenes, tmp_path):
    from mmseg.structures import SegDataSample
    inferencer = _dense(
        SEG, tmp_path, meta=dict(dataset_meta=dict(palette=[[1, 2, 3]] * 10)))
    assert inferencer.kind == 'dense' and inferencer.modalities == ['rgb']
    assert inferencer.model.test_cfg['mode'] == 'resize_pad'
    assert inferencer.palette.tolist() == [[1, 2, 3]] * 10  # checkpoint meta
    files = scene_files(osp.join(scenes, 's64'))[:2] + scene_files(
        osp.join(scenes, 's96'))
    items = [f['rgb'] for f in files]
    out = inferencer(items, batch_size=2, return_vis=True)
    shapes = [p['sem_seg'].shape for p in out['predictions']]
    assert shapes == [(64, 64), (64, 64), (96, 96), (96, 96)]
    for pred in out['predictions']:
        assert pred['sem_seg'].dtype == np.int64
        assert 0 <= pred['sem_seg'].min() and pred['sem_seg'].max() < 10
    assert out['visualization'][2].shape == grid_size(1, 2, tile_size(
        (96, 96))) + (3, )
    samples = inferencer(items, batch_size=2, return_datasamples=True)
    assert all(isinstance(s, SegDataSample) for s in samples)
    # the model's own test step on the same image
    rgb = torch.from_numpy(load_arrays(files[2])['rgb']).permute(2, 0, 1)
    expected = inferencer.model.test_step(
        dict(
            inputs=dict(rgb=[rgb]),
            data_samples=[
                SegDataSample(
                    metainfo=dict(ori_shape=(96, 96), img_shape=(96, 96)))
            ]))[0]
    one = inferencer(items[2])['predictions'][0]['sem_seg']
    np.testing.assert_array_equal(one, expected.pred_sem_seg.data[0].numpy())
    # batched (2 images of 96 px) vs one by one
    assert (one == out['predictions'][2]['sem_seg']).mean() > 0.99
    with pytest.raises(ValueError, match='apply to pre-training models'):
        inferencer(items[0], mask_spec=dict(rgb='visible'))
    with pytest.raises(ValueError, match='image_size applies'):
        MultiMAEInferencer(inferencer.cfg, device='cpu', image_size=64)


def test_rgbd_segmentor_needs_both(scenes, tmp_path):
    inferencer = _dense(SEG_RGBD, tmp_path)
    files = scene_files(osp.join(scenes, 's64'))[:2]
    out = inferencer([dict(rgb=f['rgb'], depth=f['depth']) for f in files],
                     batch_size=2)
    assert out['predictions'][1]['sem_seg'].shape == (64, 64)
    with pytest.raises(ValueError, match=r"the input has no \['depth'\]"):
        inferencer(files[0]['rgb'])


def test_depth_estimator(scenes, tmp_path):
    inferencer = _dense(DEPTH, tmp_path)
    files = scene_files(osp.join(scenes, 's96'))
    out = inferencer([f['rgb'] for f in files], batch_size=2)
    for pred in out['predictions']:
        assert set(pred) == {'depth_map'}
        assert pred['depth_map'].shape == (96, 96)
        assert pred['depth_map'].dtype == np.float32
        assert pred['depth_map'].min() >= 0
        assert pred['depth_map'].max() <= 20  # the config's max_depth
    sample = inferencer(files[0]['rgb'], return_datasamples=True)[0]
    assert tuple(sample.pred_depth_map.shape) == (96, 96)


@MODELS.register_module(force=True)
class ToyMultiViTScorer(BaseModel):
    """A generic MultiViT model: one score per image (mean of the last
    block's tokens)."""

    def __init__(self, backbone: dict, data_preprocessor: dict) -> None:
        super().__init__(data_preprocessor=MODELS.build(data_preprocessor))
        self.backbone = MODELS.build(backbone)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        feats = self.backbone(inputs)[-1].mean(dim=(1, 2, 3))
        if mode != 'predict':
            return feats
        return [BaseDataElement(pred_score=f[None]) for f in feats]


def test_generic_model(scenes, tmp_path):
    register_all_modules()
    cfg = Config(
        dict(
            model=dict(
                type='ToyMultiViTScorer',
                data_preprocessor=dict(
                    type='MultiModalDataPreprocessor',
                    rgb=dict(
                        mean=IMAGENET_MEAN.tolist(),
                        std=IMAGENET_STD.tolist())),
                backbone=dict(
                    type='MultiViT',
                    adapters=dict(
                        rgb=dict(
                            type='PatchInputAdapter',
                            in_channels=3,
                            patch_size=8,
                            image_size=64)),
                    embed_dims=16,
                    num_layers=1,
                    num_heads=2))))
    inferencer = MultiMAEInferencer(cfg, device='cpu')
    assert inferencer.kind == 'generic'
    files = glob.glob(osp.join(scenes, 's64', 'rgb', '*', '*.png'))
    out = inferencer(files, batch_size=5)
    with torch.no_grad():
        model = inferencer.model
        rgb = torch.stack([
            torch.from_numpy(np.array(Image.open(f))).permute(2, 0, 1)
            for f in files
        ])
        data = model.data_preprocessor(dict(inputs=dict(rgb=rgb)))
        expected = model(data['inputs'])
    got = np.array([p['score'][0] for p in out['predictions']])
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5)
