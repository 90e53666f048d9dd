# tiny_multimae.py with held-out evaluation after every epoch
# (MaskedReconstructionValLoop); set val_dataloader.dataset.data_root to a
# folder of written synthetic scenes.
_base_ = ['./tiny_multimae.py']

train_cfg = dict(val_interval=1)
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
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
            # eval_pipeline() of the training pipeline: the whole square
            dict(
                type='MultiModalRandomResizedCrop',
                size=32,
                scale=(1.0, 1.0),
                ratio=(1.0, 1.0)),
            dict(type='DownsampleLabels', keys=('semseg', ), factor=4),
            dict(type='PackMultiModalInputs', num_classes=10),
        ]))
val_cfg = dict(type='MaskedReconstructionValLoop')
val_evaluator = [
    dict(type='MaskedReconstructionMetric'),
    dict(type='KNNAccuracy', k=3),
]
