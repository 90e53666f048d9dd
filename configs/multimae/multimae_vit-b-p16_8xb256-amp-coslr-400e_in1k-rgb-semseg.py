# Table 7 (choice of pre-training modalities): RGB-S, i.e. rgb + semseg
# inputs and outputs (rgb, norm_rgb, semseg decoders), 400 epochs. 98 visible
# of 2 x 196 tokens (supplementary A: 98 for 2 or 3 modalities).
_base_ = [
    './multimae_vit-b-p16_8xb256-amp-coslr-400e_in1k-rgb-depth-semseg.py'
]

model = dict(
    encoder=dict(adapters=dict(depth=None)), heads=dict(depth=None))

train_pipeline = [
    dict(
        type='LoadMultiModalRandomResizedCrop',
        modalities=('rgb', 'semseg'),
        size=224,
        scale=(0.2, 1.0),
        ratio=(3. / 4., 4. / 3.)),
    dict(type='MultiModalRandomFlip', prob=0.5),
    dict(type='DownsampleLabels', keys=('semseg', ), factor=4),
    dict(type='PackMultiModalInputs', num_classes=133),
]
train_dataloader = dict(
    dataset=dict(modalities=('rgb', 'semseg'), pipeline=train_pipeline))
