# MultiMAE ViT-B/16 + Segmenter-Mask head on ADE20K from rgb (supplementary
# Table 3, first row).
_base_ = [
    '../../../_base_/models/multimae_vit-b-p16_segmenter-mask-semseg.py',
    '../../../_base_/datasets/ade20k_multimae.py',
    '../../../_base_/schedules/adamw_layer-decay_semseg.py',
    '../../../_base_/default_runtime.py'
]
