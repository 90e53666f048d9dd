# MultiMAE ViT-B/16 + ConvNeXt on Hypersim from rgb (supplementary Tables 3
# and 4; main paper Table 2, Hypersim rgb row): 16 per batch, 25 epochs,
# 512 x 512, 40 classes. bf16 autocast (official trains Hypersim in fp32
# because fp16 overflowed; bf16 has fp32's range).
_base_ = [
    '../../../_base_/models/multimae_vit-b-p16_convnext-semseg.py',
    '../../../_base_/datasets/hypersim_multimae.py',
    '../../../_base_/schedules/adamw_layer-decay_semseg.py',
    '../../../_base_/default_runtime.py'
]
model = dict(decode_head=dict(num_classes=40))
train_cfg = dict(max_epochs=25)
