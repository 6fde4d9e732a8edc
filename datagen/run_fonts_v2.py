"""Generating the Fonts-v2 dataset: verify the pinned fonts, then render sub-grid shards on Ray actors.

The same machinery as Fonts (datagen.run_fonts): each actor loads and sizes the fonts once
(WordRenderer) and renders whole shards; the shard plan, resume, atomic writes and the manifest are
run.generate_shards'. Every shard's metadata describes the dataset (spec, attribute values, fonts
with their checksums, the texture recipe), and the fingerprint covers that description.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from datagen import GENERATOR_VERSION
from datagen.fonts_manifest import FontEntry, font_metadata, load_manifest, locate_fonts, verify_fonts
from datagen.render.fonts import ATTRIBUTE_TYPE, FontRef
from datagen.render.fonts_v2 import WordRenderer, fonts_v2_features, render_block
from datagen.render.textures import TEXTURE_LOW
from datagen.run import GenerationReport, RenderShard, generate_shards
from datagen.run_fonts import select_fonts
from datagen.spec.fonts_v2 import Block, FontsV2Spec, attribute_values, shard_blocks
from zsdist.base.storage import RemotePath

DATASET = "fonts-v2"


def description(spec: FontsV2Spec, fonts: list[FontEntry]) -> str:
    """The dataset's self-description stored with every shard (canonical JSON)."""
    return json.dumps(
        {"spec": spec.to_dict(), "attributes": attribute_values(spec), "fonts": font_metadata(fonts),
         "attribute_type": str(ATTRIBUTE_TYPE),
         "textures": {"module": "datagen.render.textures", "low": TEXTURE_LOW, "seed": spec.texture_seed}},
        sort_keys=True, separators=(",", ":"),
    )


def _renderer(spec: FontsV2Spec, fonts: list[FontRef]) -> RenderShard:
    words = WordRenderer(spec, fonts)  # loads and sizes every font once per actor

    def render(block: Block):
        return render_block(spec, words, block)

    return render


def generate_fonts_v2(
    spec: FontsV2Spec,
    out_dir: Path | RemotePath | str,
    *,
    num_workers: int = 2,
    font_manifest: Path | None = None,
    fonts_dir: Path | None = None,
    accept_font_checksums: bool = False,
    progress: bool = True,
) -> GenerationReport:
    """Generate (or finish) the Fonts-v2 dataset of `spec` in out_dir; every font is verified first."""
    fonts = select_fonts(spec, load_manifest(font_manifest))
    paths = locate_fonts(fonts, fonts_dir)
    for warning in verify_fonts(fonts, paths, accept_checksums=accept_font_checksums):
        print(f"[datagen] warning: {warning}", flush=True)
    described = description(spec, fonts)
    blocks = shard_blocks(spec)
    refs = [(path, entry.instance or None) for path, entry in zip(paths, fonts)]
    return generate_shards(
        dataset=DATASET,
        make_renderer=functools.partial(_renderer, spec, refs),
        shard_keys=blocks,
        shard_rows=[block.rows for block in blocks],
        out_dir=out_dir,
        spec_json=described,
        fingerprint=hashlib.sha256(f"{GENERATOR_VERSION}\n{described}".encode()).hexdigest(),
        features=fonts_v2_features(spec, fonts),
        num_workers=num_workers,
        progress=progress,
    )
