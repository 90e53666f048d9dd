# MultiMAE ViT-B/16, the paper's default setting (supplementary Table 1):
# RGB + depth + semseg pseudo-labelled ImageNet-1K, 98 visible tokens,
# Dirichlet alpha = 1, 4 decoders (rgb, norm_rgb, depth, semseg), AdamW
# 8e-4 (total batch 2048), 40 warmup epochs, cosine, 1600 epochs, bf16.
_base_ = [
    '../_base_/models/multimae_vit-b-p16.py',
    '../_base_/datasets/in1k_multimae.py',
    '../_base_/schedules/adamw_coslr_1600e.py',
    '../_base_/default_runtime.py',
]
