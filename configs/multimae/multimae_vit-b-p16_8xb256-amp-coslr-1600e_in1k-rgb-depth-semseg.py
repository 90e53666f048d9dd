# MultiMAE ViT-B/16, RGB + depth + semseg, 1600 epochs on pseudo-labelled
# ImageNet-1K: the paper's default pre-training (Table 1) and the released
# checkpoint. 8 GPUs x 256 images, bf16 autocast (with --amp float16 the
# semseg decoder runs in fp32).
#   bash tools/dist_train.sh configs/multimae/<this file> 8
_base_ = [
    '../_base_/models/multimae_vit-b-p16.py',
    '../_base_/datasets/in1k_multimae.py',
    '../_base_/schedules/adamw_coslr_1600e.py',
    '../_base_/default_runtime.py',
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    # official: a checkpoint every 20 epochs; resume with --resume
    checkpoint=dict(
        type='CheckpointHook', interval=20, max_keep_ckpts=3, save_last=True))
custom_hooks = [
    # masks, drop-path and augmentations as a function of (seed, step), so
    # that a resumed run continues the random stream exactly
    dict(type='StepSeedHook'),
    # stop with an error naming the step and the loss term on NaN/inf
    dict(type='CheckFiniteLossHook'),
    dict(type='ReconstructionVisualizationHook', interval=2500),
]

randomness = dict(seed=0, diff_rank_seed=True)
# DDP without unused parameters: every decoder gets a loss every step
find_unused_parameters = False
