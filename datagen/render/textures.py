"""Procedural background textures of Fonts-v2: deterministic maps multiplied into the background colour.

The GZS-Net authors multiplied texture PNGs into the background; none were released, so each texture
here is computed from (kind, seed) with numpy alone and nothing is downloaded. Every map is a square
float64 array, affine-scaled so that its minimum is TEXTURE_LOW and its maximum 1: the background
keeps at least 55% of its colour, so a texture darkens it in a pattern but never hides it. The
lattice values come from np.random.default_rng([seed, k]) (k: the kind's position in TEXTURES), so
every kind has its own noise and a seed fixes all of them.

- cloud: fractal value noise. Octave o is a lattice of (4 * 2**o + 1)^2 uniform values, interpolated
  to the canvas bilinearly with smoothstep weights; octaves 0..4 are summed with weights 2**-o
  (soft blobs with finer wisps on top).
- wood: rings around a point outside the canvas (above the top-left corner): r is the distance to it
  in canvas sides plus 0.08 x cloud noise (the grain wobbles the rings), and the map is the ring
  profile 0.5 - 0.5 cos(2 pi * 9 r), nine rings per canvas side.
- marble: veins: 0.5 + 0.5 sin(2 pi (3 x + 1.5 y) + 7 * turbulence), x and y in canvas sides and the
  turbulence cloud noise, so straight diagonal bands are bent into veins.

The maps depend only on numpy's PCG64 stream and elementwise float maths; see datagen.render.fonts_v2
for how a map meets the colours.
"""

import numpy as np

TEXTURES = ("cloud", "wood", "marble")
TEXTURE_LOW = 0.55  # the darkest a texture makes the background: 55% of its colour
_OCTAVES, _BASE_CELLS = 5, 4


def texture_map(kind: str, seed: int, side: int) -> np.ndarray:
    """The (side, side) float64 map of texture `kind` (one of TEXTURES) in [TEXTURE_LOW, 1]."""
    if kind not in TEXTURES:
        raise ValueError(f"unknown texture {kind!r}: choose from {', '.join(TEXTURES)}")
    rng = np.random.default_rng([seed, TEXTURES.index(kind)])
    noise = _fractal_noise(rng, side)
    y, x = (np.mgrid[0:side, 0:side] + 0.5) / side  # pixel centres in canvas sides
    if kind == "cloud":
        raw = noise
    elif kind == "wood":
        rings = np.hypot(x + 0.4, y + 0.3) + 0.08 * noise
        raw = 0.5 - 0.5 * np.cos(2 * np.pi * 9 * rings)
    else:
        raw = 0.5 + 0.5 * np.sin(2 * np.pi * (3 * x + 1.5 * y) + 7 * noise)
    low, high = raw.min(), raw.max()
    return TEXTURE_LOW + (1 - TEXTURE_LOW) * (raw - low) / (high - low)


def _fractal_noise(rng: np.random.Generator, side: int) -> np.ndarray:
    """Octaves of value noise summed with halving weights, scaled to [0, 1]."""
    total = sum(0.5**octave * _value_noise(rng, side, _BASE_CELLS * 2**octave) for octave in range(_OCTAVES))
    return (total - total.min()) / (total.max() - total.min())


def _value_noise(rng: np.random.Generator, side: int, cells: int) -> np.ndarray:
    """A (cells + 1)^2 lattice of uniform values, smoothstep-interpolated to (side, side) pixels."""
    lattice = rng.random((cells + 1, cells + 1))
    position = np.arange(side) * cells / side
    cell = position.astype(np.int64)
    t = position - cell
    weight = t * t * (3 - 2 * t)  # smoothstep: no creases at the lattice lines
    rows = lattice[cell] * (1 - weight)[:, None] + lattice[cell + 1] * weight[:, None]
    return rows[:, cell] * (1 - weight) + rows[:, cell + 1] * weight
