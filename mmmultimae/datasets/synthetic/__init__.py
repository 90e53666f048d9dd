# Copyright (c) mmmultimae contributors. All rights reserved.
"""Procedural indoor scenes with aligned RGB, depth, semantics and normals.

A small vectorised ray caster (numpy only) renders a closed room (floor,
four walls, ceiling) furnished with textured primitives - boxes, spheres,
vertical cylinders, tables, pillars, rugs and paintings - under one
directional light plus ambient light, with Lambertian shading and cast
shadows, seen through a pinhole camera with a random pose. Every pixel ray
hits exactly one surface, so the four outputs are exactly aligned:

- ``rgb``: uint8 ``(H, W, 3)``, gamma-encoded.
- ``depth``: float32 ``(H, W)``, metric **z-buffer** depth in metres (the
  distance along the optical axis, not along the ray).
- ``semseg``: uint8 ``(H, W)``, ids into :data:`CLASSES` (no void pixels).
- ``normal``: float32 ``(H, W, 3)``, unit surface normals in the camera
  frame (OpenCV convention: x right, y down, z forward); they face the
  camera (negative dot product with the pixel ray).

Depth can be inferred from the RGB image through perspective (converging
floor texture, object sizes), texture gradients, occlusion, shading and
cast shadows, and a mild aerial perspective (haze).

Scenes are deterministic per ``(seed, index)``: the scene description is
drawn from ``np.random.default_rng([seed, index])`` independently of the
image size, so the same scene can be rendered at any resolution.

The package holds one concern per module: ``metainfo`` (classes, palette,
scene types), ``geometry`` (materials, primitives, camera), ``scene_sampler``
(random scenes), ``raycaster`` (rendering), ``codecs`` (file encodings),
``writer`` (:func:`write_synthetic_dataset`, which writes scenes in the
pseudo-labelled ImageNet layout ``root/<modality>/<class>/<file>`` read by
:class:`~mmmultimae.datasets.MultiModalImageFolder`) and ``dataset``
(:class:`SyntheticScenes`, rendering on the fly). The file encodings:

- ``rgb/<class>/<stem>.jpg`` (or ``.png``);
- ``depth/<class>/<stem>.png``: 16-bit grey PNG in the Omnidata
  convention ``value = round(depth_m / 128 * 2**16)``, i.e.
  ``depth_m = value / 2**16 * 128`` (about 2 mm steps, at most 128 m).
  Load it with ``LoadMultiModalImages(depth_scale=128 / 2**16)`` to get
  metres, or with the official ``2**-16`` scale;
- ``semseg/<class>/<stem>.png``: palette (``'P'``) PNG of the class ids;
- ``normal/<class>/<stem>.png``: uint8 RGB of ``round((n + 1) / 2 * 255)``.

The image-level classes (folders) are the scene types :data:`SCENE_TYPES`.
"""
from .codecs import decode_depth, decode_normals, encode_depth, encode_normals
from .dataset import SyntheticScenes, SyntheticScenesSegDataset
from .raycaster import render, render_scene
from .scene_sampler import sample_scene, scene_type_of
from .writer import write_synthetic_dataset

__all__ = [
    'SyntheticScenes', 'SyntheticScenesSegDataset', 'render', 'render_scene',
    'sample_scene', 'scene_type_of', 'write_synthetic_dataset', 'encode_depth',
    'decode_depth', 'encode_normals', 'decode_normals'
]
