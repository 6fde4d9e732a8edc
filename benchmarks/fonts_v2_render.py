"""Fonts-v2 render throughput on one core, against one Pillow render per image, and the full grid's bytes.

    python benchmarks/fonts_v2_render.py [--blocks 3] [--seed 0]

Samples --blocks shards of the default 345.6M-image plan, each cut to one position and one rotation
(1,200 images: 2 words x 3 sizes x 5 x 5 colours x 2 fonts x 4 textures), and in one process times
- render_block with the texture range cut to "none" (palette PNGs, one glyph stream per colour pair),
- render_block with the three textures (RGB PNGs),
- the baseline on the same images: per image a Pillow canvas (texture multiplied in with numpy), the
  word drawn on its own layer, Image.rotate(expand=True), pasted at its place, saved as PNG (level 6),
  fonts loaded once;
then writes each block as a Parquet shard would be written and extrapolates bytes per image (by
texture class) to the full grid. Ratios are against the baseline measured in the same run.
"""

import argparse
import io
import random
import tempfile
import time

import numpy as np
from PIL import Image, ImageDraw

from datagen.fonts_manifest import load_manifest, locate_fonts
from datagen.render.fonts_v2 import WordRenderer, placement, render_block
from datagen.shards import write_shard
from datagen.spec.fonts_v2 import Block, FontsV2Spec, shard_blocks

SPEC = FontsV2Spec()


def _baseline(spec: FontsV2Spec, words: WordRenderer, block: Block) -> float:
    """Seconds to render every image of the block one Pillow render at a time."""
    started = time.perf_counter()
    for w, s, fg, bg, f, p, r, t in np.ndindex(*(len(values) for values in block.ranges)):
        ranges = block.ranges
        word, font = spec.words[ranges[0][w]], words.font(ranges[4][f], ranges[1][s])
        fg_rgb, bg_rgb = spec.colour_rgb[ranges[2][fg]], spec.colour_rgb[ranges[3][bg]]
        canvas = Image.fromarray(np.ascontiguousarray(words.background(bg_rgb, spec.textures[ranges[7][t]])))
        left, top, right, bottom = font.getbbox(word, anchor="ls")
        layer = Image.new("L", (right - left, bottom - top), 0)
        ImageDraw.Draw(layer).text((-left, -top), word, fill=255, font=font, anchor="ls")
        rotation = spec.rotations[ranges[6][r]]
        layer = layer.rotate(rotation, expand=True)
        y, x = placement((layer.height, layer.width)[:: 1 if rotation % 180 == 0 else -1],
                         spec.positions[ranges[5][p]], rotation)
        canvas.paste(Image.new("RGB", layer.size, fg_rgb), (x, y), layer)
        canvas.save(io.BytesIO(), format="PNG", compress_level=6)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=3, help="default-plan shards sampled (default: 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the block sample (default: 0)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    entries = load_manifest()
    words = WordRenderer(SPEC, [(path, entry.instance or None) for path, entry in zip(locate_fonts(entries), entries)])
    seconds = {"none": 0.0, "textured": 0.0, "baseline": 0.0}
    images = {"none": 0, "textured": 0}
    stored = {"none": 0, "textured": 0}
    for block in rng.sample(shard_blocks(SPEC), args.blocks):
        cut = list(block.ranges)
        cut[5], cut[6] = (range(v, v + 1) for v in (rng.choice(cut[5]), rng.choice(cut[6])))
        for name, textures in (("none", range(1)), ("textured", range(1, 4))):
            part = Block((*cut[:7], textures))
            for font in part.ranges[4]:
                words.font(font, 0)  # sizing is once per actor, not per image: keep it out of the timing
            started = time.perf_counter()
            table = render_block(SPEC, words, part)
            seconds[name] += time.perf_counter() - started
            seconds["baseline"] += _baseline(SPEC, words, part)
            images[name] += table.num_rows
            with tempfile.TemporaryDirectory() as out:  # written as a shard is: zstd, one page per column
                stored[name] += write_shard(table, out, 0, 1, spec_json="{}", fingerprint="", features={}).bytes
    total = images["none"] + images["textured"]
    baseline = total / seconds["baseline"]
    print(f"one core, {total} images ({args.blocks} sampled blocks, one position and rotation each):")
    print(f"  baseline, one Pillow render per image:  {baseline:8.0f} images/s")
    for name in ("none", "textured"):
        rate = images[name] / seconds[name]
        print(f"  render_block, {name:<9}              {rate:8.0f} images/s")
    mixed = total / (seconds["none"] + seconds["textured"])
    print(f"  render_block, grid mix (1/4 none)      {mixed:8.0f} images/s = {mixed / baseline:.1f} x baseline")
    per_image = {name: stored[name] / images[name] for name in stored}
    grid_bytes = SPEC.total_rows * (per_image["none"] / 4 + per_image["textured"] * 3 / 4)
    print(f"  Parquet bytes per image: none {per_image['none']:.0f}, textured {per_image['textured']:.0f}; "
          f"full grid {SPEC.total_rows:,} images ~ {grid_bytes / 1e12:.2f} TB, "
          f"{SPEC.total_rows / mixed / 3600:,.0f} core-hours")


if __name__ == "__main__":
    main()
