"""Generating the image datasets into the workspace or a given directory (`zsdist datagen polar|fonts`).

Both resume: a rerun writes only the shards that are missing or incomplete.
"""

from __future__ import annotations

from pathlib import Path

from datagen.run import GenerationReport, generate_polar
from datagen.run_fonts import generate_fonts
from datagen.spec.fonts import FontsSpec
from datagen.spec.polar import PolarSpec
from zsdist.base.errors import ConfigError
from zsdist.base.ray_setup import init_ray
from zsdist.base.storage import RemotePath, location
from zsdist.base.workspace import default_dataset_dir


def default_polar_dir(spec: PolarSpec) -> Path:
    return default_dataset_dir(f"polar-r{spec.resolution}-seed{spec.seed}")


def default_fonts_dir(spec: FontsSpec) -> Path:
    return default_dataset_dir(f"fonts-r{spec.resolution}")


def generate_polar_dataset(spec: PolarSpec, out: str = "", *, num_workers: int = 2
                           ) -> tuple[Path | RemotePath, GenerationReport]:
    """Render the polar dataset into `out` (default: in the workspace)."""
    _check_workers(num_workers)
    out_dir = location(out) if out else default_polar_dir(spec)
    init_ray()
    return out_dir, generate_polar(spec, out_dir, num_workers=num_workers)


def generate_fonts_dataset(
    spec: FontsSpec, out: str = "", *, num_workers: int = 2, font_manifest: str = "", fonts_dir: str = "",
    accept_font_checksums: bool = False,
) -> tuple[Path | RemotePath, GenerationReport]:
    """Render the Fonts dataset into `out` (default: in the workspace); reruns resume.

    Ray starts only once the fonts have been verified and there is something to render.
    """
    _check_workers(num_workers)
    out_dir = location(out) if out else default_fonts_dir(spec)
    report = generate_fonts(
        spec, out_dir, num_workers=num_workers,
        font_manifest=Path(font_manifest) if font_manifest else None,
        fonts_dir=Path(fonts_dir) if fonts_dir else None,
        accept_font_checksums=accept_font_checksums,
    )
    return out_dir, report


def _check_workers(num_workers: int) -> None:
    if num_workers < 1:
        raise ConfigError(f"num_workers must be >= 1 (got {num_workers})")
