"""Class attributes of the Fonts-ZSL benchmark: one vector per font, measured from the font file itself.

    python -m zsdist.fontszsl.attributes [--font_manifest FILE] [--fonts_dir DIR] [--raw]   # prints the table

Every font is first checked by datagen.fonts_manifest.verify_fonts (present, pinned sha256, 52 letters
with ink), so a missing or broken file stops with that one-line message. Variable fonts are read at
the manifest's pinned named instance: outlines and advances come from a glyph set at its location,
without instancing the whole font (seconds per font for the large ones).

The raw attributes (RAW_NAMES) are the descriptors of zsdist/fontszsl/descriptors.py, which documents
each one: what a person sees in a font (proportions, weight, stroke contrast, serifs, slant,
roundness, aperture, connected script, counters, storeys of a and g ...), measured on the outlines of
its 52 letters A-Z a-z. Declared metadata (OS/2 weight and width class, italic angle, isFixedPitch,
PANOSE) is not used: it is constant over the pinned fonts (all Regular, upright), unset (PANOSE is 0
in most of them) or restates what the outlines show (fixed pitch: advance_variation 0).

font_attributes standardises every column across the fonts of the manifest, so d and the values
depend only on the manifest: z-scores (population std) clipped at +-3 (CLIP_SD), and the constant
columns dropped (listed in `dropped`). Clipping keeps a font that is far out on one descriptor (Black
Ops One's stencil pieces sit at ~10 sd, Yellowtail's counters at ~8) from dominating its vector and
every comparison with it; it moves 1.8 % of the pinned fonts' values, so a clipped column's mean is
within 0.07 of 0 and its std below 1 (0.32 for pieces, where Black Ops One alone stands out).
Re-standardising after clipping would undo it for such a column.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fontTools.ttLib import TTFont

from datagen.fonts_manifest import FontEntry, font_instance_coords, load_manifest, locate_fonts, verify_fonts
from zsdist.base.errors import DataError
from zsdist.fontszsl.descriptors import DESCRIPTOR_NAMES, descriptors, outlines

RAW_NAMES = DESCRIPTOR_NAMES
CLIP_SD = 3.0  # z-scores are clipped to +-CLIP_SD


@dataclass(frozen=True)
class FontAttributes:
    """Standardised attributes of the fonts of a manifest, in manifest order."""

    font_ids: tuple[int, ...]
    names: tuple[str, ...]  # family names
    attribute_names: tuple[str, ...]  # the kept columns, a subsequence of RAW_NAMES
    values: np.ndarray  # (fonts, d) float32, each column z-scored across the fonts, clipped at +-CLIP_SD
    dropped: tuple[str, ...]  # RAW_NAMES columns constant across the fonts
    raw: np.ndarray  # (fonts, len(RAW_NAMES)) float64: the descriptors as measured, before standardising

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
        raw=raw,
    )


def standardise(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns z-scored across the rows and clipped at +-CLIP_SD (float32), without the constant ones, and
    the mask of kept columns."""
    raw = raw.astype(np.float64)
    kept = raw.max(axis=0) > raw.min(axis=0)  # exact: a column either varies or carries nothing
    varying = raw[:, kept]
    scores = (varying - varying.mean(axis=0)) / varying.std(axis=0)
    return np.clip(scores, -CLIP_SD, CLIP_SD).astype(np.float32), kept


def raw_attributes(entry: FontEntry, path: Path) -> np.ndarray:
    """The RAW_NAMES values of one verified font, float64."""
    with TTFont(path, lazy=True) as font:
        location = font_instance_coords(path, entry.instance) if entry.variable else None
        glyphs = outlines(font.getGlyphSet(location=location), font.getBestCmap())
    return descriptors(glyphs)


def main(argv: list[str] | None = None) -> None:
    """Print every font's standardised attributes (--raw: the descriptors as measured) as a TSV (font_id,
    family, one column per attribute)."""
    parser = argparse.ArgumentParser(prog="python -m zsdist.fontszsl.attributes", description=main.__doc__)
    parser.add_argument("--font_manifest", type=Path, help="manifest listing the fonts (default: the pinned 100)")
    parser.add_argument("--fonts_dir", type=Path, help="directory of the manifest's fonts (default: site-packages)")
    parser.add_argument("--raw", action="store_true", help="print the measured descriptors, not the standardised ones")
    args = parser.parse_args(argv)
    try:
        table = font_attributes(args.font_manifest, args.fonts_dir)
    except DataError as error:
        parser.exit(2, f"error: {error}\n")
    names, values = (RAW_NAMES, table.raw) if args.raw else (table.attribute_names, table.values)
    print("\t".join(("font_id", "family", *names)))
    for font_id, name, row in zip(table.font_ids, table.names, values):
        print("\t".join((str(font_id), name, *(f"{value:.3f}" for value in row))))
    if not args.raw:
        print(f"# dropped as constant: {', '.join(table.dropped) or 'none'}")


if __name__ == "__main__":
    main()
