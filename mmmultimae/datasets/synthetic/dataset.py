# Copyright (c) mmmultimae contributors. All rights reserved.
"""A dataset rendering synthetic scenes on the fly."""
from typing import List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset

from mmmultimae.registry import DATASETS
from ..multimodal_image_folder import MultiModalImageFolder
from .codecs import encode_normals
from .metainfo import CLASSES, MODALITIES, PALETTE, SCENE_TYPES
from .raycaster import render_scene, to_image_size
from .scene_sampler import scene_type_of


@DATASETS.register_module()
class SyntheticScenes(BaseDataset):
    """Synthetic scenes rendered on the fly.

    Each sample is rendered when fetched and handed to the pipeline in the
    form :class:`~mmmultimae.datasets.transforms.LoadMultiModalImages`
    produces from the written files: ``results[mod]`` arrays (rgb uint8
    ``(H, W, 3)``, depth float32 ``(H, W)`` in metres, semseg uint8
    ``(H, W)``, normal uint8 ``(H, W, 3)`` in the file encoding),
    ``results['modalities']``, ``ori_shape``/``img_shape``, ``img_path``
    (``synthetic://<seed>/<index>/<modality>`` placeholders) and
    ``gt_label`` (the scene type). So its pipeline is the folder dataset's
    pipeline without the loading step.

    Args:
        num_scenes (int): Number of scenes (indices ``0 .. num_scenes-1``).
        seed (int): Seed of the scene set. Defaults to 0.
        image_size (int | tuple[int, int]): Rendered ``(H, W)``.
        modalities (Sequence[str]): Subset of :data:`MODALITIES` to keep.
        pipeline (Sequence): Transforms after loading.
        test_mode (bool): mmengine test mode.
        lazy_init (bool): mmengine lazy init.
        max_refetch (int): mmengine refetch limit.
    """
    METAINFO = dict(
        classes=SCENE_TYPES, semseg_classes=CLASSES, semseg_palette=PALETTE)

    def __init__(self,
                 num_scenes: int,
                 seed: int = 0,
                 image_size: Union[int, Sequence[int]] = (224, 224),
                 modalities: Sequence[str] = ('rgb', 'depth', 'semseg'),
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 max_refetch: int = 1000) -> None:
        unknown = [m for m in modalities if m not in MODALITIES]
        if unknown or not modalities:
            raise ValueError(f'SyntheticScenes: modalities must be a '
                             f'non-empty subset of {MODALITIES}, got '
                             f'{tuple(modalities)}')
        if num_scenes < 1:
            raise ValueError(f'num_scenes must be >= 1, got {num_scenes}')
        for t in pipeline:
            name = t.get('type') if isinstance(t, dict) else type(t)
            name = getattr(name, '__name__', name)
            if name in ('LoadMultiModalImages',
                        'LoadMultiModalRandomResizedCrop'):
                raise ValueError(
                    'SyntheticScenes renders the modalities itself; remove '
                    f'{name} from its pipeline')
        self.num_scenes = int(num_scenes)
        self.seed = int(seed)
        self.image_size = to_image_size(image_size)
        self.modalities = tuple(modalities)
        super().__init__(
            pipeline=list(pipeline),
            test_mode=test_mode,
            lazy_init=lazy_init,
            max_refetch=max_refetch)

    def load_data_list(self) -> List[dict]:
        return [
            dict(
                img_path={
                    mod: f'synthetic://{self.seed}/{i}/{mod}'
                    for mod in self.modalities
                },
                gt_label=scene_type_of(i, self.seed),
                scene_index=i,
                sample_idx=i) for i in range(self.num_scenes)
        ]

    def prepare_data(self, idx: int) -> Optional[dict]:
        results = self.get_data_info(idx)
        scene = render_scene(results['scene_index'], self.seed,
                             self.image_size)
        scene['normal'] = encode_normals(scene['normal'])
        for mod in self.modalities:
            results[mod] = scene[mod]
        results['modalities'] = self.modalities
        results['ori_shape'] = results['img_shape'] = self.image_size
        return self.pipeline(results)


@DATASETS.register_module()
class SyntheticScenesSegDataset(MultiModalImageFolder):
    """Written synthetic scenes as a semantic segmentation dataset.

    The files of :func:`write_synthetic_dataset`
    (``root/<modality>/<scene type>/<stem>``) read by
    :class:`MultiModalImageFolder`, with the renderer's pixel classes
    :data:`CLASSES` (and :data:`PALETTE`) as ``metainfo['classes']``
    (``palette``), which mmseg's metrics and visualiser read; the scene
    types of the folders move to ``metainfo['scene_types']`` (and stay the
    samples' ``gt_label``). Arguments are :class:`MultiModalImageFolder`'s.
    """

    def load_data_list(self) -> List[dict]:
        data_list = super().load_data_list()
        self._metainfo['scene_types'] = self._metainfo['classes']
        self._metainfo['classes'] = CLASSES
        self._metainfo['palette'] = [list(c) for c in PALETTE]
        return data_list
