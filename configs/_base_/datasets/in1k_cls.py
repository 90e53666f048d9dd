# ImageNet-1K classification with the augmentation of supplementary Table 2
# (official run_finetuning_cls.py: timm's create_transform), by mmpretrain's
# dataset and transforms:
#   data/imagenet/{train,val}/<wnid>/<file>.JPEG (mmpretrain's ImageNet
#   layout; the pseudo-labelled one works with data_prefix='train/rgb').
# Train: RandomResizedCrop 224 (area 0.08-1, ratio 3/4-4/3, bicubic,
# Pillow), horizontal flip, RandAugment rand-m9-mstd0.5-inc1 (2 operations,
# magnitude 9 +- 0.5 of 10, timm's increasing policies, bicubic, mean-colour
# fill); no colour jitter (timm turns it off under RandAugment) and no
# random erasing (official reprob 0). Test: shorter side to 256 (bicubic,
# Pillow), centre crop 224.
#
# Images are decoded by Pillow and converted to RGB as torchvision's
# ImageFolder does for the official code (Image.convert('RGB'): grey-scale
# replicated, CMYK, palette and RGBA converted; EXIF orientation ignored);
# the classes are the sorted class folders.
dataset_type = 'mmpretrain.ImageNet'
data_root = 'data/imagenet'
load = dict(
    type='mmpretrain.LoadImageFromFile',
    imdecode_backend='pillow',
    color_type='color_ignore_orientation')
bgr_mean = [103.53, 116.28, 123.675]
train_pipeline = [
    load,
    dict(
        type='mmpretrain.RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='mmpretrain.RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='mmpretrain.RandAugment',
        _scope_='mmpretrain',  # its policies are built by plain names
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(
            pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(type='mmpretrain.PackInputs'),
]
test_pipeline = [
    load,
    dict(
        type='mmpretrain.ResizeEdge',
        scale=256,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='mmpretrain.CenterCrop', crop_size=224),
    dict(type='mmpretrain.PackInputs'),
]
# 8 GPUs x 128 = 1024 images per step (Table 2)
train_dataloader = dict(
    batch_size=128,
    num_workers=10,
    pin_memory=True,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=10,
    pin_memory=True,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='mmpretrain.Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
