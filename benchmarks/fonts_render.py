"""Fonts rendering throughput on ONE core: one Pillow render + PNG encode per image vs the palette renderer.

    python benchmarks/fonts_render.py                     # 3000 baseline images, 4 shards of 6000
    python benchmarks/fonts_render.py --images 5000 --shards 8

(a) baseline, the original's approach: per image a 128x128 RGB canvas in the background colour, the
    letter drawn in the font colour (Pillow, fonts loaded once beforehand), one PNG encode at the
    project's zlib level; random rows of the default spec.
(b) palette: datagen.render.fonts.render_block over whole default shards spread over the dataset,
    each glyph rasterised and compressed once and its 100 colour variants written as palette PNGs.
Both exclude loading and sizing the fonts (a Ray actor does that once; its time is printed apart),
and (b) a first, untimed render_block, whose one-time imports in a fresh process (~0.3 s) would
otherwise dominate a few shards.
The process is pinned to one CPU. Bytes per image: raw PNG sizes, and the Parquet shard as
datagen.shards.write_shard writes it.
"""

import argparse
import io
import os
import platform
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image, ImageDraw

from datagen.fonts_manifest import load_manifest, locate_fonts
from datagen.png import PNG_COMPRESS_LEVEL
from datagen.render.fonts import GlyphRenderer, fonts_features, render_block
from datagen.shards import write_shard
from datagen.spec.fonts import FontsSpec, decode_index, shard_blocks


def baseline(spec: FontsSpec, glyphs: GlyphRenderer, images: int) -> tuple[float, float]:
    """(images/s, mean PNG bytes) of one Pillow render + one PNG encode per image."""
    rows = np.random.default_rng(0).integers(0, spec.total_rows, images)
    jobs = []
    for index in rows.tolist():
        letter, size, fg, bg, font = decode_index(spec, index)
        pil_font, origin = glyphs.placement(font, spec.letters[letter], size)  # fonts load here, untimed
        jobs.append((spec.letters[letter], pil_font, origin, spec.colour_rgb[fg], spec.colour_rgb[bg]))
    sizes = []
    start = time.perf_counter()
    for letter, pil_font, origin, fg, bg in jobs:
        canvas = Image.new("RGB", (spec.resolution, spec.resolution), bg)
        ImageDraw.Draw(canvas).text(origin, letter, fill=fg, font=pil_font, anchor="ls")
        buffer = io.BytesIO()
        canvas.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
        sizes.append(buffer.tell())
    return images / (time.perf_counter() - start), float(np.mean(sizes))


def parquet_bytes(table: pa.Table, features: dict) -> int:
    """The shard's size as datagen.shards.write_shard writes it (into a throwaway directory)."""
    with tempfile.TemporaryDirectory() as tmp:
        return write_shard(table, tmp, 0, 1, spec_json="{}", fingerprint="", features=features).bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=3000, help="baseline images (default: 3000)")
    parser.add_argument("--shards", type=int, default=4, help="default-spec shards for the palette renderer")
    args = parser.parse_args()

    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    print(f"load average before start: {os.getloadavg()[0]:.1f}; 1 CPU ({platform.machine()})", flush=True)
    spec = FontsSpec()
    entries = load_manifest()
    fonts = [(path, entry.instance or None) for path, entry in zip(locate_fonts(entries), entries)]
    features = fonts_features(spec, entries)
    glyphs = GlyphRenderer(spec, fonts)
    start = time.perf_counter()
    for font in range(len(spec.font_ids)):
        glyphs.placement(font, "A", 0)
    print(f"loading and sizing {len(spec.font_ids)} fonts: {time.perf_counter() - start:.2f} s (once per actor)")

    base_rate, base_bytes = baseline(spec, glyphs, args.images)
    print(f"(a) baseline: {args.images} images, {base_rate:.0f} images/s, {base_bytes:.0f} B/PNG", flush=True)

    blocks = shard_blocks(spec)
    chosen = [blocks[i] for i in np.linspace(0, len(blocks) - 1, args.shards).astype(int)]
    render_block(spec, glyphs, blocks[1])  # untimed: a process's first call pays ~0.3 s of imports
    rendered = png_bytes = parquet = 0
    start = time.perf_counter()
    tables = [render_block(spec, glyphs, block) for block in chosen]
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    for table in tables:
        rendered += table.num_rows
        png_bytes += pc.sum(pc.binary_length(table["image"].combine_chunks().field("bytes"))).as_py()
        parquet += parquet_bytes(table, features)
    write_seconds = time.perf_counter() - start
    rate = rendered / seconds
    print(f"(b) palette: {len(chosen)} shards, {rendered} images, {rate:.0f} images/s, "
          f"{png_bytes / rendered:.0f} B/PNG; {parquet / rendered:.1f} B/image in the Parquet shard")
    print(f"where a shard's time goes: rendering {seconds / len(chosen):.3f} s, writing (zstd Parquet, sha256, "
          f"fsync) {write_seconds / len(chosen):.3f} s -> {rendered / (seconds + write_seconds):.0f} images/s per core")
    print(f"speed-up palette/baseline: {rate / base_rate:.1f}x")


if __name__ == "__main__":
    main()
