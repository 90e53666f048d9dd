# MultiMAE ViT-B/16 + DPT on NYUv2 depth from rgb (supplementary B.3 and
# Table 5; main paper's NYUv2 depth column, delta1 86.4): 2 GPUs x 64 = 128,
# 2000 epochs, 256 x 256, berHu.
_base_ = [
    '../../../_base_/models/multimae_vit-b-p16_dpt-depth.py',
    '../../../_base_/datasets/nyuv2_depth.py',
    '../../../_base_/schedules/adamw_layer-decay_depth.py',
    '../../../_base_/default_runtime.py'
]
