# Table 7 (choice of pre-training modalities): RGB-D, i.e. rgb + depth
# inputs and outputs (rgb, norm_rgb, depth decoders), 400 epochs. 98 visible
# of 2 x 196 tokens (supplementary A: 98 for 2 or 3 modalities).
_base_ = [
    './multimae_vit-b-p16_8xb256-amp-coslr-400e_in1k-rgb-depth-semseg.py'
]

model = dict(
    encoder=dict(adapters=dict(semseg=None)), heads=dict(semseg=None))

train_pipeline = [
    dict(
        type='LoadMultiModalRandomResizedCrop',
        modalities=('rgb', 'depth'),
        size=224,
        scale=(0.2, 1.0),
        ratio=(3. / 4., 4. / 3.)),
    dict(type='MultiModalRandomFlip', prob=0.5),
    dict(type='PackMultiModalInputs'),
]
train_dataloader = dict(
    dataset=dict(modalities=('rgb', 'depth'), pipeline=train_pipeline))
