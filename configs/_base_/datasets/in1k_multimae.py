# Pseudo-labelled ImageNet-1K (official MultiMAE layout):
#   data/imagenet_multitask/train/{rgb,depth,semseg}/<wnid>/<file>
# rgb JPEG, depth 16-bit PNG (Omnidata, value / 2**16), semseg palette PNG
# with the 133 COCO panoptic classes. Files are paired by class folder and
# stem. One RandomResizedCrop (scale 0.2-1, ratio 3/4-4/3) and one flip per
# sample for all modalities; semseg then downsampled to 1/4 (56x56).
# Loading and crop are fused (LoadMultiModalRandomResizedCrop: the same box,
# flip, depth and semseg as LoadMultiModalImages + MultiModalRandomResizedCrop
# with the same settings, rgb within 1 level inside the crop; ~1.5x the
# samples per loader core, docs/benchmarks.md).
dataset_type = 'MultiModalImageFolder'
data_root = 'data/imagenet_multitask'

train_pipeline = [
    dict(
        type='LoadMultiModalRandomResizedCrop',
        modalities=('rgb', 'depth', 'semseg'),
        size=224,
        scale=(0.2, 1.0),
        ratio=(3. / 4., 4. / 3.)),
    dict(type='MultiModalRandomFlip', prob=0.5),
    dict(type='DownsampleLabels', keys=('semseg', ), factor=4),
    dict(type='PackMultiModalInputs', num_classes=133),
]

# 8 GPUs x 256 = 2048 images per step (paper Table 1)
train_dataloader = dict(
    batch_size=256,
    num_workers=10,
    pin_memory=True,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='train'),
        modalities=('rgb', 'depth', 'semseg'),
        pipeline=train_pipeline))
