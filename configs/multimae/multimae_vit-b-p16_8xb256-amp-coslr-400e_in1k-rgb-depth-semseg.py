# MultiMAE ViT-B/16, RGB + depth + semseg, 400 epochs (the paper's shorter
# schedule, used by its ablations); otherwise the default setting.
_base_ = [
    '../_base_/models/multimae_vit-b-p16.py',
    '../_base_/datasets/in1k_multimae.py',
    '../_base_/schedules/adamw_coslr_1600e.py',
    '../_base_/default_runtime.py',
]

train_cfg = dict(max_epochs=400)
