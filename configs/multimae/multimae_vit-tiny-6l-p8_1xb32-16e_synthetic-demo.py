# Demo: a small MultiMAE pre-trained on CPU in minutes on the embedded
# synthetic scenes (tools/run_demo.sh). rgb + depth + semseg (10 classes),
# 64 x 64 crops of 96 x 96 renders, patch 8 (8 x 8 tokens per modality),
# 32 of the 192 tokens visible (1/6, the paper's ratio 98/588), the paper's
# four decoders made smaller, fp32. The dataset is written by
#   python tools/dataset_converters/make_synthetic_scenes.py \
#       --out data/synthetic_scenes/train --num-scenes 1600 --image-size 96
_base_ = [
    '../_base_/models/multimae_vit-b-p16.py', '../_base_/default_runtime.py'
]

# the ViT-B model, made small: 64 px inputs in 8 px patches, 10 classes,
# 192-d x 6-layer encoder, 128-d x 1-block decoders
demo_patch = dict(patch_size=8, image_size=64)
demo_decoder = dict(embed_dims=128, num_layers=1, num_heads=4, **demo_patch)
model = dict(
    data_preprocessor=dict(semseg=dict(num_classes=10)),
    encoder=dict(
        adapters=dict(
            rgb=demo_patch,
            depth=demo_patch,
            semseg=dict(num_classes=10, class_embed_dims=32, **demo_patch)),
        embed_dims=192,
        num_layers=6,
        num_heads=3),
    heads=dict(
        rgb=dict(decoder=demo_decoder),
        norm_rgb=dict(decoder=demo_decoder),
        depth=dict(decoder=demo_decoder),
        semseg=dict(decoder=dict(out_channels=10, **demo_decoder))),
    mask_sampler=dict(num_visible=32))

# names and colours of the renderer's classes (for the figures)
metainfo = dict(
    semseg_classes=('floor', 'wall', 'ceiling', 'box', 'sphere', 'cylinder',
                    'table', 'pillar', 'rug', 'painting'),
    semseg_palette=[
        (128, 64, 128),
        (102, 102, 156),
        (70, 70, 70),
        (220, 20, 60),
        (0, 142, 255),
        (250, 170, 30),
        (152, 251, 152),
        (190, 153, 153),
        (255, 0, 255),
        (0, 255, 255),
    ])
train_pipeline = [
    # the converter stores depth as Omnidata-style uint16: metres * 2**16/128
    dict(
        type='LoadMultiModalImages',
        modalities=('rgb', 'depth', 'semseg'),
        depth_scale=128 / 2**16),
    dict(
        type='MultiModalRandomResizedCrop',
        size=64,
        scale=(0.2, 1.0),
        ratio=(3. / 4., 4. / 3.)),
    dict(type='MultiModalRandomFlip', prob=0.5),
    dict(type='DownsampleLabels', keys=('semseg', ), factor=4),
    dict(type='PackMultiModalInputs', num_classes=10),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='MultiModalImageFolder',
        data_root='data/synthetic_scenes',
        data_prefix=dict(img_path='train'),
        modalities=('rgb', 'depth', 'semseg'),
        metainfo=metainfo,
        pipeline=train_pipeline))

# The paper's optimiser with a demo-sized schedule: a larger lr for the
# small batch (the paper's 1e-4 x 32 / 256 would barely move in minutes).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW',
        lr=1e-3,
        betas=(0.9, 0.95),
        weight_decay=0.05,
        fused=True))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=15,
        eta_min=1e-5,
        by_epoch=True,
        begin=1,
        end=16,
        convert_to_iter_based=True),
]
# 1600 scenes / 32 = 50 iterations per epoch, 800 in all; held-out
# evaluation after every epoch
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=16, val_interval=1)

# Held-out evaluation (configs/multimae/README.md): the 64 scenes that
# tools/run_demo.sh writes to data/synthetic_scenes/val, the central square
# at the training size, fixed masks per scene. Masked-token losses,
# depth / semseg from RGB alone (L1 and delta1 in metres, accuracy, mIoU)
# and k-NN accuracy of the 4 scene types, each next to the best constant.
val_pipeline = [
    dict(
        type='LoadMultiModalImages',
        modalities=('rgb', 'depth', 'semseg'),
        depth_scale=128 / 2**16),
    dict(
        type='MultiModalRandomResizedCrop',
        size=64,
        scale=(1.0, 1.0),
        ratio=(1.0, 1.0)),
    dict(type='DownsampleLabels', keys=('semseg', ), factor=4),
    dict(type='PackMultiModalInputs', num_classes=10),
]
val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='MultiModalImageFolder',
        data_root='data/synthetic_scenes',
        data_prefix=dict(img_path='val'),
        modalities=('rgb', 'depth', 'semseg'),
        metainfo=metainfo,
        pipeline=val_pipeline))
val_cfg = dict(type='MaskedReconstructionValLoop')
val_evaluator = [
    dict(type='MaskedReconstructionMetric'),
    dict(type='KNNAccuracy', k=10),
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook',
        interval=4,
        max_keep_ckpts=1,
        save_last=True,
        # best_recon_rgb_only_l1_depth_epoch_<N>.pth
        save_best='recon/rgb_only/l1_depth',
        rule='less'))
custom_hooks = [
    dict(type='StepSeedHook'),
    dict(type='CheckFiniteLossHook'),
    # the bar on stderr: tools/run_demo.sh sends the logger (stdout) to a file
    dict(type='ProgressBarHook', keys=('loss', 'loss_depth'), stream='stderr'),
    dict(type='ReconstructionVisualizationHook', interval=250, num_samples=2),
]
env_cfg = dict(cudnn_benchmark=False)
