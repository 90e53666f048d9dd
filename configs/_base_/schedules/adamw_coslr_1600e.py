# Pre-training schedule of MultiMAE (paper Table 1): AdamW (betas 0.9/0.95,
# weight decay 0.05 on ALL parameters, as the official code), lr = base lr
# 1e-4 x batch / 256 = 8e-4 for the total batch of 2048, 40 warmup epochs
# starting at 1e-6, then cosine to 0 at the last epoch; 1600 epochs; lr
# updated every iteration. A config changes the length with
# ``train_cfg = dict(max_epochs=N)`` alone: the cosine ends at max_epochs.

# bf16 autocast without loss scaling (fp16: tools/train.py --amp float16).
# Fused AdamW runs on CUDA and on CPU (torch >= 2.4).
optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(
        type='AdamW',
        lr=1e-4 * 2048 / 256,
        betas=(0.9, 0.95),
        weight_decay=0.05,
        eps=1e-8,
        fused=True))

param_scheduler = [
    # start_factor x lr = 1e-6
    dict(
        type='LinearLR',
        start_factor=1e-6 / (1e-4 * 2048 / 256),
        by_epoch=True,
        begin=0,
        end=40,
        convert_to_iter_based=True),
    # no end / T_max: mmengine ends it at train_cfg.max_epochs
    dict(
        type='CosineAnnealingLR',
        eta_min=0.,
        by_epoch=True,
        begin=40,
        convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1600)

# The lr above is written for the total batch 2048 (8 GPUs x 256). With
# enable=True (--cfg-options auto_scale_lr.enable=True) mmengine scales it
# by (GPUs x batch per GPU) / 2048, which is the paper's rule
# lr = 1e-4 x batch / 256 for any batch.
auto_scale_lr = dict(base_batch_size=2048, enable=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    # official: a checkpoint every 20 epochs; resume with --resume
    checkpoint=dict(
        type='CheckpointHook', interval=20, max_keep_ckpts=3, save_last=True))
custom_hooks = [
    # masks, drop-path and augmentations as a function of (seed, step), so
    # that a resumed run continues the random stream exactly
    dict(type='StepSeedHook'),
    # stop with an error naming the step and the loss term on NaN/inf
    dict(type='CheckFiniteLossHook'),
    dict(type='ReconstructionVisualizationHook', interval=2500),
]
