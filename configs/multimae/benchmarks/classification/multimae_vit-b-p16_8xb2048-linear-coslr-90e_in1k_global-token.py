# Linear probing on the global token of the MultiMAE ViT-B/16 (the last
# encoder token, official ``--no_mean_pooling``) instead of the mean of all
# tokens; otherwise as the mean-pooling probe.
_base_ = ['./multimae_vit-b-p16_8xb2048-linear-coslr-90e_in1k.py']
model = dict(head=dict(pool='global_token'))
