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

The module also holds :class:`SyntheticScenes`, a dataset rendering on the
fly, and :func:`write_synthetic_dataset`, which writes scenes in the
pseudo-labelled ImageNet layout ``root/<modality>/<class>/<file>`` read by
:class:`~mmmultimae.datasets.MultiModalImageFolder`. The file encodings:

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
import colorsys
import json
import math
import multiprocessing
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.utils import ProgressBar
from PIL import Image

from mmmultimae.registry import DATASETS

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

# Relative frequencies of (box, sphere, cylinder, table) and probabilities
# of (pillar, rug, painting) per scene type.
_OBJECT_MIX = {
    'storage': ((0.6, 0.1, 0.2, 0.1), (0.6, 0.3, 0.3)),
    'lounge': ((0.2, 0.15, 0.25, 0.4), (0.3, 0.85, 0.6)),
    'gallery': ((0.25, 0.35, 0.3, 0.1), (0.5, 0.4, 0.95)),
    'playroom': ((0.25, 0.4, 0.25, 0.1), (0.2, 0.85, 0.5)),
}
_PATTERNS = ('plain', 'checker', 'stripes', 'noise')
_LATTICE = 16  # side of the value-noise lattice
_EPS = 1e-4  # minimum ray parameter of a valid hit (metres)


# --------------------------------------------------------------------------
# Materials
# --------------------------------------------------------------------------
def value_noise(lattice: np.ndarray, x: np.ndarray,
                y: np.ndarray) -> np.ndarray:
    """Smooth periodic value noise in ``[0, 1]``.

    Args:
        lattice (np.ndarray): ``(L, L)`` random values in ``[0, 1]``.
        x (np.ndarray): ``(M,)`` coordinates in lattice cells.
        y (np.ndarray): ``(M,)`` coordinates in lattice cells.

    Returns:
        np.ndarray: ``(M,)`` float32, bilinear interpolation of the lattice
        with smoothstep weights (periodic with period ``L``).
    """
    size = lattice.shape[0]
    xf, yf = np.floor(x), np.floor(y)
    fx, fy = x - xf, y - yf
    fx = fx * fx * (3 - 2 * fx)
    fy = fy * fy * (3 - 2 * fy)
    x0 = xf.astype(np.int64) % size
    y0 = yf.astype(np.int64) % size
    x1, y1 = (x0 + 1) % size, (y0 + 1) % size
    top = lattice[y0, x0] * (1 - fx) + lattice[y0, x1] * fx
    bottom = lattice[y1, x0] * (1 - fx) + lattice[y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


@dataclass
class Material:
    """A procedural albedo texture in surface coordinates (metres).

    Args:
        pattern (str): ``'plain'``, ``'checker'``, ``'stripes'`` or
            ``'noise'``.
        color_a (np.ndarray): ``(3,)`` linear RGB albedo.
        color_b (np.ndarray): ``(3,)`` second albedo of the pattern.
        scale (float): Pattern period in metres.
        angle (float): Stripe orientation in radians.
        lattice (np.ndarray): ``(L, L)`` value-noise lattice; also gives
            every pattern a fine grain.
    """
    pattern: str
    color_a: np.ndarray
    color_b: np.ndarray
    scale: float
    angle: float
    lattice: np.ndarray

    def albedo(self, uv: np.ndarray) -> np.ndarray:
        """Albedo at surface coordinates.

        Args:
            uv (np.ndarray): ``(M, 2)`` surface coordinates in metres.

        Returns:
            np.ndarray: ``(M, 3)`` float32 linear albedo.
        """
        u, v = uv[:, 0] / self.scale, uv[:, 1] / self.scale
        if self.pattern == 'checker':
            mix = ((np.floor(u) + np.floor(v)) % 2).astype(np.float32)
        elif self.pattern == 'stripes':
            c, s = math.cos(self.angle), math.sin(self.angle)
            mix = (np.floor(u * c + v * s) % 2).astype(np.float32)
        elif self.pattern == 'noise':
            mix = value_noise(self.lattice, 2 * u, 2 * v)
        elif self.pattern == 'plain':
            mix = 0.25 * value_noise(self.lattice, u, v)
        else:
            raise ValueError(f'unknown texture pattern {self.pattern!r}; '
                             f'expected one of {_PATTERNS}')
        grain = 0.88 + 0.24 * value_noise(self.lattice.T, 9 * u, 9 * v)
        color = (
            self.color_a[None] * (1 - mix[:, None]) +
            self.color_b[None] * mix[:, None])
        return (color * grain[:, None]).astype(np.float32)


# --------------------------------------------------------------------------
# Primitives: ``intersect`` broadcasts origins ``o`` and directions ``d``
# (``(3,)`` or ``(M, 3)``, directions need not be unit) and returns the ray
# parameter of the first hit in front of the origin (``inf`` for a miss);
# ``surface`` returns world normals and texture coordinates at hit points.
# --------------------------------------------------------------------------
def _rot_y(yaw: float) -> np.ndarray:
    """Rotation about the world y axis (local -> world)."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=np.float32)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b`` with ``|b|`` bounded away from zero (sign kept)."""
    b = np.where(np.abs(b) < 1e-12, np.float32(1e-12), b)
    return a / b


@dataclass
class Box:
    """An oriented box (rotated by ``yaw`` about the vertical axis).

    Args:
        center (np.ndarray): ``(3,)`` world centre.
        half (np.ndarray): ``(3,)`` half extents along the local axes.
        yaw (float): Rotation about the world y axis (radians).
        label (int): Class id.
        material (Material): Texture.
        casts_shadow (bool): Whether it occludes the light.
    """
    center: np.ndarray
    half: np.ndarray
    yaw: float
    label: int
    material: Material
    casts_shadow: bool = True

    def __post_init__(self) -> None:
        self.rot = _rot_y(self.yaw)

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        local_o = (o - self.center) @ self.rot
        local_d = d @ self.rot
        t1 = _safe_div(-self.half - local_o, local_d)
        t2 = _safe_div(self.half - local_o, local_d)
        near = np.minimum(t1, t2).max(axis=-1)
        far = np.maximum(t1, t2).min(axis=-1)
        hit = (near <= far) & (near > _EPS)
        return np.where(hit, near, np.float32(np.inf))

    def surface(self, p: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        local = (p - self.center) @ self.rot
        axis = np.abs(local / self.half).argmax(axis=-1)
        normal = np.zeros_like(local)
        rows = np.arange(len(local))
        normal[rows, axis] = np.sign(local[rows, axis])
        shifted = local + self.half
        uv = np.where((axis == 0)[:, None], shifted[:, [2, 1]],
                      np.where((axis == 1)[:, None], shifted[:, [0, 2]],
                               shifted[:, [0, 1]]))
        return normal @ self.rot.T, uv


@dataclass
class Sphere:
    """A sphere.

    Args:
        center (np.ndarray): ``(3,)`` world centre.
        radius (float): Radius in metres.
        label (int): Class id.
        material (Material): Texture.
        casts_shadow (bool): Whether it occludes the light.
    """
    center: np.ndarray
    radius: float
    label: int
    material: Material
    casts_shadow: bool = True

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        oc = o - self.center
        a = np.sum(d * d, axis=-1)
        b = np.sum(oc * d, axis=-1)
        c = np.sum(oc * oc, axis=-1) - self.radius**2
        disc = b * b - a * c
        t = (-b - np.sqrt(np.maximum(disc, 0))) / a
        return np.where((disc >= 0) & (t > _EPS), t, np.float32(np.inf))

    def surface(self, p: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        normal = (p - self.center) / self.radius
        lon = np.arctan2(normal[:, 0], normal[:, 2])
        lat = np.arcsin(np.clip(normal[:, 1], -1, 1))
        uv = np.stack([lon * self.radius, lat * self.radius], axis=-1)
        return normal, uv


@dataclass
class Cylinder:
    """A vertical capped cylinder.

    Args:
        center (np.ndarray): ``(3,)`` world point on the axis (its y is
            ignored).
        radius (float): Radius in metres.
        y0 (float): Bottom height.
        y1 (float): Top height.
        label (int): Class id.
        material (Material): Texture.
        casts_shadow (bool): Whether it occludes the light.
    """
    center: np.ndarray
    radius: float
    y0: float
    y1: float
    label: int
    material: Material
    casts_shadow: bool = True

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        ox, oy = o[..., 0] - self.center[0], o[..., 1]
        oz = o[..., 2] - self.center[2]
        dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
        r2 = self.radius**2
        a = dx * dx + dz * dz
        b = ox * dx + oz * dz
        c = ox * ox + oz * oz - r2
        disc = b * b - a * c
        t_side = _safe_div(-b - np.sqrt(np.maximum(disc, 0)), a)
        y = oy + t_side * dy
        ok = (disc >= 0) & (a > 1e-12) & (t_side > _EPS)
        best = np.where(ok & (y >= self.y0) & (y <= self.y1), t_side,
                        np.float32(np.inf))
        for height in (self.y0, self.y1):
            t_cap = _safe_div(height - oy, dy)
            px, pz = ox + t_cap * dx, oz + t_cap * dz
            cap = (t_cap > _EPS) & (px * px + pz * pz <= r2)
            best = np.where(cap & (t_cap < best), t_cap, best)
        return best

    def surface(self, p: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        rel_x = p[:, 0] - self.center[0]
        rel_z = p[:, 2] - self.center[2]
        rho = np.sqrt(rel_x**2 + rel_z**2)
        # which part is the point on: 0 side, 1 bottom cap, 2 top cap
        dist = [rho - self.radius, p[:, 1] - self.y0, p[:, 1] - self.y1]
        part = np.abs(np.stack(dist, axis=-1)).argmin(axis=-1)
        side = np.stack([rel_x, np.zeros_like(rel_x), rel_z], axis=-1)
        side /= np.maximum(rho, 1e-12)[:, None]
        cap = np.zeros_like(side)
        cap[:, 1] = np.where(part == 1, -1, 1)
        normal = np.where((part == 0)[:, None], side, cap)
        lon = np.arctan2(rel_x, rel_z) * self.radius
        uv = np.where((part == 0)[:, None], np.stack([lon, p[:, 1]], axis=-1),
                      np.stack([rel_x, rel_z], axis=-1))
        return normal, uv


@dataclass
class Room:
    """The inside of an axis-aligned room ``[-w/2, w/2] x [0, h] x [0, d]``.

    Faces (in this order): floor, ceiling, left, right, back and front
    walls; normals point into the room.

    Args:
        width (float): Extent along x (metres).
        height (float): Extent along y.
        depth (float): Extent along z.
        floor (Material): Floor texture.
        ceiling (Material): Ceiling texture.
        walls (Sequence[Material]): Textures of the left, right, back and
            front walls.
    """
    width: float
    height: float
    depth: float
    floor: Material
    ceiling: Material
    walls: Sequence[Material]

    @property
    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        lo = np.array([-self.width / 2, 0, 0], dtype=np.float32)
        hi = np.array([self.width / 2, self.height, self.depth],
                      dtype=np.float32)
        return lo, hi

    def intersect(self, o: np.ndarray,
                  d: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Exit point of rays starting inside the room.

        Returns:
            tuple[np.ndarray, np.ndarray]: ``(M,)`` ray parameters and
            ``(M,)`` face ids (0 floor, 1 ceiling, 2..5 walls).
        """
        lo, hi = self.bounds
        t = _safe_div(np.where(d > 0, hi, lo) - o, d)
        t = np.where(t > 0, t, np.float32(np.inf))
        axis = t.argmin(axis=-1)
        positive = np.take_along_axis(d, axis[:, None], -1)[:, 0] > 0
        # face ids: y -> floor (0) / ceiling (1); x -> left (2) / right
        # (3); z -> front (5) / back (4)
        face = np.select(
            [axis == 1, axis == 0],
            [positive.astype(np.int64), 2 + positive.astype(np.int64)],
            default=np.where(positive, 4, 5))
        return t.min(axis=-1), face

    def surface(self, p: np.ndarray,
                face: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        normals = np.array([[0, 1, 0], [0, -1, 0], [1, 0, 0], [-1, 0, 0],
                            [0, 0, -1], [0, 0, 1]],
                           dtype=np.float32)
        normal = normals[face]
        uv = np.where((face <= 1)[:, None], p[:, [0, 2]],
                      np.where((face <= 3)[:, None], p[:, [2, 1]], p[:,
                                                                     [0, 1]]))
        return normal, uv


Primitive = Union[Box, Sphere, Cylinder]


@dataclass
class Camera:
    """A pinhole camera with square pixels.

    Args:
        position (np.ndarray): ``(3,)`` world position.
        rotation (np.ndarray): ``(3, 3)`` world-from-camera rotation whose
            columns are the camera's right, down and forward axes.
        hfov (float): Horizontal field of view (radians).
    """
    position: np.ndarray
    rotation: np.ndarray
    hfov: float

    def intrinsics(self, image_size: Tuple[int, int]) -> np.ndarray:
        """``(3, 3)`` intrinsics for an image of ``(H, W)`` pixels.

        Pixel ``(u, v)`` covers ``[u, u + 1) x [v, v + 1)``; rays go through
        pixel centres.
        """
        height, width = image_size
        focal = width / 2 / math.tan(self.hfov / 2)
        return np.array(
            [[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]],
            dtype=np.float32)


@dataclass
class Scene:
    """A sampled scene, renderable at any resolution.

    Args:
        scene_type (int): Index into :data:`SCENE_TYPES`.
        room (Room): The room shell.
        objects (list): Boxes, spheres and cylinders in the room.
        camera (Camera): The camera.
        light_dir (np.ndarray): ``(3,)`` unit vector towards the light.
        sun (float): Directional light intensity.
        ambient (float): Ambient light intensity.
        haze_distance (float): Distance (metres) over which the aerial
            perspective reaches ``1 - 1/e``.
        haze_color (np.ndarray): ``(3,)`` linear haze colour.
    """
    scene_type: int
    room: Room
    objects: List[Primitive]
    camera: Camera
    light_dir: np.ndarray
    sun: float
    ambient: float
    haze_distance: float
    haze_color: np.ndarray


# --------------------------------------------------------------------------
# Scene sampling
# --------------------------------------------------------------------------
def _scene_rng(index: int, seed: int) -> np.random.Generator:
    if index < 0 or seed < 0:
        raise ValueError(
            f'index and seed must be >= 0, got index={index}, seed={seed}')
    return np.random.default_rng([seed, index])


def scene_type_of(index: int, seed: int = 0) -> int:
    """Scene type (index into :data:`SCENE_TYPES`) of scene ``index``.

    Cheap: it draws only the first number of the scene's generator, which
    is how :func:`sample_scene` picks the type.
    """
    return int(_scene_rng(index, seed).integers(len(SCENE_TYPES)))


def _color(
    rng: np.random.Generator,
    hue: Optional[float] = None,
    sat: Tuple[float, float] = (0.2, 0.8),
    val: Tuple[float, float] = (0.35, 0.9)
) -> np.ndarray:
    """Random linear RGB albedo from HSV ranges (given in gamma space)."""
    h = rng.uniform(0, 1) if hue is None else hue
    rgb = colorsys.hsv_to_rgb(h % 1.0, rng.uniform(*sat), rng.uniform(*val))
    return np.asarray(rgb, dtype=np.float32)**2.2


def _material(rng: np.random.Generator,
              pattern: Optional[str] = None,
              scale: Tuple[float, float] = (0.1, 0.5),
              **color_kwargs) -> Material:
    pattern = pattern or _PATTERNS[rng.integers(len(_PATTERNS))]
    color_a = _color(rng, **color_kwargs)
    # the second colour contrasts in value so patterns stay visible
    color_b = np.clip(color_a * rng.uniform(0.25, 0.6), 0, 1)
    if rng.uniform() < 0.5:
        color_b = _color(rng, **color_kwargs)
    return Material(
        pattern=pattern,
        color_a=color_a,
        color_b=color_b.astype(np.float32),
        scale=float(rng.uniform(*scale)),
        angle=float(rng.uniform(0, math.pi)),
        lattice=rng.uniform(0, 1, (_LATTICE, _LATTICE)).astype(np.float32))


def _camera(rng: np.random.Generator, room: Room) -> Camera:
    x = rng.uniform(-0.3, 0.3) * room.width
    y = rng.uniform(1.1, min(1.9, room.height - 0.4))
    z = rng.uniform(0.2, 1.0)
    position = np.array([x, y, z], np.float32)
    yaw = rng.uniform(-0.5, 0.5)
    pitch = rng.uniform(-0.55, -0.12)
    roll = rng.uniform(-0.07, 0.07)
    forward = np.array([
        math.sin(yaw) * math.cos(pitch),
        math.sin(pitch),
        math.cos(yaw) * math.cos(pitch)
    ])
    right = np.cross([0.0, 1.0, 0.0], forward)
    right /= np.linalg.norm(right)
    up = np.cross(forward, right)
    right, up = (math.cos(roll) * right + math.sin(roll) * up,
                 -math.sin(roll) * right + math.cos(roll) * up)
    rotation = np.stack([right, -up, forward], axis=1).astype(np.float32)
    return Camera(position, rotation, float(rng.uniform(1.05, 1.45)))


class _FloorPlan:
    """Footprint discs of the placed objects, for rejection sampling."""

    def __init__(self, room: Room, camera: Camera) -> None:
        self.room = room
        self.camera = camera
        self.discs: List[Tuple[float, float, float]] = []

    def free(self,
             x: float,
             z: float,
             radius: float,
             margin: float = 0.05) -> bool:
        room = self.room
        if (abs(x) + radius > room.width / 2 - margin or z - radius < margin
                or z + radius > room.depth - margin):
            return False
        cx, cz = self.camera.position[0], self.camera.position[2]
        if math.hypot(x - cx, z - cz) < radius + 0.8:
            return False
        return all(
            math.hypot(x - ox, z - oz) > radius + orad + margin
            for ox, oz, orad in self.discs)

    def place(self,
              rng: np.random.Generator,
              radius: float,
              in_view: bool = True) -> Optional[Tuple[float, float]]:
        """Sample a free spot, inside the camera's view when ``in_view``."""
        cam = self.camera
        forward = cam.rotation[:, 2]
        heading = math.atan2(forward[0], forward[2])
        for _ in range(40):
            if in_view:
                angle = heading + rng.uniform(-0.45, 0.45) * cam.hfov
                dist = rng.uniform(1.2, 1.2 + self.room.depth)
                x = cam.position[0] + dist * math.sin(angle)
                z = cam.position[2] + dist * math.cos(angle)
            else:
                x = rng.uniform(-0.5, 0.5) * self.room.width
                z = rng.uniform(0, self.room.depth)
            if self.free(x, z, radius):
                self.discs.append((x, z, radius))
                return x, z
        return None


def _vec(*values: float) -> np.ndarray:
    """A float32 vector."""
    return np.array(values, np.float32)


def _room(rng: np.random.Generator) -> Room:
    wall_hue = rng.uniform(0, 1)
    floor_pattern = ('checker', 'stripes', 'noise')[rng.integers(3)]
    walls = []
    for _ in range(4):
        walls.append(
            _material(
                rng,
                pattern=('plain', 'stripes', 'noise')[rng.integers(3)],
                scale=(0.2, 0.6),
                hue=wall_hue + rng.uniform(-0.08, 0.08),
                sat=(0.05, 0.4),
                val=(0.55, 0.95)))
    return Room(
        width=float(rng.uniform(4.0, 8.0)),
        height=float(rng.uniform(2.5, 3.5)),
        depth=float(rng.uniform(5.0, 10.0)),
        floor=_material(
            rng,
            pattern=floor_pattern,
            scale=(0.25, 0.8),
            hue=rng.uniform(0.02, 0.15),
            sat=(0.2, 0.7),
            val=(0.3, 0.8)),
        ceiling=_material(
            rng, pattern='plain', sat=(0.0, 0.1), val=(0.8, 0.95)),
        walls=walls)


def _table(rng: np.random.Generator, plan: _FloorPlan) -> List[Box]:
    """A table top and four legs (all labelled ``table``)."""
    half_x, half_z = rng.uniform(0.35, 0.8), rng.uniform(0.3, 0.55)
    spot = plan.place(rng, float(np.hypot(half_x, half_z)))
    if spot is None:
        return []
    height = float(rng.uniform(0.6, 0.9))
    yaw = float(rng.uniform(0, math.pi))
    wood = _material(
        rng,
        pattern='stripes',
        scale=(0.02, 0.08),
        hue=rng.uniform(0.04, 0.12),
        sat=(0.4, 0.8),
        val=(0.3, 0.7))
    foot = _vec(spot[0], 0, spot[1])
    parts = [
        Box(foot + _vec(0, height - 0.03, 0), _vec(half_x, 0.03, half_z), yaw,
            TABLE, wood)
    ]
    leg = _vec(0.035, (height - 0.06) / 2, 0.035)
    rot = _rot_y(yaw)
    for sx, sz in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
        corner = rot @ _vec(sx * (half_x - 0.07), 0, sz * (half_z - 0.07))
        parts.append(
            Box(foot + corner + _vec(0, leg[1], 0), leg, yaw, TABLE, wood))
    return parts


def _painting(rng: np.random.Generator, room: Room) -> Box:
    """A thin textured panel on the back or a side wall."""
    half_w = float(rng.uniform(0.25, 0.8))
    half_h = float(rng.uniform(0.2, 0.5))
    y = float(rng.uniform(1.0, room.height - 0.6))
    wall = int(rng.integers(3))  # back, left, right
    if wall == 0:
        x = float(rng.uniform(-1, 1) * (room.width / 2 - half_w - 0.1))
        center = _vec(x, y, room.depth - 0.02)
        half = _vec(half_w, half_h, 0.02)
    else:
        side = -1 if wall == 1 else 1
        z = float(rng.uniform(half_w + 0.5, room.depth - half_w - 0.1))
        center = _vec(side * (room.width / 2 - 0.02), y, z)
        half = _vec(0.02, half_h, half_w)
    texture = _material(
        rng,
        pattern=('checker', 'stripes', 'noise')[rng.integers(3)],
        scale=(0.05, 0.25),
        sat=(0.5, 1.0),
        val=(0.4, 1.0))
    return Box(center, half, 0.0, PAINTING, texture, casts_shadow=False)


def sample_scene(index: int, seed: int = 0) -> Scene:
    """Draw the description of scene ``index`` of the set ``seed``.

    Args:
        index (int): Scene index (>= 0).
        seed (int): Seed of the scene set (>= 0).

    Returns:
        Scene: The scene; it does not depend on any image size.
    """
    rng = _scene_rng(index, seed)
    scene_type = int(rng.integers(len(SCENE_TYPES)))
    mix, (p_pillar, p_rug, p_painting) = _OBJECT_MIX[SCENE_TYPES[scene_type]]
    room = _room(rng)
    camera = _camera(rng, room)
    plan = _FloorPlan(room, camera)
    objects: List[Primitive] = []
    boxes: List[Box] = []

    if rng.uniform() < p_rug:
        spot = plan.place(rng, 0.0)
        if spot is not None:
            plan.discs.pop()  # furniture may stand on a rug
            half = _vec(rng.uniform(0.5, 1.3), 0.01, rng.uniform(0.4, 1.0))
            objects.append(
                Box(_vec(spot[0], 0.01, spot[1]),
                    half,
                    float(rng.uniform(0, math.pi)),
                    RUG,
                    _material(rng, scale=(0.1, 0.3)),
                    casts_shadow=False))

    for _ in range(int(rng.integers(3, 8))):
        kind = int(rng.choice(4, p=np.asarray(mix) / sum(mix)))
        if kind == 0:  # box on the floor
            half = rng.uniform([0.15, 0.12, 0.15],
                               [0.6, 0.55, 0.6]).astype(np.float32)
            spot = plan.place(rng, float(np.hypot(half[0], half[2])))
            if spot is None:
                continue
            box = Box(
                _vec(spot[0], half[1], spot[1]), half,
                float(rng.uniform(0, math.pi)), BOX, _material(rng))
            objects.append(box)
            boxes.append(box)
        elif kind == 1:  # sphere on the floor or on top of a box
            radius = float(rng.uniform(0.15, 0.55))
            if boxes and rng.uniform() < 0.35:
                box = boxes[int(rng.integers(len(boxes)))]
                center = box.center + _vec(0, box.half[1] + radius, 0)
            else:
                spot = plan.place(rng, radius)
                if spot is None:
                    continue
                center = _vec(spot[0], radius, spot[1])
            objects.append(Sphere(center, radius, SPHERE, _material(rng)))
        elif kind == 2:  # cylinder
            radius = float(rng.uniform(0.12, 0.45))
            spot = plan.place(rng, radius)
            if spot is None:
                continue
            top = float(rng.uniform(0.3, 1.4))
            objects.append(
                Cylinder(
                    _vec(spot[0], 0, spot[1]), radius, 0.0, top, CYLINDER,
                    _material(rng)))
        else:
            objects.extend(_table(rng, plan))

    if rng.uniform() < p_pillar:
        radius = float(rng.uniform(0.15, 0.3))
        spot = plan.place(rng, radius, in_view=rng.uniform() < 0.7)
        if spot is not None:
            stone = _material(
                rng, pattern='plain', sat=(0, 0.15), val=(0.6, 0.9))
            objects.append(
                Cylinder(
                    _vec(spot[0], 0, spot[1]), radius, 0.0, room.height,
                    PILLAR, stone))

    if rng.uniform() < p_painting:
        for _ in range(int(rng.integers(1, 4))):
            objects.append(_painting(rng, room))

    elevation = rng.uniform(0.6, 1.25)
    azimuth = rng.uniform(0, 2 * math.pi)
    light_dir = _vec(
        math.cos(elevation) * math.sin(azimuth), math.sin(elevation),
        math.cos(elevation) * math.cos(azimuth))
    haze = rng.uniform(0.6, 0.9)
    return Scene(
        scene_type=scene_type,
        room=room,
        objects=objects,
        camera=camera,
        light_dir=light_dir,
        sun=float(rng.uniform(0.7, 1.0)),
        ambient=float(rng.uniform(0.22, 0.4)),
        haze_distance=float(rng.uniform(30.0, 70.0)),
        haze_color=np.full(3, haze, np.float32)**2.2)


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------
def _to_size(image_size: Union[int, Sequence[int]]) -> Tuple[int, int]:
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
    height, width = _to_size(image_size)
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


# --------------------------------------------------------------------------
# File encodings
# --------------------------------------------------------------------------
def encode_depth(depth: np.ndarray) -> np.ndarray:
    """Metres -> uint16 Omnidata code ``round(depth / 128 * 2**16)``.

    Raises:
        ValueError: If the depth is non-finite, negative or >= 128 m.
    """
    if not np.isfinite(depth).all():
        raise ValueError('depth has non-finite values')
    if depth.min() < 0 or depth.max() >= DEPTH_PNG_MAX_M:
        raise ValueError(
            f'depth range [{depth.min()}, {depth.max()}] m is outside the '
            f'16-bit encoding range [0, {DEPTH_PNG_MAX_M}) m')
    code = np.rint(depth.astype(np.float64) * (2**16 / DEPTH_PNG_MAX_M))
    return np.minimum(code, 2**16 - 1).astype(np.uint16)


def decode_depth(code: np.ndarray) -> np.ndarray:
    """uint16 Omnidata code -> metres (float32)."""
    return code.astype(np.float32) * np.float32(DEPTH_PNG_MAX_M / 2**16)


def encode_normals(normal: np.ndarray) -> np.ndarray:
    """Unit normals ``(..., 3)`` -> uint8 ``round((n + 1) / 2 * 255)``."""
    return np.rint((np.clip(normal, -1, 1) + 1) * 127.5).astype(np.uint8)


def decode_normals(code: np.ndarray) -> np.ndarray:
    """uint8 normal code ``(..., 3)`` -> unit float32 normals.

    Vectors are renormalised (quantisation and interpolation shorten them).
    """
    normal = code.astype(np.float32) / 127.5 - 1
    norm = np.linalg.norm(normal, axis=-1, keepdims=True)
    return normal / np.maximum(norm, 1e-6)


def palette_image(semseg: np.ndarray) -> Image.Image:
    """uint8 class ids ``(H, W)`` -> palette (``'P'``) PIL image.

    The palette always has 256 entries (unused ones black): PIL sizes the
    PNG bit depth from the palette length, and a short or missing palette
    can corrupt larger ids when saving.
    """
    img = Image.fromarray(semseg.astype(np.uint8), mode='P')
    colors = [c for color in PALETTE for c in color]
    img.putpalette(colors + [0] * (768 - len(colors)))
    return img


# --------------------------------------------------------------------------
# Writing the folder dataset
# --------------------------------------------------------------------------
_META_FILE = 'synthetic_scenes.json'


def scene_stem(index: int) -> str:
    """File stem of scene ``index`` (shared by every modality)."""
    return f'scene_{index:07d}'


def scene_paths(out_dir: str,
                index: int,
                seed: int = 0,
                rgb_format: str = 'jpg') -> Dict[str, str]:
    """Paths of the files of scene ``index`` in a written dataset."""
    folder = SCENE_TYPES[scene_type_of(index, seed)]
    stem = scene_stem(index)
    exts = dict(rgb=rgb_format, depth='png', semseg='png', normal='png')
    return {
        mod: osp.join(out_dir, mod, folder, f'{stem}.{exts[mod]}')
        for mod in MODALITIES
    }


def _save_atomic(img: Image.Image, path: str, **kwargs) -> None:
    """Save through a temporary file so a file that exists is complete."""
    tmp = f'{path}.tmp{os.getpid()}'
    fmt = 'JPEG' if path.endswith('.jpg') else 'PNG'
    img.save(tmp, format=fmt, **kwargs)
    os.replace(tmp, path)


def _write_scene(
        task: Tuple[str, int, int, Tuple[int, int], str, int]) -> bool:
    """Render and write one scene; False if it was already complete."""
    out_dir, index, seed, image_size, rgb_format, quality = task
    paths = scene_paths(out_dir, index, seed, rgb_format)
    if all(osp.isfile(p) for p in paths.values()):
        return False
    scene = render_scene(index, seed, image_size)
    for path in paths.values():
        os.makedirs(osp.dirname(path), exist_ok=True)
    rgb_kwargs = dict(quality=quality) if rgb_format == 'jpg' else {}
    _save_atomic(Image.fromarray(scene['rgb']), paths['rgb'], **rgb_kwargs)
    _save_atomic(Image.fromarray(encode_depth(scene['depth'])), paths['depth'])
    _save_atomic(palette_image(scene['semseg']), paths['semseg'])
    _save_atomic(
        Image.fromarray(encode_normals(scene['normal'])), paths['normal'])
    return True


def write_synthetic_dataset(out_dir: str,
                            num_scenes: int,
                            image_size: Union[int, Sequence[int]] = (224, 224),
                            seed: int = 0,
                            workers: int = 1,
                            rgb_format: str = 'jpg',
                            jpeg_quality: int = 95,
                            progress: bool = True) -> Dict[str, int]:
    """Write scenes ``0 .. num_scenes - 1`` in the folder layout.

    The layout is ``out_dir/<modality>/<scene type>/scene_<index>.<ext>``
    (encodings in the module docstring), plus ``synthetic_scenes.json``
    recording the settings. Idempotent: complete scenes are skipped (files
    are written atomically), so an interrupted run can be resumed and a
    larger ``num_scenes`` extends a dataset. Writing into a folder made
    with another seed, image size or rgb format is an error.

    Args:
        out_dir (str): Dataset root.
        num_scenes (int): Number of scenes.
        image_size (int | tuple[int, int]): ``(H, W)`` of the images.
        seed (int): Seed of the scene set.
        workers (int): Worker processes (1 = in this process).
        rgb_format (str): ``'jpg'`` or ``'png'``.
        jpeg_quality (int): JPEG quality of the rgb files.
        progress (bool): Show a progress bar.

    Returns:
        dict[str, int]: ``written`` and ``skipped`` scene counts.
    """
    size = _to_size(image_size)
    if num_scenes < 1:
        raise ValueError(f'num_scenes must be >= 1, got {num_scenes}')
    if rgb_format not in ('jpg', 'png'):
        raise ValueError(f"rgb_format must be 'jpg' or 'png', got "
                         f'{rgb_format!r}')
    if workers < 1:
        raise ValueError(f'workers must be >= 1, got {workers}')
    meta = dict(
        generator='mmmultimae.datasets.synthetic_scenes',
        seed=seed,
        image_size=list(size),
        rgb_format=rgb_format,
        modalities=list(MODALITIES),
        classes=list(SCENE_TYPES),
        semseg_classes=list(CLASSES),
        semseg_palette=[list(c) for c in PALETTE],
        depth_encoding='uint16 PNG, value = round(depth_m / 128 * 2**16), '
        'depth_m = value / 2**16 * 128 (Omnidata)',
        normal_encoding='uint8 RGB PNG, value = round((n + 1) / 2 * 255), '
        'camera frame x right, y down, z forward',
        num_scenes=num_scenes)
    meta_path = osp.join(out_dir, _META_FILE)
    if osp.isfile(meta_path):
        with open(meta_path) as f:
            old = json.load(f)
        for key in ('seed', 'image_size', 'rgb_format'):
            if old.get(key) != meta[key]:
                raise ValueError(
                    f'{out_dir} holds scenes written with {key}='
                    f'{old.get(key)!r}, not {meta[key]!r}; use another '
                    'output folder')
        meta['num_scenes'] = max(num_scenes, int(old['num_scenes']))
    os.makedirs(out_dir, exist_ok=True)
    tasks = [(out_dir, i, seed, size, rgb_format, jpeg_quality)
             for i in range(num_scenes)]
    bar = ProgressBar(num_scenes) if progress else None
    written = 0
    if workers == 1:
        results = map(_write_scene, tasks)
        for done in results:
            written += done
            if bar is not None:
                bar.update()
    else:
        with multiprocessing.get_context().Pool(workers) as pool:
            for done in pool.imap_unordered(_write_scene, tasks, chunksize=4):
                written += done
                if bar is not None:
                    bar.update()
    if bar is not None:
        bar.file.write('\n')
    tmp = f'{meta_path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(meta, f, indent=2)
    os.replace(tmp, meta_path)
    return dict(written=written, skipped=num_scenes - written)


# --------------------------------------------------------------------------
# In-memory dataset
# --------------------------------------------------------------------------
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
            if name == 'LoadMultiModalImages':
                raise ValueError(
                    'SyntheticScenes renders the modalities itself; remove '
                    'LoadMultiModalImages from its pipeline')
        self.num_scenes = int(num_scenes)
        self.seed = int(seed)
        self.image_size = _to_size(image_size)
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
