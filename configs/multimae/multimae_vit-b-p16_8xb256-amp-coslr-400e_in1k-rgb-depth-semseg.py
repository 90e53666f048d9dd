# MultiMAE ViT-B/16, RGB + depth + semseg, 400 epochs (the paper's shorter
# schedule, used by its ablations); otherwise the default setting.
_base_ = [
    './multimae_vit-b-p16_8xb256-amp-coslr-1600e_in1k-rgb-depth-semseg.py'
]

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-6 / (1e-4 * 2048 / 256),
        by_epoch=True,
        begin=0,
        end=40,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=400 - 40,
        eta_min=0.,
        by_epoch=True,
        begin=40,
        end=400,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=400)
