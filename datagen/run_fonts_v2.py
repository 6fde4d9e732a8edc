"""Generating the Fonts-v2 dataset: verify the pinned fonts, then render sub-grid shards on Ray actors.

The same machinery as Fonts (datagen.run_fonts): each actor loads and sizes the fonts once
(WordRenderer) and renders whole shards; the shard plan, resume, atomic writes and the manifest are
run.generate_shards'. Every shard's metadata describes the dataset (spec, attribute values, fonts
with their checksums, the texture recipe), and the fingerprint covers that description.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datagen.fonts_manifest import FontEntry, font_metadata
from datagen.render.fonts import ATTRIBUTE_TYPE
from datagen.render.fonts_v2 import WordRenderer, fonts_v2_features, render_block
from datagen.render.textures import TEXTURE_LOW
from datagen.run import GenerationReport
from datagen.run_fonts import FontDataset, generate_font_dataset
from datagen.spec.fonts_v2 import FontsV2Spec, attribute_values, shard_blocks
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


FONTS_V2 = FontDataset(name=DATASET, loader=WordRenderer, render=render_block, describe=description,
                       features=fonts_v2_features, blocks=shard_blocks)


def generate_fonts_v2(spec: FontsV2Spec, out_dir: Path | RemotePath | str, **options: Any) -> GenerationReport:
    """Generate (or finish) the Fonts-v2 dataset of `spec` in out_dir (options: generate_font_dataset's)."""
    return generate_font_dataset(FONTS_V2, spec, out_dir, **options)
