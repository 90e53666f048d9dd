# Linear probing schedule of MAE (He et al., CVPR 2022, main_linprobe.py;
# not in the MultiMAE code, asked for by its users): mmpretrain's LARS
# (momentum 0.9, trust coefficient 0.001, no weight decay; the bias is
# excluded from the layer-wise adaptation, as MAE's LARS does for 1-D
# parameters), lr 0.1 x batch / 256 (written for the 16384 images of
# 8 x 2048; auto_scale_lr rescales it to the real total batch), 10 warmup
# epochs, cosine to 0, 90 epochs, bf16 autocast. Top-1 / top-5 every
# epoch, the best checkpoint by top-1.
optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(
        type='mmpretrain.LARS',
        lr=0.1 * 16384 / 256,
        momentum=0.9,
        weight_decay=0.),
    paramwise_cfg=dict(custom_keys={'head.fc.bias': dict(lars_exclude=True)}))
auto_scale_lr = dict(base_batch_size=16384, enable=True)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=10,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=0.,
        by_epoch=True,
        begin=10,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=90, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
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
