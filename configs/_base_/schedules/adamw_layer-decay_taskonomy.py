# Taskonomy fine-tuning schedule (supplementary Table 5): AdamW betas
# (0.9, 0.999), lr 3e-4, weight decay 0.05 (not on 1-D parameters, biases,
# position tables, global tokens), layer-wise lr decay 0.75, 5 warmup
# epochs from 1e-6, cosine to 0 at epoch 100, lr updated every iteration,
# bf16 autocast (official: fp16 AMP). Validation every 5 epochs (official
# eval_freq); the checkpoint with the lowest validation masked L1 is kept
# (official checkpoint-best.pth) and is the one to test.
optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(
        type='AdamW', lr=3e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6 / 3e-4,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=0.,
        by_epoch=True,
        begin=5,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5),
    checkpoint=dict(
        type='CheckpointHook',
        interval=5,
        max_keep_ckpts=1,
        save_best='loss_l1',
        rule='less'),
    visualization=dict(type='DenseVisualizationHook'))
custom_hooks = [dict(type='CheckFiniteLossHook')]
