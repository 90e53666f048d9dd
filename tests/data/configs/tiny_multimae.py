# A tiny MultiMAE on a few synthetic scenes (written by the tests; set
# train_dataloader.dataset.data_root) for runner/launcher/resume tests.
_base_ = ['../../../configs/_base_/default_runtime.py']
custom_imports = dict(
    imports=['toy_modules'],  # tests/data on PYTHONPATH
    allow_failed_imports=False)


def _head(out_channels, type='PixelReconstructionHead', **kwargs):
    return dict(
        type=type,
        decoder=dict(
            type='SpatialDecoder',
            out_channels=out_channels,
            embed_dims=32,
            num_layers=1,
            num_heads=2,
            patch_size=8,
            image_size=32,
            stride_level=4 if type == 'SemSegReconstructionHead' else 1),
        **kwargs)


model = dict(
    type='MultiMAE',
    data_preprocessor=dict(
        type='MultiModalDataPreprocessor',
        rgb=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
        depth=dict(standardize=True),
        semseg=dict(num_classes=10)),
    encoder=dict(
        type='MultiViT',
        adapters=dict(
            rgb=dict(
                type='PatchInputAdapter',
                in_channels=3,
                patch_size=8,
                image_size=32),
            depth=dict(
                type='PatchInputAdapter',
                in_channels=1,
                patch_size=8,
                image_size=32),
            semseg=dict(
                type='SemSegInputAdapter',
                num_classes=10,
                patch_size=8,
                class_embed_dims=8,
                image_size=32)),
        embed_dims=32,
        num_layers=2,
        num_heads=2,
        drop_path_rate=0.1),
    heads=dict(
        rgb=_head(3, loss=dict(type='MaskedMSELoss')),
        norm_rgb=_head(
            3, target='rgb', norm_target=True,
            loss=dict(type='MaskedMSELoss')),
        depth=_head(1, loss=dict(type='MaskedL1Loss')),
        semseg=_head(
            10,
            type='SemSegReconstructionHead',
            loss=dict(type='MaskedCrossEntropyLoss'))),
    mask_sampler=dict(type='DirichletMaskSampler', num_visible=8))

train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='MultiModalImageFolder',
        data_root='',
        modalities=('rgb', 'depth', 'semseg'),
        pipeline=[
            dict(
                type='LoadMultiModalImages',
                modalities=('rgb', 'depth', 'semseg'),
                depth_scale=128 / 2**16),
            dict(type='MultiModalRandomResizedCrop', size=32),
            dict(type='MultiModalRandomFlip', prob=0.5),
            dict(type='DownsampleLabels', keys=('semseg', ), factor=4),
            dict(type='PackMultiModalInputs', num_classes=10),
        ]))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=2e-3, betas=(0.9, 0.95), weight_decay=0.05))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=3,
        by_epoch=True,
        begin=1,
        end=4,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=4)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=-1))
custom_hooks = [
    dict(type='StepSeedHook'),
    dict(type='CheckFiniteLossHook'),
    dict(type='SaveRankWeightsHook'),
    dict(type='KillAtIterHook'),
]
# per-iteration values in the logs (no smoothing window)
log_processor = dict(window_size=1, by_epoch=True)
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0, diff_rank_seed=True)
