# Copyright (c) mmmultimae contributors. All rights reserved.
"""Random scene descriptions, deterministic per ``(seed, index)``."""
import colorsys
import math
from typing import List, Optional, Tuple

import numpy as np

from .geometry import (NOISE_LATTICE, PATTERNS, Box, Camera, Cylinder,
                       Material, Primitive, Room, Scene, Sphere, rotation_y)
from .metainfo import (BOX, CYLINDER, PAINTING, PILLAR, RUG, SCENE_TYPES,
                       SPHERE, TABLE)

# Relative frequencies of (box, sphere, cylinder, table) and probabilities
# of (pillar, rug, painting) per scene type. Each type is dominated by one
# kind of object so that the type is recognisable from the image (a linear
# classifier on the ground-truth class areas reaches ~0.9 on held-out
# scenes; with milder mixes it stayed near 0.6 and the demo's scene-type
# transfer and k-NN monitor could not tell a good encoder from chance).
_OBJECT_MIX = {
    'storage': ((0.85, 0.05, 0.05, 0.05), (0.7, 0.05, 0.05)),
    'lounge': ((0.05, 0.1, 0.05, 0.8), (0.1, 0.95, 0.3)),
    'gallery': ((0.05, 0.15, 0.75, 0.05), (0.3, 0.1, 1.0)),
    'playroom': ((0.1, 0.8, 0.05, 0.05), (0.05, 0.6, 0.1)),
}


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
    pattern = pattern or PATTERNS[rng.integers(len(PATTERNS))]
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
        lattice=rng.uniform(0, 1, (NOISE_LATTICE,
                                   NOISE_LATTICE)).astype(np.float32))


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
    rot = rotation_y(yaw)
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
