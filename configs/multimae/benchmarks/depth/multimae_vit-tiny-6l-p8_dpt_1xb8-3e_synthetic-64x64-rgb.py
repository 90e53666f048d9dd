# The CPU demo's depth transfer (tools/run_demo.sh): the demo MultiMAE
# (192-d x 6-block ViT, patch 8) fine-tuned with the DPT head on 256
# synthetic scenes to predict metric depth from rgb, tested on the 64
# held-out scenes by resize-and-pad and by sliding windows. The NYUv2
# recipe (Table 5) made small: lr 1e-3, 3 epochs of 32 iterations (the
# demo's budget), 1 warmup epoch.
_base_ = [
    '../../../_base_/models/multimae_vit-b-p16_dpt-depth.py',
    '../../../_base_/datasets/synthetic_scenes_depth.py',
    '../../../_base_/schedules/adamw_layer-decay_depth.py',
    '../../../_base_/default_runtime.py'
]
model = dict(
    max_depth=20.,
    data_preprocessor=dict(size_divisor=8),
    backbone=dict(
        adapters=dict(rgb=dict(patch_size=8, image_size=64)),
        embed_dims=192,
        num_layers=6,
        num_heads=3,
        out_indices=[1, 2, 4, 5],
        init_cfg=dict(checkpoint='work_dirs/demo/epoch_6.pth')),
    decode_head=dict(
        in_channels=192, channels=64,
        post_process_channels=(24, 48, 96, 192)),
    test_cfg=dict(
        mode=['resize_pad', 'slide'],
        size=64,
        crop_size=(64, 64),
        stride=(32, 32)))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
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
train_cfg = dict(max_epochs=3)
# no validation during these short runs: the held-out scenes are the test
# set (tools/test.py, tools/analysis_tools/compare_transfers.py)
val_dataloader = None
val_cfg = None
val_evaluator = None
default_hooks = dict(
    logger=dict(interval=32),
    checkpoint=dict(interval=3, save_best=None),
    # 8 figures of the 64 test scenes with tools/test.py --show-dir
    visualization=dict(interval=8))
env_cfg = dict(cudnn_benchmark=False)
