"""Class attributes of the Fonts-ZSL benchmark: one vector per font, measured from the font file itself.

    python -m zsdist.fontszsl.attributes [--font_manifest FILE] [--fonts_dir DIR]   # prints the table

Every font is first checked by datagen.fonts_manifest.verify_fonts (present, pinned sha256, 52 letters
with ink), so a missing or broken file stops with that one-line message. Variable fonts are read at
the manifest's pinned named instance: outlines and advances come from a glyph set at its location, and
the OS/2 weight/width class and the italic angle follow the instance's wght/wdth/slnt coordinates with
fontTools' own instancing rule (varLib.set_default_weight_width_slant), without instancing the whole
font (seconds per font for the large ones).

The raw attributes (RAW_NAMES):
- declared: OS/2 usWeightClass and usWidthClass, post italicAngle and isFixedPitch;
- PANOSE: the 10 digits as numbers (0 = "any", i.e. unset, in most of the pinned fonts). Scaled, not
  one-hot: one-hot gives ~50 columns that are almost all zero and, once standardised, ~10-sigma spikes
  for values only one font has. The ordinal reading suits weight, proportion, contrast and x-height
  and is only rough for the categorical digits (serif style, arm style), which z-scoring keeps small;
- vertical metrics measured on the outlines, relative to unitsPerEm: x-height (top of 'x'), cap height
  (top of 'H'), ascender (highest top of b d h k l) and descender (lowest bottom of g j p q y). The
  declared OS/2 sxHeight/sCapHeight are not used: they are absent (Yellowtail's OS/2 version 1), wrong
  (Delius declares 0.085 em, Acme 0.107 em) or describe a variable font's default instance;
- outline statistics over the 52 letters A-Z a-z: mean and std of the advance width / em (std 0 for a
  monospaced font), mean ink area / em^2, mean ink fill (ink area / ink box area), mean stroke width
  (2 x area / perimeter, / em), mean slant (fontTools StatisticsPen: x-y covariance over y variance of
  the ink, ~0 upright, > 0 leaning right) and mean contour count.
font_attributes z-scores every column across the fonts of the manifest (population std) and drops the
constant ones (listed in `dropped`; with the pinned 100 fonts every weight class is 400, every width
class 5 and every italic angle 0), so d depends only on the manifest.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fontTools.pens.basePen import BasePen
from fontTools.pens.boundsPen import BoundsPen
from fontTools.pens.perimeterPen import PerimeterPen
from fontTools.pens.statisticsPen import StatisticsPen
from fontTools.ttLib import TTFont
from fontTools.varLib import set_default_weight_width_slant

from datagen.fonts_manifest import (
    LETTERS,
    FontEntry,
    font_instance_coords,
    load_manifest,
    locate_fonts,
    verify_fonts,
)
from zsdist.base.errors import DataError

PANOSE_DIGITS = ("family_type", "serif_style", "weight", "proportion", "contrast", "stroke_variation",
                 "arm_style", "letterform", "midline", "x_height")
OUTLINE_NAMES = ("x_height", "cap_height", "ascender", "descender", "advance_mean", "advance_std", "ink_area",
                 "ink_fill", "stroke_width", "slant", "contours")
RAW_NAMES = ("weight_class", "width_class", "italic_angle", "fixed_pitch",
             *(f"panose_{digit}" for digit in PANOSE_DIGITS), *OUTLINE_NAMES)
_PANOSE_FIELDS = ("bFamilyType", "bSerifStyle", "bWeight", "bProportion", "bContrast", "bStrokeVariation",
                  "bArmStyle", "bLetterForm", "bMidline", "bXHeight")
_ASCENDERS, _DESCENDERS = "bdhkl", "gjpqy"


@dataclass(frozen=True)
class FontAttributes:
    """Standardised attributes of the fonts of a manifest, in manifest order."""

    font_ids: tuple[int, ...]
    names: tuple[str, ...]  # family names
    attribute_names: tuple[str, ...]  # the kept columns, a subsequence of RAW_NAMES
    values: np.ndarray  # (fonts, d) float32, each column z-scored across the fonts
    dropped: tuple[str, ...]  # RAW_NAMES columns constant across the fonts

    def rows(self, font_ids: list[int] | tuple[int, ...]) -> np.ndarray:
        """The attribute rows of some fonts, by manifest id, in the order given."""
        position = {font_id: i for i, font_id in enumerate(self.font_ids)}
        if missing := [font_id for font_id in font_ids if font_id not in position]:
            raise DataError(f"font id(s) {missing} are not in the font manifest: pass the --font_manifest "
                            "the Fonts dataset was rendered with")
        return self.values[[position[font_id] for font_id in font_ids]]


def font_attributes(font_manifest: Path | None = None, fonts_dir: Path | None = None, *,
                    accept_font_checksums: bool = False) -> FontAttributes:
    """Verify every font of the manifest (default: the pinned 100), measure and standardise its attributes."""
    entries = load_manifest(font_manifest)
    paths = locate_fonts(entries, fonts_dir)
    verify_fonts(entries, paths, accept_checksums=accept_font_checksums)
    raw = np.stack([raw_attributes(entry, path) for entry, path in zip(entries, paths)])
    values, kept = standardise(raw)
    return FontAttributes(
        font_ids=tuple(entry.font_id for entry in entries),
        names=tuple(entry.family for entry in entries),
        attribute_names=tuple(name for name, keep in zip(RAW_NAMES, kept) if keep),
        values=values,
        dropped=tuple(name for name, keep in zip(RAW_NAMES, kept) if not keep),
    )


def standardise(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns z-scored across the rows (float32) without the constant ones, and the mask of kept columns."""
    raw = raw.astype(np.float64)
    kept = raw.max(axis=0) > raw.min(axis=0)  # exact: a column either varies or carries nothing
    varying = raw[:, kept]
    return ((varying - varying.mean(axis=0)) / varying.std(axis=0)).astype(np.float32), kept


def raw_attributes(entry: FontEntry, path: Path) -> np.ndarray:
    """The RAW_NAMES values of one verified font, float64."""
    with TTFont(path, lazy=True) as font:
        location = font_instance_coords(path, entry.instance) if entry.variable else None
        if location:
            # Only the in-memory OS/2 and post tables change; the file is never written.
            set_default_weight_width_slant(font, location)
        os2, post = font["OS/2"], font["post"]
        declared = [os2.usWeightClass, os2.usWidthClass, post.italicAngle, float(post.isFixedPitch != 0)]
        panose = [getattr(os2.panose, name) for name in _PANOSE_FIELDS]
        outline = _outline_statistics(font, location)
    return np.array([*declared, *panose, *outline], dtype=np.float64)


class _Statistics(StatisticsPen):
    """StatisticsPen that also counts contours (components are decomposed, so theirs count too)."""

    def __init__(self, glyphset) -> None:
        super().__init__(glyphset=glyphset)
        self.contours = 0

    def _moveTo(self, p0) -> None:
        self.contours += 1
        super()._moveTo(p0)


def _draw(pen: BasePen, glyphs, glyph_name: str) -> BasePen:
    glyphs[glyph_name].draw(pen)
    return pen


def _outline_statistics(font: TTFont, location: dict[str, float] | None) -> list[float]:
    """OUTLINE_NAMES of the font at `location` (None: its default instance)."""
    em = font["head"].unitsPerEm
    glyphs, cmap = font.getGlyphSet(location=location), font.getBestCmap()

    def bounds(letter: str) -> tuple[float, float, float, float]:
        return _draw(BoundsPen(glyphs), glyphs, cmap[ord(letter)]).bounds

    metrics = [bounds("x")[3], bounds("H")[3], max(bounds(c)[3] for c in _ASCENDERS),
               min(bounds(c)[1] for c in _DESCENDERS)]
    advances, areas, fills, strokes, slants, contours = [], [], [], [], [], []
    for letter in LETTERS:
        name = cmap[ord(letter)]
        stats = _draw(_Statistics(glyphs), glyphs, name)
        # Contour direction differs between TrueType and CFF outlines, so the signed area does too.
        area = abs(stats.area)
        x_min, y_min, x_max, y_max = bounds(letter)
        perimeter = _draw(PerimeterPen(glyphs), glyphs, name).value
        advances.append(glyphs[name].width)
        areas.append(area)
        fills.append(area / ((x_max - x_min) * (y_max - y_min)))
        strokes.append(2 * area / perimeter)
        slants.append(stats.slant)
        contours.append(stats.contours)
    advances = np.array(advances, dtype=np.float64) / em
    return [*(value / em for value in metrics), advances.mean(), advances.std(), np.mean(areas) / em**2,
            np.mean(fills), np.mean(strokes) / em, np.mean(slants), np.mean(contours)]


def main(argv: list[str] | None = None) -> None:
    """Print every font's standardised attributes as a TSV (font_id, family, one column per attribute)."""
    parser = argparse.ArgumentParser(prog="python -m zsdist.fontszsl.attributes", description=main.__doc__)
    parser.add_argument("--font_manifest", type=Path, help="manifest listing the fonts (default: the pinned 100)")
    parser.add_argument("--fonts_dir", type=Path, help="directory of the manifest's fonts (default: site-packages)")
    args = parser.parse_args(argv)
    try:
        table = font_attributes(args.font_manifest, args.fonts_dir)
    except DataError as error:
        parser.exit(2, f"error: {error}\n")
    print("\t".join(("font_id", "family", *table.attribute_names)))
    for font_id, name, row in zip(table.font_ids, table.names, table.values):
        print("\t".join((str(font_id), name, *(f"{value:.3f}" for value in row))))
    print(f"# dropped as constant: {', '.join(table.dropped) or 'none'}")


if __name__ == "__main__":
    main()
