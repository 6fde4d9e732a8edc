"""The Fonts-v2 dataset as data: its eight attributes, the global index of every image and the shard plan.

Fonts-v2 is the GZS-Net authors' unreleased extension of Fonts (words, position, rotation, texture).
Images are the full product of, in index order (most significant first):
    content (words) x size x font colour x background colour x font x position x rotation x texture
by default 240 x 3 x 10 x 10 x 100 x 3 x 4 x 4 = 345,600,000, the index being the plain mixed-radix
number of the value positions (numpy's ravel_multi_index over `shape`). As in Fonts, font and
background colours come from one list and rows with equal colours are kept and marked `blank`.

Words. The authors' lists were never published; only their sizes are known (52 letters; 110 two-letter
words, 55 lower case and the same upper case; 78 three-letter words, 39 x 2). The lists below were
chosen for this project: everyday English two-letter words and interjections, completed with three
Greek letter names (mu, nu, xi); and three-letter everyday nouns, one or more for most initials.
WORDS orders them: A-Z, a-z, two-letter lower case, the same upper case, three-letter lower, upper.
A spec picks its words from WORDS only: every font is sized over all of WORDS, so a subset's image
is exactly the full grid's image of the same values.

Shards are sub-grids, one run of `*_per_shard` consecutive values per attribute, as in Fonts
(datagen.spec.fonts): every block must keep GZS-Net's partner guarantee, which here needs >= 2 values
of each of the six non-colour attributes and colour blocks that pass colours_have_partners.
"""

import math
import string
from dataclasses import dataclass, fields
from itertools import product

import numpy as np

from datagen.render.textures import TEXTURES
from datagen.spec.fonts import (
    COLOUR_NAMES,
    COLOUR_RGB,
    RESOLUTIONS,
    check_colour_blocks,
    check_colours,
    check_int,
    check_names,
    colours_have_partners,
    rendering_values,
    value_runs,
)
from datagen.spec.serialise import SpecSerialisation
from zsdist.base.errors import ConfigError

# Both alphabetical; the case variants are their .upper().
TWO_LETTER = (
    "ad", "ah", "am", "an", "as", "at", "aw", "ax", "ay", "be", "by", "do", "eh", "go", "ha", "he", "hi", "hm",
    "ho", "id", "if", "in", "is", "it", "lo", "ma", "me", "mi", "mu", "my", "no", "nu", "of", "oh", "oi", "ok",
    "om", "on", "op", "or", "ow", "ox", "pa", "pi", "re", "so", "to", "uh", "um", "up", "us", "we", "xi", "ye", "yo",
)
THREE_LETTER = (
    "ace", "art", "bag", "box", "cup", "day", "dog", "egg", "elf", "fig", "fox", "gem", "gym", "hat", "ice", "ink",
    "jam", "jet", "key", "kit", "lip", "log", "map", "mix", "nut", "owl", "pen", "pig", "rat", "sky", "sun", "top",
    "urn", "van", "wax", "web", "yak", "zip", "zoo",
)
WORDS = (*string.ascii_uppercase, *string.ascii_lowercase, *TWO_LETTER, *(w.upper() for w in TWO_LETTER),
         *THREE_LETTER, *(w.upper() for w in THREE_LETTER))
# The ink centre's row, as a fraction of the canvas height; horizontally the ink is always centred.
POSITION_CENTRES = {"up": 0.3, "mid": 0.5, "down": 0.7}
ROTATIONS = (0, 90, 180, 270)  # degrees counter-clockwise, about the ink's own centre
TEXTURE_NAMES = ("none", *TEXTURES)
# A rotated word spans at most size_pixels in either direction, centred at an up/down row 0.3 x 128 =
# 38.4 px from an edge: 72 leaves 2.4 px, so ink stays off the 1 px border (the renderer checks it).
MAX_SIZE_PIXELS = 72
ATTRIBUTES = ("content", "size", "font_colour", "background_colour", "font", "position", "rotation", "texture")
_PER_SHARD = tuple(f"{name}_per_shard" for name in
                   ("words", "sizes", "font_colours", "background_colours", "fonts", "positions", "rotations",
                    "textures"))


@dataclass(frozen=True, kw_only=True)
class FontsV2Spec(SpecSerialisation):
    """Every parameter of one Fonts-v2 dataset; the same spec and fonts always generate the same bytes."""

    words: tuple[str, ...] = WORDS  # words drawn, from WORDS, in index order
    size_names: tuple[str, ...] = ("small", "medium", "large")  # names of the sizes, one per size_pixels
    # Per size: the larger ink side of a font's largest word (over all WORDS), in pixels on the 128 px
    # canvas; 48:60:72 is the ratio of the authors' word sizes 40/50/60.
    size_pixels: tuple[int, ...] = (48, 60, 72)
    colour_names: tuple[str, ...] = COLOUR_NAMES  # names of the colours (font and background), one per colour_rgb
    colour_rgb: tuple[tuple[int, int, int], ...] = COLOUR_RGB  # R,G,B of each colour
    font_ids: tuple[int, ...] = tuple(range(100))  # manifest font ids, in index order
    positions: tuple[str, ...] = ("up", "mid", "down")  # vertical places of the ink centre (up, mid, down)
    rotations: tuple[int, ...] = ROTATIONS  # degrees counter-clockwise: 0, 90, 180, 270
    textures: tuple[str, ...] = TEXTURE_NAMES  # background textures: none, cloud, wood, marble
    texture_seed: int = 0  # seed of the procedural textures (datagen.render.textures)
    resolution: int = 128  # image side in pixels: 128, or 64 / 32 (box-averaged from 128)
    words_per_shard: int = 2  # words in one shard's block (shards are sub-grids of every attribute)
    sizes_per_shard: int = 3  # sizes in one shard's block
    font_colours_per_shard: int = 5  # font colours in one shard's block
    background_colours_per_shard: int = 5  # background colours in one shard's block
    fonts_per_shard: int = 2  # fonts in one shard's block
    positions_per_shard: int = 3  # positions in one shard's block
    rotations_per_shard: int = 4  # rotations in one shard's block
    textures_per_shard: int = 4  # textures in one shard's block

    def __post_init__(self) -> None:
        # JSON and YAML give lists: normalise to tuples so equal specs compare and fingerprint equal.
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(field.default, tuple) and not isinstance(value, list | tuple):
                raise ConfigError(f"{field.name} must be a list (got {value!r}): pass comma-separated values")
            if isinstance(value, list | tuple):
                object.__setattr__(self, field.name, tuple(tuple(v) if isinstance(v, list) else v for v in value))
        if not all(isinstance(colour, tuple) for colour in self.colour_rgb):
            raise ConfigError(f"colour_rgb must be a list of R,G,B triples (got {self.colour_rgb!r}): "
                              "pass one per colour, e.g. 220,20,60")
        _validate(self)

    @property
    def shape(self) -> tuple[int, ...]:
        """Value counts per attribute, in ATTRIBUTES order."""
        colours = len(self.colour_names)
        return (len(self.words), len(self.size_names), colours, colours, len(self.font_ids), len(self.positions),
                len(self.rotations), len(self.textures))

    @property
    def total_rows(self) -> int:
        """Every combination, blank rows included."""
        return math.prod(self.shape)

    @property
    def per_shard(self) -> tuple[int, ...]:
        """Values per shard block, in ATTRIBUTES order."""
        return tuple(getattr(self, name) for name in _PER_SHARD)


@dataclass(frozen=True)
class Block:
    """One shard: a run of consecutive value positions per attribute (ATTRIBUTES order); rows are their product."""

    ranges: tuple[range, ...]

    @property
    def rows(self) -> int:
        return math.prod(len(values) for values in self.ranges)


def shard_blocks(spec: FontsV2Spec) -> list[Block]:
    """Every shard's block, the word block outermost and the texture block innermost."""
    runs = [value_runs(count, size) for count, size in zip(spec.shape, spec.per_shard)]
    return [Block(ranges) for ranges in product(*runs)]


def partner_guarantee_holds(block: Block) -> bool:
    """Inside the block, every non-blank row has, per attribute, a non-blank row sharing exactly that value.

    As in Fonts: each non-colour attribute needs >= 2 values (a partner differs in all of them), and
    the colours need colours_have_partners.
    """
    words, sizes, fgs, bgs, *others = block.ranges
    return min(len(values) for values in (words, sizes, *others)) >= 2 and colours_have_partners(fgs, bgs)


def global_index(spec: FontsV2Spec, *positions: int | np.ndarray) -> int | np.ndarray:
    """The mixed-radix index of value positions in ATTRIBUTES order (ints or integer arrays alike)."""
    return np.ravel_multi_index(positions, spec.shape)


def decode_index(spec: FontsV2Spec, index: int | np.ndarray) -> tuple:
    """The value positions (ATTRIBUTES order) of an index (int or integer array)."""
    return np.unravel_index(index, spec.shape)


def attribute_values(spec: FontsV2Spec) -> dict[str, list[dict]]:
    """Per attribute column, the meaning of each value position, for the dataset's metadata."""
    return {
        "content": [{"index": i, "name": word} for i, word in enumerate(spec.words)],
        **rendering_values(spec),
        "position": [{"index": i, "name": name, "centre_row": POSITION_CENTRES[name] * spec.resolution}
                     for i, name in enumerate(spec.positions)],
        "rotation": [{"index": i, "name": str(degrees), "degrees": degrees} for i, degrees in enumerate(spec.rotations)],
        "texture": [{"index": i, "name": name} for i, name in enumerate(spec.textures)],
    }


def _check_subset(name: str, values: tuple, allowed: tuple) -> None:
    if not values or len(set(values)) != len(values) or set(values) - set(allowed):
        raise ConfigError(f"{name} must be distinct values of {', '.join(map(str, allowed))} "
                          f"(got {values!r}): pass e.g. --{name} {','.join(map(str, allowed[:2]))}")


def _validate(spec: FontsV2Spec) -> None:
    _check_subset("words", spec.words, WORDS)
    check_names("size_names", spec.size_names)
    if len(spec.size_pixels) != len(spec.size_names):
        raise ConfigError(f"size_pixels has {len(spec.size_pixels)} values for {len(spec.size_names)} size_names: "
                          "pass one --size_pixels value per size")
    for pixels in spec.size_pixels:
        check_int("size_pixels", pixels, 8, MAX_SIZE_PIXELS)
    check_colours(spec.colour_names, spec.colour_rgb)
    for font_id in spec.font_ids:
        check_int("font_ids", font_id, 0)
    if not spec.font_ids or len(set(spec.font_ids)) != len(spec.font_ids):
        raise ConfigError(f"font_ids must be distinct manifest ids (got {spec.font_ids!r}): pass e.g. --font_ids 0,1,2")
    _check_subset("positions", spec.positions, tuple(POSITION_CENTRES))
    _check_subset("rotations", spec.rotations, ROTATIONS)
    _check_subset("textures", spec.textures, TEXTURE_NAMES)
    check_int("texture_seed", spec.texture_seed, 0)
    if spec.resolution not in RESOLUTIONS:
        raise ConfigError(f"resolution must be one of {RESOLUTIONS} (got {spec.resolution!r}): "
                          f"pass --resolution {RESOLUTIONS[0]}")
    for name in _PER_SHARD:
        check_int(name, getattr(spec, name), 1)
    _validate_blocks(spec)


def _validate_blocks(spec: FontsV2Spec) -> None:
    """Every block keeps the partner guarantee; checked per attribute, so the 345.6M-row plan costs nothing."""
    for name, count, per_shard in zip(_PER_SHARD, spec.shape, spec.per_shard):
        if "colours" in name:
            continue
        if short := [run for run in value_runs(count, per_shard) if len(run) < 2]:
            raise ConfigError(
                f"{name}={per_shard} over {count} values leaves a block of {len(short[0])}: every shard needs "
                f">= 2 values per attribute for GZS-Net partners; pass a --{name} whose last block keeps 2 or more"
            )
    check_colour_blocks(len(spec.colour_names), spec.font_colours_per_shard, spec.background_colours_per_shard)
