# ImageNet-1K fine-tuning schedule (supplementary Table 2, official
# ft_in1k_100e_multimae-b.yaml): AdamW betas (0.9, 0.999), lr 5e-4 x
# batch / 256 (written for the 1024 images of 8 x 128; auto_scale_lr
# rescales it to the real total batch, the official blr rule), weight decay
# 0.05 except 1-D parameters, biases, position tables and the global token,
# layer-wise lr decay 0.65 (adapters and global token = layer 0, block i =
# i + 1, head = 13), 5 warmup epochs from 1e-6, cosine to 1e-6 (official
# min_lr; every group's floor scaled by its lr scale, as official), 100
# epochs, lr updated every iteration, bf16 autocast (official: fp16). Top-1
# / top-5 every epoch, the best checkpoint by top-1 (official
# checkpoint-best.pth).
optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(
        type='AdamW', lr=5e-4 * 1024 / 256, betas=(0.9, 0.999),
        weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.65))
auto_scale_lr = dict(base_batch_size=1024, enable=True)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6 / 2e-3,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=1e-6 / 2e-3,
        by_epoch=True,
        begin=5,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=1,
        save_best='accuracy/top1',
        rule='greater'))
# the datasets' classes must match the head (and a loaded checkpoint's)
custom_hooks = [
    dict(type='CheckFiniteLossHook'),
    dict(type='ClassifierClassesCheckHook')
]
