"""What every evaluation's figures share: a headless matplotlib, and PNGs written atomically.

Every writer saves atomically (temp file in the same directory, then os.replace), so a reader such as
an MLflow artifact upload never sees a half-written PNG, and returns the path it wrote.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # evaluation runs on headless Ray workers; no display backend may be tried

import matplotlib.pyplot as plt  # must follow the backend choice

from zsdist.base.storage import atomic_write

DPI = 100
SEPARATOR_GRAY = 128  # mid-grey shows against both the black background and the white curves


def write_atomically(path: str | os.PathLike[str], write: Callable[[io.BytesIO], None]) -> Path:
    """Render into memory, then write with the same atomic temp-and-rename as the dataset shards."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write(buffer)
    atomic_write(target, buffer.getvalue())
    return target


def save_figure(path: str | os.PathLike[str], figure: plt.Figure) -> Path:
    try:
        return write_atomically(path, lambda out: figure.savefig(out, format="png", dpi=DPI))
    finally:
        plt.close(figure)
