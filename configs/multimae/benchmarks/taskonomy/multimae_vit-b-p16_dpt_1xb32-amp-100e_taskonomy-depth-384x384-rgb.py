# MultiMAE ViT-B/16 + DPT on Taskonomy z-buffer depth (16-bit / 65535, clamped
# to 8000 / 65535, scaled to [0, 1]) from rgb (supplementary B.4, Table 5;
# Tables 7/8 column "depth"; official cfgs/finetune/taskonomy/rgb2depth-1k): 1
# GPU x 32, 100 epochs, 384 x 384, masked L1, best validation loss.
_base_ = [
    '../../../_base_/models/multimae_vit-b-p16_dpt-taskonomy.py',
    '../../../_base_/datasets/taskonomy.py',
    '../../../_base_/schedules/adamw_layer-decay_taskonomy.py',
    '../../../_base_/default_runtime.py'
]
task = 'depth_zbuffer'
model = dict(decode_head=dict(num_classes=1))
pipeline = [
    dict(
        type='LoadTaskonomyTasks',
        tasks=('rgb', task, 'mask_valid'),
        image_size=384),
    dict(type='PackMultiModalSegInputs', inputs=('rgb', ), depth_target=task),
]
# the files of rgb and the target (which also gives mask_valid)
data = dict(dataset=dict(tasks=('rgb', task), pipeline=pipeline))
train_dataloader = data
val_dataloader = data
test_dataloader = data
