# Copyright (c) mmmultimae contributors. All rights reserved.
"""The vectorised numpy ray caster rendering a scene into aligned rgb, depth,
semseg and normals."""
from typing import Dict, Sequence, Tuple, Union

import numpy as np

from .geometry import Camera, Scene
from .metainfo import CEILING, FLOOR, WALL
from .scene_sampler import sample_scene


def to_image_size(image_size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    if (len(image_size) != 2 or not all(
            isinstance(s, (int, np.integer)) and s > 0 for s in image_size)):
        raise ValueError('image_size must be an int or (H, W) of positive '
                         f'ints, got {image_size!r}')
    return int(image_size[0]), int(image_size[1])


def camera_rays(camera: Camera, image_size: Tuple[int, int]) -> np.ndarray:
    """World directions of the pixel rays, scaled to unit forward length.

    With this scaling the ray parameter of a hit *is* its z-buffer depth.

    Returns:
        np.ndarray: ``(H * W, 3)`` float32, row-major over pixels.
    """
    height, width = image_size
    k = camera.intrinsics(image_size)
    x = (np.arange(width, dtype=np.float32) + 0.5 - k[0, 2]) / k[0, 0]
    y = (np.arange(height, dtype=np.float32) + 0.5 - k[1, 2]) / k[1, 1]
    cam = np.empty((height, width, 3), np.float32)
    cam[..., 0] = x[None, :]
    cam[..., 1] = y[:, None]
    cam[..., 2] = 1
    return cam.reshape(-1, 3) @ camera.rotation.T


def render(scene: Scene,
           image_size: Union[int, Sequence[int]] = (224, 224),
           shadows: bool = True) -> Dict[str, np.ndarray]:
    """Ray-cast a scene.

    Args:
        scene (Scene): The scene, from :func:`sample_scene`.
        image_size (int | tuple[int, int]): Output ``(H, W)``.
        shadows (bool): Whether objects cast shadows. Defaults to True.

    Returns:
        dict[str, np.ndarray]: ``rgb`` uint8 ``(H, W, 3)``, ``depth``
        float32 ``(H, W)`` (z-buffer, metres), ``semseg`` uint8 ``(H, W)``
        and ``normal`` float32 ``(H, W, 3)`` (camera frame, unit).
    """
    height, width = to_image_size(image_size)
    origin = scene.camera.position
    rays = camera_rays(scene.camera, (height, width))

    # primary visibility: nearest surface per ray (-1 = the room shell)
    t_best, face = scene.room.intersect(origin, rays)
    owner = np.full(len(rays), -1, np.int64)
    for i, obj in enumerate(scene.objects):
        t = obj.intersect(origin, rays)
        closer = t < t_best
        t_best = np.where(closer, t, t_best)
        owner[closer] = i
    points = origin + t_best[:, None] * rays

    normal = np.empty_like(rays)
    albedo = np.empty_like(rays)
    label = np.empty(len(rays), np.uint8)
    sel = owner == -1
    room = scene.room
    n, uv = room.surface(points[sel], face[sel])
    normal[sel] = n
    label[sel] = np.select([face[sel] == 0, face[sel] == 1], [FLOOR, CEILING],
                           WALL)
    room_albedo = np.empty((int(sel.sum()), 3), np.float32)
    materials = [room.floor, room.ceiling, *room.walls]
    for face_id, material in enumerate(materials):
        on_face = face[sel] == face_id
        if on_face.any():
            room_albedo[on_face] = material.albedo(uv[on_face])
    albedo[sel] = room_albedo
    for i, obj in enumerate(scene.objects):
        sel = owner == i
        if sel.any():
            n, uv = obj.surface(points[sel])
            normal[sel] = n
            albedo[sel] = obj.material.albedo(uv)
            label[sel] = obj.label

    # Lambertian shading: sky-tinted ambient + sun, objects cast shadows
    # (the room shell does not, as if the light came through a skylight)
    light = scene.light_dir
    lambert = np.clip(normal @ light, 0, None)
    if shadows:
        lit = np.flatnonzero(lambert > 0)
        starts = points[lit] + 2e-3 * normal[lit]
        blocked = np.zeros(len(lit), bool)
        for obj in scene.objects:
            if obj.casts_shadow:
                blocked |= np.isfinite(obj.intersect(starts, light))
        lambert[lit[blocked]] = 0
    shade = (
        scene.ambient * (0.75 + 0.25 * normal[:, 1]) + scene.sun * lambert)
    color = albedo * shade[:, None]
    haze = 1 - np.exp(-t_best / scene.haze_distance)
    color = color * (1 - haze[:, None]) + scene.haze_color * haze[:, None]
    rgb = np.clip(color, 0, 1)**(1 / 2.2) * 255 + 0.5

    return dict(
        rgb=rgb.astype(np.uint8).reshape(height, width, 3),
        depth=t_best.astype(np.float32).reshape(height, width),
        semseg=label.reshape(height, width),
        normal=(normal @ scene.camera.rotation).astype(np.float32).reshape(
            height, width, 3))


def render_scene(index: int,
                 seed: int = 0,
                 image_size: Union[int, Sequence[int]] = (224, 224),
                 shadows: bool = True) -> Dict[str, np.ndarray]:
    """Render scene ``index`` of the set ``seed``.

    Args:
        index (int): Scene index (>= 0).
        seed (int): Seed of the scene set (>= 0). Defaults to 0.
        image_size (int | tuple[int, int]): Output ``(H, W)``. Defaults to
            ``(224, 224)``.
        shadows (bool): Whether objects cast shadows. Defaults to True.

    Returns:
        dict[str, np.ndarray]: See :func:`render`.
    """
    return render(sample_scene(index, seed), image_size, shadows)
