# Copyright (c) mmmultimae contributors. All rights reserved.
"""Scene description of the synthetic scenes: materials, primitives, room,
camera, and their ray intersections."""
import math
from dataclasses import dataclass
from typing import List, Sequence, Tuple, Union

import numpy as np

PATTERNS = ('plain', 'checker', 'stripes', 'noise')


NOISE_LATTICE = 16  # side of the value-noise lattice


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
                             f'expected one of {PATTERNS}')
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
def rotation_y(yaw: float) -> np.ndarray:
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
        self.rot = rotation_y(self.yaw)

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


Primitive = Union[Box, Sphere, Cylinder]


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
