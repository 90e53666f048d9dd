# Semantic segmentation fine-tuning schedule (supplementary Table 4):
# AdamW betas (0.9, 0.999), lr 1e-4 (absolute, as official: no batch
# scaling), weight decay 0.05 except 1-D parameters, biases, position
# embeddings and global tokens, layer-wise lr decay 0.75 (adapters and
# global tokens = layer 0, block i = i + 1, heads = 13), warmup of one
# epoch from 1e-6, cosine to 0 at the last epoch, lr updated every
# iteration, bf16 autocast. A config sets its length with
# ``train_cfg = dict(max_epochs=N)``.
optim_wrapper = dict(
    type='MixedPrecisionOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-2,  # 1e-6 / 1e-4
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=0.,
        by_epoch=True,
        begin=1,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=64, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    # the best checkpoint by the paper's evaluator (official
    # checkpoint-best.pth by mIoU); mIoU/slide is logged beside it
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=1,
        save_best='mIoU/resize_pad',
        rule='greater'),
    # figures of inputs, ground truth and prediction every 50 validation /
    # test batches, off (draw=False) unless tools/test.py --show-dir
    visualization=dict(type='DenseVisualizationHook'))
custom_hooks = [dict(type='CheckFiniteLossHook')]
