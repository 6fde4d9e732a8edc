"""Fonts generation through Ray actors: images/s per actor with 1 and 2 actors, and the full dataset.

    . scripts/offline-env.sh
    python benchmarks/fonts_datagen.py                 # half the dataset with 1 and 2 actors, then all 1,560,000
    python benchmarks/fonts_datagen.py --no-full       # the slice only

The slice (capitals A-Z, every other attribute whole: 780,000 images in 130 shards) runs with 1 and
then 2 actors into fresh temp dirs; the figure is images over the whole generate_fonts call after Ray
is up (font verification, actor start-up with font loading, rendering, Parquet writes, manifest).
The full run writes all 1,560,000 images with 2 actors and reports wall time and bytes.
"""

from __future__ import annotations

import argparse
import os
import platform
import string
import tempfile
import time
from pathlib import Path

from datagen.run_fonts import generate_fonts
from datagen.spec.fonts import FontsSpec
from zsdist.base.ray_setup import init_ray


def timed(spec: FontsSpec, out: Path, workers: int) -> tuple[float, int, int]:
    started = time.perf_counter()
    report = generate_fonts(spec, out, num_workers=workers, progress=False)
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in out.glob("*.parquet"))
    return seconds, report.images, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-full", dest="full", action="store_false", help="skip the full 1,560,000 run")
    args = parser.parse_args()
    print(f"load average before start: {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs, {platform.machine()}")
    init_ray()
    with tempfile.TemporaryDirectory() as tmp:
        slice_spec = FontsSpec(letters=string.ascii_uppercase)
        rates = {}
        for workers in (1, 2):
            seconds, images, size = timed(slice_spec, Path(tmp) / f"slice-{workers}", workers)
            rates[workers] = images / seconds
            print(f"{workers} actor(s): {images} images in {seconds:.1f} s = {rates[workers]:.0f} images/s "
                  f"= {rates[workers] / workers:.0f} images/s per actor; {size / images:.0f} bytes/image", flush=True)
        print(f"speed-up 2 actors / 1 actor: {rates[2] / rates[1]:.2f}x")
        if args.full:
            seconds, images, size = timed(FontsSpec(), Path(tmp) / "full", 2)
            print(f"full dataset: {images} images in {seconds:.1f} s with 2 actors ({images / seconds:.0f} images/s), "
                  f"{size / 1e6:.0f} MB, {size / images:.0f} bytes/image")


if __name__ == "__main__":
    main()
