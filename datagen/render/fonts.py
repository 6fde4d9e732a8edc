"""Rendering Fonts images and one shard's rows into an Arrow table (pure: no Ray, no I/O but font files).

Sizing rule (no glyph is ever clipped). Per font, at a reference em size of 1000 px, take the union
ink box of all 52 letters A-Z a-z (Pillow's getbbox at the baseline origin): its height runs from
the highest ink above the baseline to the lowest descender ink, its width is twice the farthest any
ink reaches from the centre of its letter's advance width (letters are centred on their advance).
The em size of a size is the integer em at which the box's larger side spans size_pixels on the
128 px canvas (default 80 / 100 / 120, the original's em ratio 80:100:120), so a font's three sizes
share one scale ratio and each font fills the canvas as fully as its widest or tallest letter
allows. size_pixels <= 124 leaves 2 px on every side; the box is measured again at the chosen size
and a letter whose ink would leave the canvas's 1 px border raises ConfigError.

Placement. Each letter is centred horizontally on its advance width (origin x = round((128 -
advance) / 2)); the baseline is fixed per font and size, at the y that centres that font's union
ink box, so capitals and lowercase keep their relative heights and descenders sit lower, as in the
original (pygame centred the font's line box). Layout is Pillow's BASIC engine, so the pixels do not
depend on whether libraqm is installed. Glyphs are rasterised at 128 px; 64 and 32 px average the
coverage mask over 2x2 or 4x4 boxes (rounded half up).

Pixels. An image is defined by its glyph's uint8 coverage mask m and its colours: pixel = palette[m]
with palette[i] = round(bg + (fg - bg) * i / 255) per channel, exactly what Pillow's ImageDraw.text
draws with fill=fg on a bg canvas. Colour never changes shape, so each glyph is compressed ONCE
as the IDAT of an indexed-colour PNG and its colour variants differ only in the PLTE chunk;
PIL's .convert("RGB") of any stored image gives exactly expected_rgb(mask, fg, bg). A blank image
(fg == bg) is the same glyph stream under a palette whose entries are all equal.
"""

import math
import struct
import zlib
from collections import Counter
from collections.abc import Sequence
from itertools import product
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image, ImageDraw, ImageFont

from datagen.fonts_manifest import FontEntry, load_pil_font
from datagen.png import PNG_COMPRESS_LEVEL
from datagen.render.polar import IMAGE_TYPE
from datagen.spec.fonts import ATTRIBUTES, LETTERS, RENDER_SIZE, Block, FontsSpec, global_index
from zsdist.base.errors import ConfigError

# (font file, named instance of a variable font or None for a static font).
FontRef = tuple[Path, str | None]

FONTS_COLUMNS = ("image", "index", *ATTRIBUTES, "blank")
# The attribute columns are int64 although int16 would hold them: `datasets` keeps a ClassLabel of
# the schema metadata only on a column of its storage type, int64, and silently reads any other
# integer column as a bare Value, losing the names (datasets 5.2, Features.from_arrow_schema).
ATTRIBUTE_TYPE = pa.int64()
# Em size at which glyph boxes are measured for the sizing rule: large enough that their whole-pixel
# bounds measure the outlines to 0.1%.
REFERENCE_EM = 1000
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def font_names(fonts: Sequence[FontEntry]) -> list[str]:
    """Distinct readable names of fonts: the family, widened where the family repeats among them.

    A repeated family becomes "family instance-or-style"; should that repeat too, "family (file)",
    which the manifest keeps unique.
    """
    names = [entry.family for entry in fonts]
    for widen in (lambda entry: f"{entry.family} {entry.instance or entry.style}".strip(),
                  lambda entry: f"{entry.family} ({entry.file_name})"):
        repeated = {name for name, count in Counter(names).items() if count > 1}
        names = [widen(entry) if name in repeated else name for name, entry in zip(names, fonts)]
    return names


def fonts_features(spec: FontsSpec, fonts: Sequence[FontEntry]) -> dict:
    """The Hugging Face features of the spec's shards: every attribute a ClassLabel of its value names.

    fonts: the manifest entries of spec.font_ids, in that order. The dict is what
    datasets.Features.to_dict() gives, so `datasets` hands the names back as ds.features[...].names.
    """
    if len(fonts) != len(spec.font_ids):
        raise ConfigError(f"{len(fonts)} fonts given for the spec's {len(spec.font_ids)} font_ids: "
                          "pass the manifest entry of every font id, in font_ids order")
    names = (list(spec.letters), spec.size_names, spec.colour_names, spec.colour_names, font_names(fonts))
    return {
        "image": {"_type": "Image"},
        "index": {"dtype": "int64", "_type": "Value"},
        **{name: {"names": list(values), "_type": "ClassLabel"} for name, values in zip(ATTRIBUTES, names)},
        "blank": {"dtype": "bool", "_type": "Value"},
    }


def _union_box(font: ImageFont.FreeTypeFont) -> tuple[float, int, int]:
    """(width about the advance centres, top, bottom) of the ink of all 52 letters, baseline at y = 0."""
    half, top, bottom = 0.0, 0, 0
    for letter in LETTERS:
        left, ink_top, right, ink_bottom = font.getbbox(letter, anchor="ls")
        centre = font.getlength(letter) / 2
        half, top, bottom = max(half, centre - left, right - centre), min(top, ink_top), max(bottom, ink_bottom)
    return 2 * half, top, bottom


def _origin_x(font: ImageFont.FreeTypeFont, letter: str) -> int:
    return math.floor((RENDER_SIZE - font.getlength(letter)) / 2 + 0.5)


class GlyphRenderer:
    """Coverage masks of one spec's glyphs; each font is loaded and measured once, on first use."""

    def __init__(self, spec: FontsSpec, fonts: Sequence[FontRef]) -> None:
        """fonts: the spec's fonts in its order, fonts[k] being manifest font spec.font_ids[k]."""
        if len(fonts) != len(spec.font_ids):
            raise ConfigError(f"{len(fonts)} font files given for the spec's {len(spec.font_ids)} font_ids: "
                              "pass one (file, instance) per font id, in font_ids order")
        self._fonts = list(fonts)
        self._size_pixels = spec.size_pixels
        self._factor = RENDER_SIZE // spec.resolution
        self._placed: dict[int, list[tuple[ImageFont.FreeTypeFont, int]]] = {}

    def _sizes(self, font_idx: int) -> list[tuple[ImageFont.FreeTypeFont, int]]:
        """(font at its em size, baseline y) per size of font `font_idx` (its position in font_ids)."""
        if font_idx not in self._placed:
            path, instance = self._fonts[font_idx]
            width, top, bottom = _union_box(load_pil_font(path, instance or "", REFERENCE_EM))
            placed = []
            for size_idx, pixels in enumerate(self._size_pixels):
                font = load_pil_font(path, instance or "", int(REFERENCE_EM * pixels / max(width, bottom - top)))
                _, top_at, bottom_at = _union_box(font)
                baseline = math.floor((RENDER_SIZE - top_at - bottom_at) / 2 + 0.5)
                self._check_inside(font, baseline, font_idx, size_idx)
                placed.append((font, baseline))
            self._placed[font_idx] = placed
        return self._placed[font_idx]

    def _check_inside(self, font: ImageFont.FreeTypeFont, baseline: int, font_idx: int, size_idx: int) -> None:
        for letter in LETTERS:
            x = _origin_x(font, letter)
            left, top, right, bottom = font.getbbox(letter, anchor="ls")
            if min(x + left, baseline + top) < 1 or max(x + right, baseline + bottom) > RENDER_SIZE - 1:
                raise ConfigError(f"font {self._fonts[font_idx][0].name} draws {letter!r} at size_pixels "
                                  f"{self._size_pixels[size_idx]} beyond the canvas: pass smaller --size_pixels")

    def placement(self, font_idx: int, letter: str, size_idx: int) -> tuple[ImageFont.FreeTypeFont, tuple[int, int]]:
        """The font at its chosen em size and the letter's origin (x, baseline y) for anchor "ls"."""
        font, baseline = self._sizes(font_idx)[size_idx]
        return font, (_origin_x(font, letter), baseline)

    def coverage(self, font_idx: int, letter: str, size_idx: int) -> np.ndarray:
        """The anti-aliased coverage mask (resolution x resolution uint8, 255 = full ink) of one glyph."""
        font, origin = self.placement(font_idx, letter, size_idx)
        canvas = Image.new("L", (RENDER_SIZE, RENDER_SIZE), 0)
        # fill=255 on 0 makes Pillow's blend write the coverage itself: 0 + (255 - 0) * a / 255 = a.
        ImageDraw.Draw(canvas).text(origin, letter, fill=255, font=font, anchor="ls")
        return box_average(np.asarray(canvas), self._factor)


def box_average(mask: np.ndarray, factor: int) -> np.ndarray:
    """A square uint8 mask averaged over factor x factor boxes, rounded half up (factor 1: itself)."""
    if factor == 1:
        return mask
    side, area = mask.shape[0] // factor, factor**2
    sums = mask.reshape(side, factor, side, factor).sum(axis=(1, 3), dtype=np.uint32)
    return ((sums + area // 2) // area).astype(np.uint8)


def palette(fg: Sequence[int], bg: Sequence[int]) -> np.ndarray:
    """The (256, 3) uint8 colours of coverage 0..255: round(bg + (fg - bg) * i / 255), no ties occur."""
    i = np.arange(256, dtype=np.int32)[:, None]
    return ((np.asarray(bg, np.int32) * (255 - i) + np.asarray(fg, np.int32) * i + 127) // 255).astype(np.uint8)


def expected_rgb(mask: np.ndarray, fg: Sequence[int], bg: Sequence[int]) -> np.ndarray:
    """The defined (H, W, 3) pixels of a glyph mask in these colours: the reference decoder for tests."""
    return palette(fg, bg)[mask]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(resolution: int) -> bytes:
    """Signature and IHDR of a resolution x resolution PNG of 8-bit palette indices (colour type 3)."""
    return _SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", resolution, resolution, 8, 3, 0, 0, 0))


def plte_chunk(fg: Sequence[int], bg: Sequence[int]) -> bytes:
    """The PLTE chunk that colours coverage i as palette(fg, bg)[i]."""
    return _chunk(b"PLTE", palette(fg, bg).tobytes())


def idat_iend(mask: np.ndarray) -> bytes:
    """The IDAT chunk of a mask as palette indices (filter type 0 on every row), then IEND."""
    rows = np.concatenate([np.zeros((mask.shape[0], 1), np.uint8), mask], axis=1)
    return _chunk(b"IDAT", zlib.compress(rows.tobytes(), PNG_COMPRESS_LEVEL)) + _chunk(b"IEND", b"")


def _joined(heads: np.ndarray, tails: np.ndarray) -> pa.Array:
    """The binary array of heads + tails element-wise (object arrays of bytes, broadcast together).

    One join into one buffer plus numpy offsets: ~1 us a row, where a bytes object per row and
    pa.array() over them took ~10.
    """
    heads, tails = np.broadcast_arrays(heads, tails)
    size_of = np.frompyfunc(len, 1, 1)
    lengths = (size_of(heads) + size_of(tails)).astype(np.int64).ravel()
    data = b"".join(np.stack([heads.ravel(), tails.ravel()], axis=1).ravel().tolist())
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    if offsets[-1] >= 2**31:  # Arrow's binary type has int32 offsets.
        raise ConfigError(f"one shard would hold {offsets[-1] / 2**30:.1f} GiB of PNGs: "
                          "pass smaller *_per_shard values")
    offsets = offsets.astype(np.int32)
    return pa.Array.from_buffers(pa.binary(), len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def render_block(spec: FontsSpec, glyphs: GlyphRenderer, block: Block) -> pa.Table:
    """All rows of one shard's sub-grid, sorted by global index, with their palette PNGs.

    `glyphs` must be a GlyphRenderer of this spec; a Ray actor keeps one across blocks so that each
    font is loaded and measured once per process.
    """
    ranges = (block.letters, block.sizes, block.font_colours, block.background_colours, block.fonts)
    header, rgb = png_header(spec.resolution), spec.colour_rgb
    heads = np.empty((len(block.font_colours), len(block.background_colours)), object)
    for (i, fg), (j, bg) in product(enumerate(block.font_colours), enumerate(block.background_colours)):
        heads[i, j] = header + plte_chunk(rgb[fg], rgb[bg])
    # Each glyph is rasterised and compressed once, for all the block's colour pairs.
    tails = np.empty((len(block.letters), len(block.sizes), len(block.fonts)), object)
    glyph_axes = (block.letters, block.sizes, block.fonts)
    for (i, letter), (j, size), (k, font) in product(*(enumerate(axis) for axis in glyph_axes)):
        tails[i, j, k] = idat_iend(glyphs.coverage(font, spec.letters[letter], size))
    # Axes in index order (letter, size, fg, bg, font): C order of the grid is global index order.
    images = _joined(heads[None, None, :, :, None], tails[:, :, None, None, :])
    letter, size, fg, bg, font = (grid.ravel() for grid in np.meshgrid(*map(np.array, ranges), indexing="ij"))
    index = pa.array(global_index(spec, letter, size, fg, bg, font).astype(np.int64))
    digits = pc.utf8_lpad(pc.cast(index, pa.string()), width=7, padding="0")
    paths = pc.binary_join_element_wise("fonts_", digits, ".png", "")
    columns = {
        "image": pa.StructArray.from_arrays([images, paths], fields=list(IMAGE_TYPE)),
        "index": index,
        **{name: pa.array(values, ATTRIBUTE_TYPE) for name, values in zip(ATTRIBUTES, (letter, size, fg, bg, font))},
        "blank": pa.array(fg == bg),
    }
    return pa.table(columns)
