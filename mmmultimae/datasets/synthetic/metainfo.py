# Copyright (c) mmmultimae contributors. All rights reserved.
"""Classes, palette, scene types and encodings of the synthetic scenes."""
#: Semantic classes of the renderer (ids are the positions).
CLASSES = ('floor', 'wall', 'ceiling', 'box', 'sphere', 'cylinder', 'table',
           'pillar', 'rug', 'painting')
#: RGB colour of each class in :data:`CLASSES` for palette PNGs.
PALETTE = ((128, 64, 128), (102, 102, 156), (70, 70, 70), (220, 20, 60),
           (0, 142, 255), (250, 170, 30), (152, 251, 152), (190, 153, 153),
           (255, 0, 255), (0, 255, 255))
#: Scene types; they set the furniture mix and are the dataset's classes.
SCENE_TYPES = ('storage', 'lounge', 'gallery', 'playroom')
#: Modalities produced by :func:`render_scene`.
MODALITIES = ('rgb', 'depth', 'semseg', 'normal')
#: Largest depth (metres) the 16-bit Omnidata PNG encoding can hold.
DEPTH_PNG_MAX_M = 128.0


FLOOR, WALL, CEILING, BOX, SPHERE, CYLINDER, TABLE, PILLAR, RUG, PAINTING = (
    range(len(CLASSES)))
