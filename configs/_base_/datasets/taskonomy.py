# Taskonomy dense regression (supplementary B.4, Table 5) in the official
# layout root/<task>/<building>/point_<p>_view_<v>_domain_<task>.png, views
# listed by the tiny split csv files (building,point,view; official
# utils/taskonomy/splits/, or tools/dataset_converters/taskonomy_splits.py
# from a folder listing): the FIRST 800 rows of tiny_train.csv and 200 of
# tiny_val.csv (the official max_images; the paper's "random subset"), the
# whole tiny_test.csv (54514 views). Images are resized to 384 x 384
# (bilinear rgb, nearest targets) with no augmentation; LoadTaskonomyTasks
# decodes each task as official and derives mask_valid from depth_zbuffer
# (65535 = no depth, invalid region grown to 4 x 4 blocks). A task config
# sets the dataset's tasks (rgb, the target, depth_zbuffer for the mask)
# and the pipeline (LoadTaskonomyTasks + PackMultiModalSegInputs with the
# target as depth_target).
dataset_type = 'TaskonomyDataset'
data_root = 'data/taskonomy'
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='splits/tiny_train.csv',
        max_samples=800))
val_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='splits/tiny_val.csv',
        max_samples=200,
        test_mode=True))
test_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='splits/tiny_test.csv',
        test_mode=True))
# the masked L1 over valid pixels x channels, per image (protocol=
# 'per_batch' with batch_size=12 averages as the official runs did); the
# validation value selects the checkpoint (schedule: save_best='loss_l1')
val_evaluator = dict(type='RegressionLossMetric', loss='l1')
test_evaluator = val_evaluator
