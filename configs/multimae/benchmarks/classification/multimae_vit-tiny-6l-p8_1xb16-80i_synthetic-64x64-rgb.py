# The CPU demo's classification transfer (tools/run_demo.sh): the demo
# MultiMAE (192-d x 6-block ViT, patch 8, pre-trained by
# ../../multimae_vit-tiny-6l-p8_1xb32-16e_synthetic-demo.py) fine-tuned with
# the official head on the scene types of the 1600 training scenes,
# tested on the 64 held-out scenes. Table 2's recipe made small for the
# demo's budget (about 40 s of CPU): 80 iterations of 16 images, lr 1e-3
# (absolute), layer decay 0.75 (6 blocks), 10 warmup iterations, lighter
# augmentation (the dataset base) and no Mixup / CutMix, fp32. Measured
# figures: the classification README.
_base_ = [
    '../../../_base_/models/multimae_vit-b-p16_linear-cls.py',
    '../../../_base_/datasets/synthetic_scenes_cls.py',
    '../../../_base_/schedules/adamw_layer-decay_cls.py',
    '../../../_base_/default_runtime.py'
]
model = dict(
    data_preprocessor=dict(num_classes=4),
    backbone=dict(
        adapters=dict(rgb=dict(patch_size=8, image_size=64)),
        embed_dims=192,
        num_layers=6,
        num_heads=3,
        init_cfg=dict(checkpoint='work_dirs/demo/epoch_6.pth')),
    head=dict(num_classes=4, in_channels=192),
    train_cfg=None)
# fp32, as the pre-training demo (a CPU demo)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
auto_scale_lr = dict(base_batch_size=16)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
        end=10),
    dict(type='CosineAnnealingLR', eta_min=0., by_epoch=False, begin=10),
]
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters=80, val_interval=80)
# no validation during the run: the held-out scenes are the test set
# (tools/test.py, tools/analysis_tools/compare_transfers.py)
val_dataloader = None
val_cfg = None
val_evaluator = None
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=80, save_best=None))
log_processor = dict(by_epoch=False)
env_cfg = dict(cudnn_benchmark=False)
