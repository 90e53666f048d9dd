# Copyright (c) mmmultimae contributors. All rights reserved.
from .multimodal_image_folder import MultiModalImageFolder, scan_modality
from .multimodal_seg_dataset import (HypersimDataset, MultiModalSegDataset,
                                     NYUv2Dataset)
from .synthetic import (SyntheticScenes, SyntheticScenesSegDataset,
                        decode_depth, decode_normals, encode_depth,
                        encode_normals, render, render_scene, sample_scene,
                        write_synthetic_dataset)
from .taskonomy import TaskonomyDataset
from .transforms import (DownsampleLabels, LoadMultiModalImages,
                         MultiModalRandomFlip, MultiModalRandomResizedCrop,
                         PackMultiModalInputs)

__all__ = [
    'MultiModalImageFolder', 'scan_modality', 'MultiModalSegDataset',
    'NYUv2Dataset', 'HypersimDataset', 'TaskonomyDataset', 'SyntheticScenes',
    'SyntheticScenesSegDataset',
    'render_scene', 'render', 'sample_scene', 'write_synthetic_dataset',
    'encode_depth', 'decode_depth', 'encode_normals', 'decode_normals',
    'LoadMultiModalImages', 'MultiModalRandomResizedCrop',
    'MultiModalRandomFlip', 'DownsampleLabels', 'PackMultiModalInputs'
]
