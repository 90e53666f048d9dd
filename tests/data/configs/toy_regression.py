_base_ = ['../../../configs/_base_/default_runtime.py']
custom_imports = dict(imports=['toy_modules'],  # tests/data on PYTHONPATH
                      allow_failed_imports=False)

model = dict(type='ToyRegressor')
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ToyRegressionDataset', length=64))
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-2))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=12, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=12)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=2),
    checkpoint=dict(type='CheckpointHook', interval=6, by_epoch=False))
custom_hooks = [
    dict(type='SaveRankWeightsHook'),
    dict(type='KillAtIterHook')
]
env_cfg = dict(cudnn_benchmark=False)
log_processor = dict(by_epoch=False)
randomness = dict(seed=0, diff_rank_seed=True)
