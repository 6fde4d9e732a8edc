"""Rendering Fonts-v2 images and one shard's rows into an Arrow table (pure: no Ray, no I/O but font files).

Sizing rule (nothing is ever clipped). Per font, at REFERENCE_EM, take the ink box of every word of
WORDS (Pillow's getbbox, BASIC layout); s is the larger side of the largest. A size's em is
int(REFERENCE_EM * size_pixels / s), so the font's largest word spans size_pixels along its longer
side and, as rotations by 90 degrees only swap the sides, every word at every rotation fits in a
size_pixels square. Placed with its centre 0.3 x 128 = 38.4 px from the top or bottom edge (up, down),
a square of MAX_SIZE_PIXELS = 72 keeps 2.4 px clear; the placed ink is checked against the 1 px
border all the same, and a word that would touch it raises ConfigError.

Ink and rotation. A word is drawn once per (font, size) at an integer origin and cut to its ink
crop, the tight box of non-zero coverage. A rotation turns that crop with np.rot90 (counter-
clockwise, exact, no resampling), i.e. about the ink's own centre, and the turned crop is placed
with its centre at (POSITION_CENTRES[position] x 128, 64), rounded half up. This fixes both bugs of
the authors' word script: every position is drawn, and rotated text is centred by its rotated ink.

Pixels. With m the coverage (0..255), the texture map t (1 for "none") and B = round(bg * t) per
channel, pixel = (B * (255 - m) + fg * m + 127) // 255: the texture is multiplied into the
background only, never into the ink, and without texture this is exactly Fonts' palette (Pillow's
own blend, see datagen.render.fonts). Untextured images are therefore Fonts' palette PNGs, one
compressed glyph stream shared by every colour pair; textured ones are RGB PNGs (datagen.png).
At 64 and 32 px the coverage is box-averaged as in Fonts and the texture map averaged over the same
boxes.
"""

import math
from collections.abc import Sequence
from itertools import product

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image, ImageDraw, ImageFont

from datagen.fonts_manifest import FontEntry, load_pil_font
from datagen.png import encode_png
from datagen.render.fonts import (
    ATTRIBUTE_TYPE,
    REFERENCE_EM,
    FontRef,
    box_average,
    font_names,
    idat_iend,
    plte_chunk,
    png_header,
)
from datagen.render.polar import IMAGE_TYPE
from datagen.render.textures import texture_map
from datagen.spec.fonts import RENDER_SIZE
from datagen.spec.fonts_v2 import ATTRIBUTES, POSITION_CENTRES, WORDS, Block, FontsV2Spec, global_index
from zsdist.base.errors import ConfigError

FONTS_V2_COLUMNS = ("image", "index", *ATTRIBUTES, "blank")
_MARGIN = 4  # px around getbbox's box when drawing a word, so no anti-aliased fringe is cut


def fonts_v2_features(spec: FontsV2Spec, fonts: Sequence[FontEntry]) -> dict:
    """The Hugging Face features of the spec's shards: every attribute a ClassLabel of its value names."""
    if len(fonts) != len(spec.font_ids):
        raise ConfigError(f"{len(fonts)} fonts given for the spec's {len(spec.font_ids)} font_ids: "
                          "pass the manifest entry of every font id, in font_ids order")
    names = (spec.words, spec.size_names, spec.colour_names, spec.colour_names, font_names(fonts), spec.positions,
             [str(degrees) for degrees in spec.rotations], spec.textures)
    return {
        "image": {"_type": "Image"},
        "index": {"dtype": "int64", "_type": "Value"},
        **{name: {"names": list(values), "_type": "ClassLabel"} for name, values in zip(ATTRIBUTES, names)},
        "blank": {"dtype": "bool", "_type": "Value"},
    }


def placement(shape: tuple[int, int], position: str, rotation: int) -> tuple[int, int]:
    """(top, left) on the 128 px canvas of an ink crop of `shape` (rows, columns) after `rotation`."""
    rows, columns = shape if rotation % 180 == 0 else shape[::-1]
    top = math.floor(POSITION_CENTRES[position] * RENDER_SIZE - rows / 2 + 0.5)
    return top, math.floor((RENDER_SIZE - columns) / 2 + 0.5)


def compose(mask: np.ndarray, fg: Sequence[int], background: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 pixels of a coverage mask in colour fg over a (H, W, 3) uint8 background."""
    m = mask[..., None].astype(np.int32)
    return ((background * (255 - m) + np.asarray(fg, np.int32) * m + 127) // 255).astype(np.uint8)


class WordRenderer:
    """Ink crops, coverage masks and backgrounds of one spec; each font is loaded and sized once, on first use."""

    def __init__(self, spec: FontsV2Spec, fonts: Sequence[FontRef]) -> None:
        """fonts: the spec's fonts in its order, fonts[k] being manifest font spec.font_ids[k]."""
        if len(fonts) != len(spec.font_ids):
            raise ConfigError(f"{len(fonts)} font files given for the spec's {len(spec.font_ids)} font_ids: "
                              "pass one (file, instance) per font id, in font_ids order")
        self._fonts, self._size_pixels = list(fonts), spec.size_pixels
        self._factor = RENDER_SIZE // spec.resolution
        self._sized: dict[int, list[ImageFont.FreeTypeFont]] = {}
        side = spec.resolution
        # Texture maps at the spec's resolution: the 128 px map averaged over the coverage's boxes.
        self._textures = {
            name: texture_map(name, spec.texture_seed, RENDER_SIZE).reshape(side, self._factor, side, self._factor)
            .mean(axis=(1, 3))
            for name in spec.textures if name != "none"
        }

    def font(self, font_idx: int, size_idx: int) -> ImageFont.FreeTypeFont:
        """Font `font_idx` (its position in font_ids) at the em of size `size_idx` (the sizing rule)."""
        if font_idx not in self._sized:
            path, instance = self._fonts[font_idx]
            reference = load_pil_font(path, instance or "", REFERENCE_EM)
            side = max(max(right - left, bottom - top)
                       for left, top, right, bottom in (reference.getbbox(word, anchor="ls") for word in WORDS))
            self._sized[font_idx] = [load_pil_font(path, instance or "", int(REFERENCE_EM * pixels / side))
                                     for pixels in self._size_pixels]
        return self._sized[font_idx][size_idx]

    def ink(self, font_idx: int, word: str, size_idx: int) -> np.ndarray:
        """The word's tight ink crop (uint8 coverage, 255 = full ink) on the 128 px scale, unrotated."""
        font = self.font(font_idx, size_idx)
        left, top, right, bottom = font.getbbox(word, anchor="ls")
        canvas = Image.new("L", (right - left + 2 * _MARGIN, bottom - top + 2 * _MARGIN), 0)
        # fill=255 on 0 makes Pillow's blend write the coverage itself, as in Fonts.
        ImageDraw.Draw(canvas).text((_MARGIN - left, _MARGIN - top), word, fill=255, font=font, anchor="ls")
        mask = np.asarray(canvas)
        rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        return mask[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]

    def place(self, crop: np.ndarray, position: str, rotation: int, where: str) -> np.ndarray:
        """The coverage mask (resolution x resolution uint8) of an ink crop turned and placed; `where`
        names the word, font and size in the error raised should its ink reach the 1 px border."""
        rotated = np.rot90(crop, rotation // 90)
        top, left = placement(crop.shape, position, rotation)
        rows, columns = rotated.shape
        if min(top, left) < 1 or max(top + rows, left + columns) > RENDER_SIZE - 1:
            raise ConfigError(f"{where} at {position}, {rotation} degrees reaches the canvas border: "
                              "pass smaller --size_pixels")
        canvas = np.zeros((RENDER_SIZE, RENDER_SIZE), np.uint8)
        canvas[top:top + rows, left:left + columns] = rotated
        return box_average(canvas, self._factor)

    def coverage(self, font_idx: int, word: str, size_idx: int, position: str, rotation: int) -> np.ndarray:
        """The coverage mask of one image (resolution x resolution uint8)."""
        return self.place(self.ink(font_idx, word, size_idx), position, rotation,
                          self.describe(font_idx, word, size_idx))

    def background(self, rgb: Sequence[int], texture: str) -> np.ndarray:
        """(H, W, 3) uint8 background: round(colour x texture map), the plain colour for "none"."""
        if texture == "none":
            return np.broadcast_to(np.asarray(rgb, np.uint8), (RENDER_SIZE // self._factor,) * 2 + (3,))
        return np.floor(self._textures[texture][..., None] * np.asarray(rgb, np.float64) + 0.5).astype(np.uint8)

    def describe(self, font_idx: int, word: str, size_idx: int) -> str:
        return f"font {self._fonts[font_idx][0].name} word {word!r} at size_pixels {self._size_pixels[size_idx]}"


def render_block(spec: FontsV2Spec, words: WordRenderer, block: Block) -> pa.Table:
    """All rows of one shard's sub-grid, sorted by global index, with their PNGs.

    `words` must be a WordRenderer of this spec; a Ray actor keeps one across blocks so that each
    font is loaded and sized once per process.
    """
    content, sizes, fgs, bgs, fonts, positions, rotations, textures = block.ranges
    rgb = spec.colour_rgb
    header = png_header(spec.resolution)
    heads = np.empty((len(fgs), len(bgs)), object)  # the untextured images' header + palette per colour pair
    for (a, fg), (b, bg) in product(enumerate(fgs), enumerate(bgs)):
        heads[a, b] = header + plte_chunk(rgb[fg], rgb[bg])
    backgrounds = {(bg, t): words.background(rgb[bg], spec.textures[t]) for bg in bgs for t in textures}
    images = np.empty(tuple(len(values) for values in block.ranges), object)
    for (i, w), (j, s), (k, f) in product(enumerate(content), enumerate(sizes), enumerate(fonts)):
        word = spec.words[w]
        crop = words.ink(f, word, s)  # drawn once for every position, rotation, texture and colour pair
        where = words.describe(f, word, s)
        for (p, position), (q, rotation) in product(enumerate(positions), enumerate(rotations)):
            mask = words.place(crop, spec.positions[position], spec.rotations[rotation], where)
            for t, texture in enumerate(textures):
                if spec.textures[texture] == "none":
                    images[i, j, :, :, k, p, q, t] = heads + idat_iend(mask)
                    continue
                for (a, fg), (b, bg) in product(enumerate(fgs), enumerate(bgs)):
                    images[i, j, a, b, k, p, q, t] = encode_png(compose(mask, rgb[fg], backgrounds[bg, texture]))
    grids = [grid.ravel() for grid in np.meshgrid(*map(np.array, block.ranges), indexing="ij")]
    index = pa.array(np.asarray(global_index(spec, *grids), np.int64))
    digits = pc.utf8_lpad(pc.cast(index, pa.string()), width=9, padding="0")
    paths = pc.binary_join_element_wise("fonts_v2_", digits, ".png", "")
    columns = {
        "image": pa.StructArray.from_arrays([pa.array(images.ravel().tolist(), pa.binary()), paths],
                                            fields=list(IMAGE_TYPE)),
        "index": index,
        **{name: pa.array(values, ATTRIBUTE_TYPE) for name, values in zip(ATTRIBUTES, grids)},
        "blank": pa.array(grids[2] == grids[3]),
    }
    return pa.table(columns)
