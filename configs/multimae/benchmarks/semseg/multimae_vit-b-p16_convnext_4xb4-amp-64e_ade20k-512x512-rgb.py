# MultiMAE ViT-B/16 + ConvNeXt head on ADE20K from rgb (Tables 3 and 6 of
# the supplementary; main paper Table 1, semseg column): 4 GPUs x 4 = 16,
# 64 epochs, 512 x 512, layer decay 0.75, mIoU by the paper's
# resize-and-pad evaluator and by mmseg's sliding window.
_base_ = [
    '../../../_base_/models/multimae_vit-b-p16_convnext-semseg.py',
    '../../../_base_/datasets/ade20k_multimae.py',
    '../../../_base_/schedules/adamw_layer-decay_semseg.py',
    '../../../_base_/default_runtime.py'
]
