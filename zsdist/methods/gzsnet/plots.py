"""PNG writers for the GZS-Net evaluation: the co-prediction heatmap and labelled exact-pixel image grids.

The heatmap is a matplotlib figure; the image grids are built pixel by pixel with numpy and labelled
with PIL's default font, so the small (32-64 px) images are enlarged by whole-pixel repetition and
never blurred by resampling. Both are written atomically through the helpers of zsdist/eval/figures.py.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt  # headless: zsdist/eval/figures.py picks the Agg backend
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from zsdist.eval.figures import SEPARATOR_GRAY, save_figure, write_atomically

MIN_CELL_PX = 96  # small images are enlarged by a whole factor until a cell is at least this tall
SEPARATOR_PX = 2
MARGIN_PX = 6  # space around the labels
FONT_PX = 13
BACKGROUND = 255  # white label margins
TEXT_COLOUR = (0, 0, 0)


def to_uint8(images: np.ndarray | torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [-1, 1], torch or numpy, to numpy (N, H, W, C) uint8 with values clamped."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().float().numpy()
    array = np.asarray(images, dtype=np.float64)
    if array.ndim != 4:
        raise ValueError(f"images have shape {array.shape}: need (N, C, H, W)")
    unit = np.clip((array + 1.0) / 2.0, 0.0, 1.0)
    return np.round(unit * 255).astype(np.uint8).transpose(0, 2, 3, 1)


def coprediction_heatmap_png(
    path: str | os.PathLike[str],
    matrix: np.ndarray,
    chunk_names: Sequence[str],
    attribute_names: Sequence[str],
    title: str,
) -> Path:
    """Heatmap of a co-prediction matrix (rows: latent chunk, columns: attribute predicted), cells annotated."""
    values = np.asarray(matrix, dtype=np.float64)
    if values.shape != (len(chunk_names), len(attribute_names)) or values.size == 0:
        raise ValueError(
            f"matrix {values.shape} must be (chunks, attributes) = ({len(chunk_names)}, {len(attribute_names)})"
        )
    rows, cols = values.shape
    figure, axes = plt.subplots(figsize=(2.5 + 1.1 * cols, 1.8 + 0.8 * rows))
    # A fixed 0..1 range, so heatmaps of different runs can be compared by eye.
    image = axes.imshow(values, vmin=0.0, vmax=1.0, cmap="viridis")
    for i in range(rows):
        for j in range(cols):
            # viridis is dark at the low end: white text there, black on the bright high end.
            colour = "white" if values[i, j] < 0.5 else "black"
            axes.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", color=colour)
    axes.set_xticks(range(cols), list(attribute_names))
    axes.set_yticks(range(rows), list(chunk_names))
    axes.set_xlabel("attribute predicted")
    axes.set_ylabel("latent chunk")
    axes.set_title(title)
    figure.colorbar(image, ax=axes)
    figure.tight_layout()
    return save_figure(path, figure)


def _text_size(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont) -> tuple[int, int]:
    if not text:
        return 0, 0
    left, _, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: int) -> str:
    """The longest prefix of text (marked with '..' when cut) that fits into width pixels."""
    if _text_size(draw, text, font)[0] <= width:
        return text
    while text and _text_size(draw, text + "..", font)[0] > width:
        text = text[:-1]
    return text + ".." if text else ""


def image_grid_png(
    path: str | os.PathLike[str],
    rows: list[np.ndarray],
    row_titles: list[str],
    column_titles: list[str] | None,
    title: str,
) -> Path:
    """Rows of (N, H, W, 3) uint8 images as one labelled grid PNG, enlarged by whole-pixel repetition.

    Each image is scaled by the integer factor ceil(96 / H) (nearest neighbour), cells are parted by
    2-px mid-grey lines, row titles sit in a left margin, the title and optional column titles in a
    top margin. The title also goes into the PNG "Title" text chunk.
    """
    if not rows or len(row_titles) != len(rows):
        raise ValueError(f"{len(rows)} rows and {len(row_titles)} row titles: need one title per row, 1+ rows")
    shape = np.shape(rows[0])
    for row in rows:
        if row.dtype != np.uint8 or row.ndim != 4 or row.shape[3] != 3 or row.shape != shape or shape[0] == 0:
            raise ValueError(f"row of shape {row.shape}, {row.dtype}: every row must be uint8 {shape}, (N, H, W, 3)")
    n, h, w, _ = shape
    if column_titles is not None and len(column_titles) != n:
        raise ValueError(f"{len(column_titles)} column titles for {n} columns")
    scale = max(1, math.ceil(MIN_CELL_PX / h))
    cell_h, cell_w = h * scale, w * scale

    font = ImageFont.load_default(size=FONT_PX)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = max(_text_size(probe, text, font)[0] for text in row_titles)
    label_h = _text_size(probe, "Ag", font)[1]
    left = label_w + 2 * MARGIN_PX
    top = MARGIN_PX + label_h + MARGIN_PX + (label_h + MARGIN_PX if column_titles is not None else 0)
    grid_w = n * cell_w + (n - 1) * SEPARATOR_PX
    grid_h = len(rows) * cell_h + (len(rows) - 1) * SEPARATOR_PX

    canvas = np.full((top + grid_h, left + grid_w, 3), BACKGROUND, dtype=np.uint8)
    canvas[top:, left:] = SEPARATOR_GRAY  # what the cells leave uncovered are the separator lines
    for r, row in enumerate(rows):
        y = top + r * (cell_h + SEPARATOR_PX)
        for c, image in enumerate(row):
            x = left + c * (cell_w + SEPARATOR_PX)
            canvas[y : y + cell_h, x : x + cell_w] = image.repeat(scale, axis=0).repeat(scale, axis=1)

    picture = Image.fromarray(canvas)
    draw = ImageDraw.Draw(picture)
    draw.text(
        (MARGIN_PX, MARGIN_PX), _fit(draw, title, font, picture.width - 2 * MARGIN_PX), fill=TEXT_COLOUR, font=font
    )
    for c, text in enumerate(column_titles or []):
        fitted = _fit(draw, text, font, cell_w)
        x = left + c * (cell_w + SEPARATOR_PX) + (cell_w - _text_size(draw, fitted, font)[0]) // 2
        draw.text((x, 2 * MARGIN_PX + label_h), fitted, fill=TEXT_COLOUR, font=font)
    for r, text in enumerate(row_titles):
        y = top + r * (cell_h + SEPARATOR_PX) + (cell_h - _text_size(draw, text, font)[1]) // 2
        draw.text((MARGIN_PX, y), text, fill=TEXT_COLOUR, font=font)

    info = PngImagePlugin.PngInfo()
    info.add_text("Title", title)
    return write_atomically(path, lambda out: picture.save(out, format="PNG", pnginfo=info))
