# A 1000-class mmpretrain ImageClassifier predicting the nearest template
# colour (tests/data/robustness_toy.py), for the robustness tool's tests.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['robustness_toy'],  # tests/data on PYTHONPATH
                      allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        type='ClsDataPreprocessor',
        num_classes=1000,
        mean=[0., 0., 0.],
        std=[255., 255., 255.],
        to_rgb=True),
    backbone=dict(type='MeanColourBackbone'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=3,
        loss=dict(type='CrossEntropyLoss')))

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=40, edge='short'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackInputs'),
]
test_dataloader = dict(
    batch_size=4,
    num_workers=0,
    dataset=dict(
        type='CustomDataset',
        data_prefix='data/robustness_toy_val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'))
