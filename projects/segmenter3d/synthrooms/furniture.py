# Copyright (c) 3D Segmenter authors. All rights reserved.
"""Furniture built from primitive parts, in metres, labelled with the PanoRooms3D taxonomy.

A part is ``(kind, params, class_id, rgb)`` with kind ``'box'`` (min xyz, max xyz),
``'cyl'`` (centre x, y, z0, z1, radius; vertical) or ``'sphere'`` (centre xyz, radius).
Builders take a footprint rectangle on the floor (x0, y0, x1, y1) and a random generator.
"""
from typing import Callable, Dict, List, Tuple

import numpy as np

Part = Tuple[str, tuple, int, tuple]

# Class ids of data/panorooms3d_classes.csv (PanoRooms3D 30-class taxonomy).
CLS = dict(void=0, ceilings=1, cabinets=2, tables=3, doors=5, lamps=6, sofas=7, chairs=8,
           stools=9, appliances=10, others=12, beds=13, plants=15, baseboards=16, walls=17,
           floors=20, arts=21, columns=26, wardrobes=27, mirrors=28)

# Shared materials: every class draws from several of them, so colour helps without giving
# the class away.
MATERIALS = {
    'oak': (150, 111, 72), 'walnut': (92, 64, 44), 'white': (225, 222, 215),
    'grey': (128, 128, 132), 'black': (40, 40, 44), 'fabric_blue': (70, 92, 140),
    'fabric_red': (150, 60, 58), 'fabric_beige': (200, 185, 160), 'green': (60, 120, 60),
    'metal': (170, 172, 178), 'terracotta': (180, 95, 60),
}
CLASS_MATERIALS = {
    'beds': ['white', 'fabric_beige', 'fabric_blue', 'grey', 'oak'],
    'tables': ['oak', 'walnut', 'white', 'black', 'grey'],
    'chairs': ['oak', 'walnut', 'black', 'fabric_red', 'white'],
    'sofas': ['fabric_blue', 'fabric_red', 'fabric_beige', 'grey'],
    'cabinets': ['oak', 'white', 'walnut', 'grey'],
    'wardrobes': ['white', 'oak', 'walnut', 'grey'],
    'stools': ['oak', 'black', 'metal', 'fabric_red'],
    'lamps': ['white', 'black', 'metal', 'fabric_beige'],
    'plants': ['green', 'green', 'terracotta'],
    'arts': ['fabric_red', 'fabric_blue', 'oak', 'black', 'white'],
    'mirrors': ['metal', 'white', 'grey'],
    'appliances': ['metal', 'white', 'black', 'grey'],
    'columns': ['white', 'grey'],
    'doors': ['oak', 'walnut', 'white'],
    'others': ['grey', 'oak', 'fabric_blue'],
    # the room shell: wooden or tiled floors, light walls and ceilings
    'floors': ['oak', 'walnut', 'white', 'black', 'grey'],
    'walls': ['white', 'grey'],
    'ceilings': ['white', 'grey'],
}


def material(name: str, rng: np.random.Generator) -> tuple:
    base = np.array(MATERIALS[rng.choice(CLASS_MATERIALS[name])], dtype=float)
    return tuple(np.clip(base + rng.normal(0, 12, 3), 0, 255).astype(int).tolist())


def _legs(x0, y0, x1, y1, z1, r, cls, rgb) -> List[Part]:
    inset = r * 1.5
    return [('cyl', (x, y, 0.0, z1, r), cls, rgb)
            for x in (x0 + inset, x1 - inset) for y in (y0 + inset, y1 - inset)]


def bed(fp, rng) -> List[Part]:
    x0, y0, x1, y1 = fp
    c, frame = CLS['beds'], material('beds', rng)
    h = rng.uniform(0.35, 0.5)
    return [('box', (x0, y0, 0.0, x1, y1, h - 0.15), c, frame),
            ('box', (x0 + 0.03, y0 + 0.03, h - 0.15, x1 - 0.03, y1 - 0.03, h), c,
             material('beds', rng)),
            ('box', (x0, y0, 0.0, x0 + 0.08, y1, h + rng.uniform(0.4, 0.7)), c, frame)]


def table(fp, rng) -> List[Part]:
    x0, y0, x1, y1 = fp
    c, rgb = CLS['tables'], material('tables', rng)
    h = rng.uniform(0.45, 0.78)
    return [('box', (x0, y0, h - 0.05, x1, y1, h), c, rgb)] + _legs(x0, y0, x1, y1, h, 0.03, c, rgb)


def chair(fp, rng) -> List[Part]:
    x0, y0, x1, y1 = fp
    c, rgb = CLS['chairs'], material('chairs', rng)
    h = rng.uniform(0.42, 0.5)
    back = rng.integers(4)  # which side carries the backrest
    bx = [(x0, y0, x0 + 0.05, y1), (x1 - 0.05, y0, x1, y1), (x0, y0, x1, y0 + 0.05),
          (x0, y1 - 0.05, x1, y1)][back]
    return ([('box', (x0, y0, h - 0.05, x1, y1, h), c, rgb),
             ('box', (bx[0], bx[1], h, bx[2], bx[3], h + rng.uniform(0.35, 0.5)), c, rgb)] +
            _legs(x0, y0, x1, y1, h - 0.05, 0.02, c, rgb))


def sofa(fp, rng) -> List[Part]:
    x0, y0, x1, y1 = fp
    c, rgb = CLS['sofas'], material('sofas', rng)
    along_x = (x1 - x0) >= (y1 - y0)
    parts = [('box', (x0, y0, 0.0, x1, y1, 0.42), c, rgb)]
    if along_x:
        parts += [('box', (x0, y1 - 0.2, 0.42, x1, y1, 0.85), c, rgb),
                  ('box', (x0, y0, 0.42, x0 + 0.15, y1, 0.62), c, rgb),
                  ('box', (x1 - 0.15, y0, 0.42, x1, y1, 0.62), c, rgb)]
    else:
        parts += [('box', (x1 - 0.2, y0, 0.42, x1, y1, 0.85), c, rgb),
                  ('box', (x0, y0, 0.42, x1, y0 + 0.15, 0.62), c, rgb),
                  ('box', (x0, y1 - 0.15, 0.42, x1, y1, 0.62), c, rgb)]
    return parts


def _standing_box(name: str, low: float, high: float):
    """A piece that is one box on the floor over its footprint, of a random height."""

    def make(fp, rng) -> List[Part]:
        x0, y0, x1, y1 = fp
        return [('box', (x0, y0, 0.0, x1, y1, rng.uniform(low, high)), CLS[name],
                 material(name, rng))]

    make.__name__ = name
    return make


cabinet = _standing_box('cabinets', 0.5, 1.0)
wardrobe = _standing_box('wardrobes', 1.8, 2.2)
appliance = _standing_box('appliances', 0.85, 1.8)


def stool(fp, rng) -> List[Part]:
    x0, y0, x1, y1 = fp
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, min(x1 - x0, y1 - y0) / 2
    c, rgb = CLS['stools'], material('stools', rng)
    h = rng.uniform(0.4, 0.65)
    return [('cyl', (cx, cy, h - 0.05, h, r), c, rgb), ('cyl', (cx, cy, 0.0, h, 0.03), c, rgb)]


def floor_lamp(fp, rng) -> List[Part]:
    x0, y0, x1, y1 = fp
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    c, rgb = CLS['lamps'], material('lamps', rng)
    h = rng.uniform(1.3, 1.7)
    return [('cyl', (cx, cy, 0.0, 0.04, 0.15), c, rgb), ('cyl', (cx, cy, 0.0, h, 0.02), c, rgb),
            ('cyl', (cx, cy, h, h + 0.25, 0.18), c, material('lamps', rng))]


def plant(fp, rng) -> List[Part]:
    x0, y0, x1, y1 = fp
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, min(x1 - x0, y1 - y0) / 2
    pot = rng.uniform(0.25, 0.45)
    return [('cyl', (cx, cy, 0.0, pot, r * 0.6), CLS['plants'], material('plants', rng)),
            ('sphere', (cx, cy, pot + r, r), CLS['plants'], material('plants', rng))]


FLOOR_ITEMS: Dict[str, Tuple[Callable, Tuple[float, float], Tuple[float, float]]] = {
    # name: (builder, size range along the longer side, size range along the shorter side)
    'bed': (bed, (1.9, 2.1), (0.9, 1.8)),
    'table': (table, (0.8, 1.6), (0.6, 0.9)),
    'chair': (chair, (0.42, 0.5), (0.42, 0.5)),
    'sofa': (sofa, (1.6, 2.4), (0.8, 0.95)),
    'cabinet': (cabinet, (0.6, 1.4), (0.35, 0.55)),
    'wardrobe': (wardrobe, (1.0, 2.0), (0.55, 0.65)),
    'appliance': (appliance, (0.6, 0.8), (0.6, 0.7)),
    'stool': (stool, (0.3, 0.45), (0.3, 0.45)),
    'floor_lamp': (floor_lamp, (0.35, 0.4), (0.35, 0.4)),
    'plant': (plant, (0.4, 0.7), (0.4, 0.7)),
}
ROOM_TYPES = {
    'bedroom': ['bed', 'wardrobe', 'cabinet', 'chair', 'table', 'floor_lamp', 'plant', 'stool'],
    'living': ['sofa', 'table', 'chair', 'chair', 'cabinet', 'plant', 'floor_lamp', 'stool',
               'appliance'],
}
