# NYUv2 depth fine-tuning schedule (supplementary Table 5): AdamW betas
# (0.9, 0.999), lr 1e-4, weight decay 1e-4 (not on 1-D parameters, biases,
# position tables, global tokens), layer-wise lr decay 0.75, 100 warmup
# epochs from 1e-6, cosine to 0, fp32 as official; validation every 250
# epochs (official eval_freq), best checkpoint by delta1 or, as official, by
# the validation berHu loss: save_best='loss_berhu/whole', rule='less'.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-2,  # 1e-6 / 1e-4
        by_epoch=True,
        begin=0,
        end=100,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=0.,
        by_epoch=True,
        begin=100,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2000,
                 val_interval=250)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(
        type='CheckpointHook',
        interval=250,
        max_keep_ckpts=1,
        # or save_best='loss_berhu/whole', rule='less' (official)
        save_best='delta1/whole',
        rule='greater'),
    # figures of inputs, ground truth and prediction every 50 validation /
    # test batches, off (draw=False) unless tools/test.py --show-dir
    visualization=dict(type='DenseVisualizationHook'))
custom_hooks = [dict(type='CheckFiniteLossHook')]
