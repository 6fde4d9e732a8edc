"""The Fonts dataset as data: its attributes, the global index of every image and the shard plan.

Images are the full product letter x size x font colour x background colour x font (by default
52 x 3 x 10 x 10 x 100 = 1,560,000). Font and background colours come from the same list; rows with
font colour == background colour are blank (one uniform colour) and are kept, marked `blank`, so
the index stays a plain mixed-radix number:
    index = (((letter * n_sizes + size) * n_colours + font_colour) * n_colours + background_colour)
            * n_fonts + font
with every attribute given by its position in the spec (font k is manifest font font_ids[k]).

Shards are sub-grids: each is the product of one block of values per attribute, blocks being runs of
`*_per_shard` consecutive values; the last run may be shorter (ragged), and a *_per_shard above the
count puts all values in one block. Every block must keep GZS-Net's guarantee inside its shard (see
partner_guarantee_holds), which the spec checks for every block when it is made.

Default layout: 2 letters x 3 sizes x 10 x 10 colours x 10 fonts = 6,000 rows per shard, 260 shards.
- The colour blocks cover all 10 x 10 pairs, so all 100 colour variants of a glyph, which share one
  compressed pixel stream (see datagen.render.fonts), sit in one shard, 10 rows apart in index
  order, and each shard holds only 100 palettes: zstd stores each stream and palette about once per
  Parquet page (measured: ~32 B per image with one page per column, against ~42 for 5 x 5 colour
  blocks at the same shard count). Blocks of 10 colours keep the guarantee with blank rows too.
- All 3 sizes and >= 2 letters and fonts are the least the guarantee needs. 2 letters keep a shard
  inside one case (26 = 13 x 2); 10 fonts mix 10 styles into each shard; 260 shards of ~0.2-0.5 MB
  give Ray work units of ~30 ms and fine-grained resume (4 letters: 130 shards, ~20% fewer bytes).
"""

import math
import string
from dataclasses import astuple, dataclass
from itertools import product

import numpy as np

from datagen.spec.serialise import SpecSerialisation
from zsdist.base.errors import ConfigError

LETTERS = string.ascii_uppercase + string.ascii_lowercase
# The original's colours (CSS names; its "red" is CSS crimson).
COLOUR_NAMES = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink", "chocolate", "silver")
COLOUR_RGB = ((220, 20, 60), (255, 165, 0), (255, 255, 0), (0, 128, 0), (0, 255, 255), (0, 0, 255),
              (128, 0, 128), (255, 192, 203), (210, 105, 30), (192, 192, 192))
# Glyphs are always rasterised on this canvas; lower resolutions box-average its coverage.
RENDER_SIZE = 128
RESOLUTIONS = (128, 64, 32)
# The five attributes in index order (most significant first), as column names.
ATTRIBUTES = ("letter", "size", "font_colour", "background_colour", "font")
# Value positions or indices: one int, or an integer array of them.
Positions = int | np.ndarray


@dataclass(frozen=True, kw_only=True)
class FontsSpec(SpecSerialisation):
    """Every parameter of one Fonts dataset; the same spec and fonts always generate the same bytes."""

    letters: str = LETTERS  # Distinct ASCII letters, in index order.
    size_names: tuple[str, ...] = ("small", "medium", "large")  # names of the sizes, one per size_pixels
    # Per size: the side of a font's union ink box over all 52 letters, in pixels on the 128 px canvas
    # (see datagen.render.fonts). 80:100:120 is the ratio of the original's em sizes.
    size_pixels: tuple[int, ...] = (80, 100, 120)
    colour_names: tuple[str, ...] = COLOUR_NAMES  # names of the colours (font and background), one per colour_rgb
    colour_rgb: tuple[tuple[int, int, int], ...] = COLOUR_RGB  # R,G,B of each colour
    font_ids: tuple[int, ...] = tuple(range(100))  # Manifest font ids, in index order.
    resolution: int = 128  # image side in pixels: 128, or 64 / 32 (box-averaged from 128)
    letters_per_shard: int = 2  # letters in one shard's block (shards are sub-grids of every attribute)
    sizes_per_shard: int = 3  # sizes in one shard's block
    font_colours_per_shard: int = 10  # font colours in one shard's block
    background_colours_per_shard: int = 10  # background colours in one shard's block
    fonts_per_shard: int = 10  # fonts in one shard's block

    def __post_init__(self) -> None:
        # JSON gives lists: normalise to tuples so equal specs compare and fingerprint equal.
        for name in ("size_names", "size_pixels", "colour_names", "font_ids"):
            value = getattr(self, name)
            if not isinstance(value, list | tuple):
                raise ConfigError(f"{name} must be a list (got {value!r}): pass comma-separated values")
            object.__setattr__(self, name, tuple(value))
        rgb = self.colour_rgb
        if not isinstance(rgb, list | tuple) or not all(isinstance(c, list | tuple) for c in rgb):
            raise ConfigError(
                f"colour_rgb must be a list of R,G,B triples (got {rgb!r}): pass one per colour, e.g. 220,20,60"
            )
        object.__setattr__(self, "colour_rgb", tuple(tuple(colour) for colour in rgb))
        _validate(self)

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """Value counts per attribute, in ATTRIBUTES order."""
        colours = len(self.colour_names)
        return len(self.letters), len(self.size_names), colours, colours, len(self.font_ids)

    @property
    def total_rows(self) -> int:
        """Every combination, blank rows included."""
        letters, sizes, fgs, bgs, fonts = self.shape
        return letters * sizes * fgs * bgs * fonts


@dataclass(frozen=True)
class Block:
    """One shard: a run of consecutive value positions per attribute; its rows are their product."""

    letters: range
    sizes: range
    font_colours: range
    background_colours: range
    fonts: range

    @property
    def rows(self) -> int:
        return math.prod(len(values) for values in astuple(self))


def value_runs(count: int, per_block: int) -> list[range]:
    """Runs of per_block consecutive positions covering 0..count-1; the last may be shorter."""
    return [range(start, min(start + per_block, count)) for start in range(0, count, per_block)]


def shard_blocks(spec: FontsSpec) -> list[Block]:
    """Every shard's block, the letter block outermost and the font block innermost."""
    per_block = (spec.letters_per_shard, spec.sizes_per_shard, spec.font_colours_per_shard,
                 spec.background_colours_per_shard, spec.fonts_per_shard)
    runs = [value_runs(count, size) for count, size in zip(spec.shape, per_block)]
    return [Block(*ranges) for ranges in product(*runs)]


def colours_have_partners(font_colours: range, background_colours: range) -> bool:
    """Whether every non-blank (fg, bg) has, inside these colour sets, the colour part of all partners.

    Sharing fg: some bg' != bg, bg' != fg. Sharing bg: some fg' != fg, fg' != bg. Sharing another
    attribute: some fg' != fg and bg' != bg with fg' != bg'. There must be a non-blank pair at all.
    """
    pairs = [(fg, bg) for fg in font_colours for bg in background_colours if fg != bg]
    return bool(pairs) and all(
        any(other not in (fg, bg) for other in background_colours)
        and any(other not in (fg, bg) for other in font_colours)
        and any(f != fg and b != bg for f, b in pairs)
        for fg, bg in pairs
    )


def partner_guarantee_holds(block: Block) -> bool:
    """GZS-Net's group sampling works inside the shard of this block.

    For every non-blank row and every attribute, the block holds a non-blank row that shares exactly
    that attribute's value and differs in all four others. It holds iff letters, sizes and fonts
    each have >= 2 values and the colour sets pass colours_have_partners: disjoint colour sets need
    >= 2 values each, a colour set shared by fg and bg needs >= 3 (e.g. 5 x 5 or 10 x 10).
    """
    return (
        min(len(block.letters), len(block.sizes), len(block.fonts)) >= 2
        and colours_have_partners(block.font_colours, block.background_colours)
    )


def attribute_values(spec: FontsSpec) -> dict[str, list[dict]]:
    """Per attribute column, the meaning of each value position, for the dataset's metadata."""
    return {"letter": [{"index": i, "name": letter} for i, letter in enumerate(spec.letters)],
            **rendering_values(spec)}


def rendering_values(spec) -> dict[str, list[dict]]:
    """What size, colours and font mean in every dataset rendered from the pinned fonts (Fonts, Fonts-v2)."""
    colours = [{"index": i, "name": name, "rgb": list(rgb)}
               for i, (name, rgb) in enumerate(zip(spec.colour_names, spec.colour_rgb))]
    scale = spec.resolution / RENDER_SIZE
    return {
        # pixels: the side of each font's ink box at this resolution (see size_pixels).
        "size": [{"index": i, "name": name, "pixels": pixels * scale}
                 for i, (name, pixels) in enumerate(zip(spec.size_names, spec.size_pixels))],
        "font_colour": colours,
        "background_colour": colours,
        "font": [{"index": i, "font_id": font_id} for i, font_id in enumerate(spec.font_ids)],
    }


def global_index(spec: FontsSpec, letter: Positions, size: Positions, font_colour: Positions,
                 background_colour: Positions, font: Positions) -> Positions:
    """The mixed-radix index of value positions (ints or integer numpy arrays alike)."""
    _, sizes, fgs, bgs, fonts = spec.shape
    return (((letter * sizes + size) * fgs + font_colour) * bgs + background_colour) * fonts + font


def decode_index(spec: FontsSpec, index: Positions) -> tuple[Positions, ...]:
    """(letter, size, font_colour, background_colour, font) positions of an index (int or array)."""
    values = []
    for count in reversed(spec.shape[1:]):
        index, value = divmod(index, count)
        values.append(value)
    return (index, *reversed(values))


def _flag(name: str) -> str:
    """The CLI flag of a field (`zsdist datagen fonts --fonts_per_shard 5`)."""
    return "--" + name


def check_int(name: str, value, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer (got {value!r}): pass whole numbers to {_flag(name)}")
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in {low}..{high}"
        raise ConfigError(f"{name} must be {allowed} (got {value}): pass {_flag(name)} {allowed}")


def check_names(name: str, values: tuple) -> None:
    if not values or not all(isinstance(v, str) and v for v in values) or len(set(values)) != len(values):
        raise ConfigError(f"{name} must be distinct non-empty names (got {values!r}): pass e.g. {_flag(name)} a,b,c")


def check_colours(names: tuple[str, ...], rgb: tuple[tuple[int, ...], ...]) -> None:
    """Distinct colour names, each with its own R,G,B triple of 0..255 (shared with Fonts-v2)."""
    check_names("colour_names", names)
    if len(rgb) != len(names):
        raise ConfigError(f"colour_rgb has {len(rgb)} colours for {len(names)} colour_names: "
                          "pass one R,G,B triple per colour")
    for colour in rgb:
        if len(colour) != 3 or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255
                                       for c in colour):
            raise ConfigError(f"colour_rgb entry {colour!r} is not three integers 0..255: pass R,G,B triples")
    if len(set(rgb)) != len(rgb):
        # Two names for one RGB would draw invisible letters in rows not marked blank.
        raise ConfigError("colour_rgb repeats a colour: give every colour name its own RGB")


def _validate(spec: FontsSpec) -> None:
    # The pinned fonts were vetted for these 52 letters only; others may be missing or inkless.
    if not isinstance(spec.letters, str) or set(spec.letters) - set(LETTERS) or len(set(spec.letters)) != len(
        spec.letters
    ):
        raise ConfigError(f"letters must be distinct ASCII letters (got {spec.letters!r}): pass e.g. --letters ABCab")
    check_names("size_names", spec.size_names)
    if len(spec.size_pixels) != len(spec.size_names):
        raise ConfigError(f"size_pixels has {len(spec.size_pixels)} values for {len(spec.size_names)} size_names: "
                          "pass one --size_pixels value per size")
    for pixels in spec.size_pixels:
        # 124 leaves 2 px on each side for hinting and rounding, so no glyph touches the border.
        check_int("size_pixels", pixels, 8, RENDER_SIZE - 4)
    check_colours(spec.colour_names, spec.colour_rgb)
    for font_id in spec.font_ids:
        check_int("font_ids", font_id, 0)
    if not spec.font_ids or len(set(spec.font_ids)) != len(spec.font_ids):
        raise ConfigError(f"font_ids must be distinct manifest ids (got {spec.font_ids!r}): pass e.g. --font_ids 0,1,2")
    if spec.resolution not in RESOLUTIONS:
        raise ConfigError(f"resolution must be one of {RESOLUTIONS} (got {spec.resolution!r}): "
                          f"pass --resolution {RESOLUTIONS[0]}")
    for name in ("letters_per_shard", "sizes_per_shard", "font_colours_per_shard",
                 "background_colours_per_shard", "fonts_per_shard"):
        check_int(name, getattr(spec, name), 1)
    _validate_blocks(spec)


def _validate_blocks(spec: FontsSpec) -> None:
    """Every block keeps the partner guarantee; checked per attribute, so huge plans cost nothing."""
    letters, sizes, colours, _, fonts = spec.shape
    for name, count, per_shard in (("letters", letters, spec.letters_per_shard),
                                   ("sizes", sizes, spec.sizes_per_shard),
                                   ("fonts", fonts, spec.fonts_per_shard)):
        if short := [run for run in value_runs(count, per_shard) if len(run) < 2]:
            raise ConfigError(
                f"{name}_per_shard={per_shard} over {count} {name} leaves a block of {len(short[0])}: every shard "
                f"needs >= 2 values per attribute for GZS-Net partners; pass a {_flag(name + '_per_shard')} "
                "whose last block keeps 2 or more"
            )
    check_colour_blocks(colours, spec.font_colours_per_shard, spec.background_colours_per_shard)


def check_colour_blocks(colours: int, font_colours_per_shard: int, background_colours_per_shard: int) -> None:
    """Every shard's blocks of font and background colours keep a partner for every non-blank image."""
    for fgs in value_runs(colours, font_colours_per_shard):
        for bgs in value_runs(colours, background_colours_per_shard):
            if not colours_have_partners(fgs, bgs):
                raise ConfigError(
                    f"colour blocks of {font_colours_per_shard} font x {background_colours_per_shard} "
                    f"background colours give a shard (font colours {list(fgs)}, background colours {list(bgs)}) "
                    "where a non-blank image lacks a partner: pass --font_colours_per_shard and "
                    "--background_colours_per_shard whose blocks hold >= 3 colours, e.g. 5 or 10"
                )
