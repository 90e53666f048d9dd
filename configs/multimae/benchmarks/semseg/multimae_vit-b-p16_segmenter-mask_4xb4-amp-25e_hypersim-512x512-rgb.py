# MultiMAE ViT-B/16 + Segmenter-Mask head on Hypersim from rgb
# (supplementary Table 3).
_base_ = [
    '../../../_base_/models/multimae_vit-b-p16_segmenter-mask-semseg.py',
    '../../../_base_/datasets/hypersim_multimae.py',
    '../../../_base_/schedules/adamw_layer-decay_semseg.py',
    '../../../_base_/default_runtime.py'
]
model = dict(decode_head=dict(num_classes=40))
train_cfg = dict(max_epochs=25)
