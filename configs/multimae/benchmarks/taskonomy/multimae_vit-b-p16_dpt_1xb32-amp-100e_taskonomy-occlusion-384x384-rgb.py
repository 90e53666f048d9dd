# MultiMAE ViT-B/16 + DPT on Taskonomy occlusion edges (16-bit / 65535, 3 x 3
# Gaussian blur, sigma 1) from rgb (supplementary B.4, Table 5; Tables 7/8
# column "occlusion"; official cfgs/finetune/taskonomy/rgb2occlusion-1k): 1
# GPU x 32, 100 epochs, 384 x 384, masked L1, best validation loss.
_base_ = [
    '../../../_base_/models/multimae_vit-b-p16_dpt-taskonomy.py',
    '../../../_base_/datasets/taskonomy.py',
    '../../../_base_/schedules/adamw_layer-decay_taskonomy.py',
    '../../../_base_/default_runtime.py'
]
task = 'edge_occlusion'
model = dict(decode_head=dict(num_classes=1))
pipeline = [
    dict(
        type='LoadTaskonomyTasks',
        tasks=('rgb', task, 'mask_valid'),
        image_size=384),
    dict(type='PackMultiModalSegInputs', inputs=('rgb', ), depth_target=task),
]
# the files of rgb, the target and depth_zbuffer (for mask_valid)
data = dict(
    dataset=dict(tasks=('rgb', task, 'depth_zbuffer'), pipeline=pipeline))
train_dataloader = data
val_dataloader = data
test_dataloader = data
