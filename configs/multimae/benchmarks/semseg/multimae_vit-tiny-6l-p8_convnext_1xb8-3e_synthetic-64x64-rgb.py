# The CPU demo's segmentation transfer (tools/run_demo.sh): the demo
# MultiMAE (192-d x 6-block ViT, patch 8, pre-trained by
# ../../multimae_vit-tiny-6l-p8_1xb32-16e_synthetic-demo.py) fine-tuned with
# the ConvNeXt head on 256 labelled synthetic scenes from rgb, evaluated on
# the 64 held-out scenes by resize-and-pad and by sliding windows. The
# paper's recipe (Table 4) made small: fp32, lr 1e-3 (the demo's 1e-4 x
# batch would not move in 3 epochs of 32 iterations: the demo's budget),
# the same layer decay 0.75.
_base_ = [
    '../../../_base_/models/multimae_vit-b-p16_convnext-semseg.py',
    '../../../_base_/datasets/synthetic_scenes_seg.py',
    '../../../_base_/schedules/adamw_layer-decay_semseg.py',
    '../../../_base_/default_runtime.py'
]
demo_patch = dict(patch_size=8, image_size=64)
model = dict(
    data_preprocessor=dict(size_divisor=8),
    backbone=dict(
        adapters=dict(rgb=demo_patch),
        embed_dims=192,
        num_layers=6,
        num_heads=3,
        out_indices=[1, 3, 5],
        init_cfg=dict(checkpoint='work_dirs/demo/epoch_6.pth')),
    decode_head=dict(
        in_channels=192,
        channels=48,
        preds_per_patch=4,  # 2 x 2 pixels per 8-px token: 1/4 resolution
        num_blocks=2,
        num_classes=10),
    test_cfg=dict(size=64, crop_size=(64, 64), stride=(32, 32)))
# fp32, as the pre-training demo (a CPU demo)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
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
