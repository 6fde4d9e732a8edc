"""Reading the Fonts dataset, or any subset of its fonts, letters, sizes and colours.

Each shard is a sub-grid (one block of values per attribute, see datagen/spec/fonts.py), so a
selection maps to the shards whose blocks it touches: only those files are opened, and a row filter
keeps the selected values inside them. Blank images (font colour == background colour) are dropped
unless asked for. Decoded images are RGB, exactly the pixels the renderer defined.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pds

from datagen.png import decode_image_column
from datagen.shards import dataset_files, read_spec
from datagen.spec.fonts import ATTRIBUTES, FontsSpec, shard_blocks
from zsdist.base.errors import ConfigError
from zsdist.base.storage import parquet_dataset


@dataclass(frozen=True, kw_only=True)
class FontsSelection:
    """Values to keep per attribute (None keeps all): letters as characters, fonts by manifest id,
    sizes and colours by name."""

    letters: str | None = None  # letters to keep, e.g. AbC (default: all)
    sizes: tuple[str, ...] | None = None  # size names to keep, e.g. small,large (default: all)
    font_colours: tuple[str, ...] | None = None  # font colour names to keep (default: all)
    background_colours: tuple[str, ...] | None = None  # background colour names to keep (default: all)
    fonts: tuple[int, ...] | None = None  # manifest font ids to keep, e.g. 0,3,17 (default: all)
    include_blank: bool = False  # keep the blank images (font colour == background colour)


def _positions(wanted, available: list, attribute: str) -> list[int] | None:
    """Attribute indices of the wanted values, or None for all; unknown values are a ConfigError."""
    if wanted is None:
        return None
    unknown = [value for value in wanted if value not in available]
    if unknown:
        raise ConfigError(f"{attribute} {unknown} are not in this dataset: choose from {available}")
    return sorted(available.index(value) for value in wanted)


def selected_indices(description: dict, selection: FontsSelection) -> dict[str, list[int] | None]:
    spec = description["spec"]
    return {
        "letter": _positions(selection.letters, list(spec["letters"]), "letters"),
        "size": _positions(selection.sizes, list(spec["size_names"]), "sizes"),
        "font_colour": _positions(selection.font_colours, list(spec["colour_names"]), "font colours"),
        "background_colour": _positions(selection.background_colours, list(spec["colour_names"]),
                                        "background colours"),
        "font": _positions(selection.fonts, list(spec["font_ids"]), "fonts"),
    }


def selected_files(data_dir: str | Path, selection: FontsSelection) -> tuple[list[Path], pds.Expression | None]:
    """The shard files a selection touches, and the row filter to apply inside them."""
    files = dataset_files(data_dir, dataset="fonts")
    description = read_spec(data_dir)
    wanted = selected_indices(description, selection)
    blocks = shard_blocks(FontsSpec.from_dict(description["spec"]))
    keep = [
        path for path, block in zip(files, blocks)
        if all(values is None or set(values) & set(getattr(block, _BLOCK_FIELD[name]))
               for name, values in wanted.items())
    ]
    conditions = [pds.field(name).isin(values) for name, values in wanted.items() if values is not None]
    if not selection.include_blank:
        conditions.append(~pds.field("blank"))
    expression = None
    for condition in conditions:
        expression = condition if expression is None else expression & condition
    return keep, expression


_BLOCK_FIELD = dict(zip(ATTRIBUTES, ("letters", "sizes", "font_colours", "background_colours", "fonts")))


def read_fonts_table(data_dir: str | Path, selection: FontsSelection = FontsSelection(),
                     columns: list[str] | None = None) -> pa.Table:
    """The selected rows (PNG bytes undecoded) with pyarrow, reading only the shards they live in."""
    files, expression = selected_files(data_dir, selection)
    if not files:
        return pa.table({})
    return parquet_dataset(files).to_table(columns=columns, filter=expression)


def decode_rgb(table: pa.Table) -> np.ndarray:
    """The `image` column as uint8 (N, H, W, 3) RGB."""
    return decode_image_column(table.column("image"))


def downscale_factor(resolution: int, image_size: int) -> int:
    """How many stored pixels per side make one model pixel; the dataset must be a multiple of the model."""
    if image_size > resolution or resolution % image_size:
        raise ConfigError(
            f"model.image_size {image_size} cannot be read from a {resolution} px dataset: use a size that "
            f"divides {resolution} (e.g. {resolution // 2}) or generate the dataset at --resolution {image_size}"
        )
    return resolution // image_size


def box_downscale(pixels: np.ndarray, factor: int) -> np.ndarray:
    """(N, C, H, W) images averaged over factor x factor boxes: float32 (N, C, H/f, W/f), same value scale.

    The same box filter the renderer uses for its lower resolutions, so a 128 px dataset read at 64 px
    matches a 64 px dataset up to rounding.
    """
    if factor == 1:
        return pixels.astype(np.float32)
    n, c, h, w = pixels.shape
    boxes = pixels.reshape(n, c, h // factor, factor, w // factor, factor)
    return boxes.mean(axis=(3, 5), dtype=np.float32)
