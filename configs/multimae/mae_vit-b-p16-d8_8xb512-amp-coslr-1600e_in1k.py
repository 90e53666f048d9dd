# MAE baseline (Tables 10/11: "MAE (D8)"): rgb only, 49 of 196 tokens
# visible (uniform random masking, 75 %), MAE self-attention decoder 512-d x
# 8 blocks x 16 heads, MSE on per-patch standardised pixels (norm_pix), with
# MAE's recipe: 8 x 512 = 4096 images per step, lr = 1.5e-4 x 4096 / 256, no
# weight decay on norms, biases, tokens and position embeddings, 40 warmup
# epochs, cosine, 1600 epochs. Built from our MultiViT + MAEDecoder: the
# global token (appended) plays the role of MAE's cls token.
_base_ = [
    '../_base_/datasets/in1k_multimae.py',
    '../_base_/schedules/adamw_coslr_1600e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='MultiMAE',
    data_preprocessor=dict(
        type='MultiModalDataPreprocessor',
        rgb=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])),
    encoder=dict(
        type='MultiViT',
        adapters=dict(
            rgb=dict(
                type='PatchInputAdapter',
                in_channels=3,
                patch_size=16,
                image_size=224)),
        embed_dims=768,
        num_layers=12,
        num_heads=12,
        num_global_tokens=1),
    heads=dict(
        rgb=dict(
            type='PixelReconstructionHead',
            norm_target=True,
            decoder=dict(
                type='MAEDecoder',
                out_channels=3,
                embed_dims=512,
                num_layers=8,
                num_heads=16,
                patch_size=16,
                image_size=224),
            loss=dict(type='MaskedMSELoss'))),
    mask_sampler=dict(type='UniformMaskSampler', num_visible=49))

train_pipeline = [
    dict(
        type='LoadMultiModalRandomResizedCrop',
        modalities=('rgb', ),
        size=224,
        scale=(0.2, 1.0),
        ratio=(3. / 4., 4. / 3.)),
    dict(type='MultiModalRandomFlip', prob=0.5),
    dict(type='PackMultiModalInputs'),
]
train_dataloader = dict(
    batch_size=512,
    dataset=dict(modalities=('rgb', ), pipeline=train_pipeline))

optim_wrapper = dict(
    optimizer=dict(lr=1.5e-4 * 4096 / 256),
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        bias_decay_mult=0.,
        custom_keys={
            'global_tokens': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'pos_embed': dict(decay_mult=0.),
        }))
param_scheduler = [
    # MAE warms up from 0; LinearLR needs a positive start factor
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=40,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=0.,
        by_epoch=True,
        begin=40,
        convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=4096, enable=False)
