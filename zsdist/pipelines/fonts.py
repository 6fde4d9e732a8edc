"""The Fonts dataset's steps as library functions (the CLI and jobs call these)."""

from __future__ import annotations

from pathlib import Path

from datagen.errors import ConfigError
from datagen.run import GenerationReport
from datagen.run_fonts import generate_fonts
from datagen.spec.fonts import FontsSpec
from datagen.storage import RemotePath, location
from zsdist.workspace import default_dataset_dir


def default_fonts_dir(spec: FontsSpec) -> Path:
    return default_dataset_dir(f"fonts-r{spec.resolution}")


def generate(
    spec: FontsSpec, out: str = "", *, num_workers: int = 2, font_manifest: str = "", fonts_dir: str = "",
    accept_font_checksums: bool = False,
) -> tuple[Path | RemotePath, GenerationReport]:
    """Render the Fonts dataset into `out` (default: in the workspace); reruns resume.

    Ray starts only once the fonts have been verified and there is something to render.
    """
    if num_workers < 1:
        raise ConfigError(f"num_workers must be >= 1 (got {num_workers})")
    out_dir = location(out) if out else default_fonts_dir(spec)
    report = generate_fonts(
        spec, out_dir, num_workers=num_workers,
        font_manifest=Path(font_manifest) if font_manifest else None,
        fonts_dir=Path(fonts_dir) if fonts_dir else None,
        accept_font_checksums=accept_font_checksums,
    )
    return out_dir, report
