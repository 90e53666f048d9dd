# Runtime defaults shared by every mmmultimae config.
default_scope = 'mmmultimae'

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# default_hooks: mmengine's defaults (timer, logger, param scheduler,
# checkpoint, sampler seed); each schedule sets the logger and checkpoint
# intervals it needs (mmseg's convention: hooks live with the schedule).

vis_backends = [dict(type='LocalVisBackend')]
# W&B / TensorBoard: add dict(type='WandbVisBackend', init_kwargs=...) or
# dict(type='TensorboardVisBackend') to vis_backends.
visualizer = dict(
    type='Visualizer', vis_backends=vis_backends, name='visualizer')

log_processor = dict(window_size=10, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False

randomness = dict(seed=0, diff_rank_seed=True)
