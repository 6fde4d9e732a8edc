"""Generating the Fonts dataset: verify the pinned fonts, then render sub-grid shards on Ray actors.

Each actor loads the fonts once (GlyphRenderer) and renders whole shards; the shard plan, resume,
atomic writes and the manifest are run.generate_shards'. The dataset's description (spec, attribute
names and values, the fonts with their checksums) travels in every shard's metadata, and its
fingerprint covers the font checksums: other font files make another dataset.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datagen import GENERATOR_VERSION
from datagen.fonts_manifest import FontEntry, font_metadata, load_manifest, locate_fonts, verify_fonts
from datagen.render.fonts import ATTRIBUTE_TYPE, FontRef, GlyphRenderer, fonts_features, render_block
from datagen.run import GenerationReport, RenderShard, generate_shards
from datagen.spec.fonts import FontsSpec, attribute_values, shard_blocks
from datagen.spec.fonts_v2 import FontsV2Spec
from zsdist.base.errors import ConfigError


def select_fonts(spec: FontsSpec | FontsV2Spec, entries: list[FontEntry]) -> list[FontEntry]:
    """The manifest entries of spec.font_ids, in that order (Fonts and Fonts-v2 alike)."""
    by_id = {entry.font_id: entry for entry in entries}
    missing = [font_id for font_id in spec.font_ids if font_id not in by_id]
    if missing:
        raise ConfigError(f"font ids {missing} are not in the font manifest: choose --font_ids from "
                          f"{min(by_id)}..{max(by_id)} or pass a manifest that lists them")
    return [by_id[font_id] for font_id in spec.font_ids]


def description(spec: FontsSpec, fonts: list[FontEntry]) -> str:
    """The dataset's self-description stored with every shard (canonical JSON).

    It names the attribute columns' type, so shards written before they became int64 (for their
    Hugging Face ClassLabels) are told apart from today's by the fingerprint, and never mixed.
    """
    return json.dumps(
        {"spec": spec.to_dict(), "attributes": attribute_values(spec), "fonts": font_metadata(fonts),
         "attribute_type": str(ATTRIBUTE_TYPE)},
        sort_keys=True, separators=(",", ":"),
    )


def block_renderer(loader: Callable, render: Callable, spec: Any, fonts: list[FontRef]) -> RenderShard:
    """Run once per actor: load and size every font (loader), then render each block with them."""
    return functools.partial(render, spec, loader(spec, fonts))


@dataclass(frozen=True)
class FontDataset:
    """What makes one dataset rendered from the pinned fonts (Fonts, Fonts-v2) differ from another."""

    name: str
    loader: Callable  # (spec, font refs) -> what an actor loads once: GlyphRenderer, WordRenderer
    render: Callable  # (spec, loaded, block) -> the block's rows
    describe: Callable  # (spec, font entries) -> the canonical JSON description
    features: Callable  # (spec, font entries) -> the shards' Hugging Face features
    blocks: Callable  # spec -> the shard plan


def generate_font_dataset(
    dataset: FontDataset,
    spec: Any,
    out_dir: Path | str,
    *,
    num_workers: int = 2,
    font_manifest: Path | None = None,
    fonts_dir: Path | None = None,
    accept_font_checksums: bool = False,
    progress: bool = True,
) -> GenerationReport:
    """Generate (or finish) a font dataset of `spec` in out_dir; every font is verified first."""
    fonts = select_fonts(spec, load_manifest(font_manifest))
    paths = locate_fonts(fonts, fonts_dir)
    for warning in verify_fonts(fonts, paths, accept_checksums=accept_font_checksums):
        print(f"[datagen] warning: {warning}", flush=True)
    refs = [(path, entry.instance or None) for path, entry in zip(paths, fonts)]
    described = dataset.describe(spec, fonts)
    blocks = dataset.blocks(spec)
    return generate_shards(
        dataset=dataset.name,
        make_renderer=functools.partial(block_renderer, dataset.loader, dataset.render, spec, refs),
        shard_keys=blocks,
        shard_rows=[block.rows for block in blocks],
        out_dir=out_dir,
        spec_json=described,
        fingerprint=hashlib.sha256(f"{GENERATOR_VERSION}\n{described}".encode()).hexdigest(),
        features=dataset.features(spec, fonts),
        num_workers=num_workers,
        progress=progress,
    )


FONTS = FontDataset(name="fonts", loader=GlyphRenderer, render=render_block, describe=description,
                    features=fonts_features, blocks=shard_blocks)


def generate_fonts(spec: FontsSpec, out_dir: Path | str, **options: Any) -> GenerationReport:
    """Generate (or finish) the Fonts dataset of `spec` in out_dir (options: generate_font_dataset's)."""
    return generate_font_dataset(FONTS, spec, out_dir, **options)
