# Copyright (c) mmmultimae contributors. All rights reserved.
from .blocks import (CrossAttention, init_linear_and_norm_weights,
                     split_xavier_uniform_)
from .patchify import (normalize_patches, patch_statistics, patchify,
                       patchify_labels, unpatchify, unpatchify_labels)
from .pos_embed import (build_2d_sincos_pos_embed, pos_embed_tokens,
                        resize_pos_embed, to_2tuple_int)
from .token_layout import TokenLayout
from .tokens import gather_tokens, modality_grid_tokens

__all__ = [
    'TokenLayout', 'build_2d_sincos_pos_embed', 'resize_pos_embed',
    'pos_embed_tokens', 'to_2tuple_int', 'patchify', 'unpatchify',
    'patchify_labels', 'unpatchify_labels', 'patch_statistics',
    'normalize_patches', 'CrossAttention', 'split_xavier_uniform_',
    'init_linear_and_norm_weights', 'gather_tokens', 'modality_grid_tokens'
]
