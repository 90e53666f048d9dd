# MultiMAE ViT-B/16 fine-tuned on ImageNet-1K (supplementary B.1, Table 2;
# main paper Table 1, IN-1K column: 83.3 top-1): 8 GPUs x 128 = 1024, 100
# epochs, layer decay 0.65, RandAugment, Mixup / CutMix, label smoothing.
_base_ = [
    '../../../_base_/models/multimae_vit-b-p16_linear-cls.py',
    '../../../_base_/datasets/in1k_cls.py',
    '../../../_base_/schedules/adamw_layer-decay_cls.py',
    '../../../_base_/default_runtime.py'
]
