"""GZS-Net group loader throughput: groups/s and images/s of group_dataset iterated to the end.

    . scripts/offline-env.sh
    python benchmarks/fonts_groups.py                  # 4 letters x 10 fonts at 64 px: 2 shards of 6,000
    python benchmarks/fonts_groups.py --letters ABCDEFGH --resolution 128

The dataset is generated first into a temp dir (untimed). One untimed epoch starts the Ray workers
and imports the reader in them; then each timed epoch (a new epoch number, so new groups) runs the
whole pipeline: Parquet read, blank and held-out filtering, grouping, PNG decoding, float32
conversion, transfer through the object store, and iteration in this process with
iter_batches(batch_size=None). No model runs: this is the ceiling the loader puts on training.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import ray.data

from datagen.run_fonts import generate_fonts
from datagen.spec.fonts import FontsSpec
from zsdist.base.ray_setup import init_ray
from zsdist.data.heldout import HeldOutConfig
from zsdist.methods.gzsnet.groups import group_dataset


def epoch_rate(data_dir: Path, epoch: int) -> tuple[float, int, int]:
    """(seconds, groups, images per group) of one epoch read to the end."""
    ds = group_dataset(data_dir, held_out=HeldOutConfig(), seed=0, epoch=epoch)
    started = time.perf_counter()
    groups, width = 0, 0
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        groups += len(batch["index"])
        width = batch["index"].shape[1]
    return time.perf_counter() - started, groups, width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--letters", default="ABCD")
    parser.add_argument("--fonts", type=int, default=10, help="fonts 0..N-1 (a multiple of 10 keeps full shards)")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before start: {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs, {platform.machine()}")
    init_ray()
    ray.data.DataContext.get_current().enable_progress_bars = False  # they would drown the figures
    spec = FontsSpec(letters=args.letters, font_ids=tuple(range(args.fonts)), resolution=args.resolution)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "fonts"
        report = generate_fonts(spec, data_dir, num_workers=2, progress=False)
        print(f"dataset: {report.images} images in {report.written} shards at {args.resolution} px")
        epoch_rate(data_dir, epoch=0)  # warm-up: worker start and imports
        for epoch in range(1, args.epochs + 1):
            seconds, groups, width = epoch_rate(data_dir, epoch)
            print(f"epoch {epoch}: {groups} groups in {seconds:.2f} s = {groups / seconds:.0f} groups/s "
                  f"= {groups * width / seconds:.0f} images/s (float32, {width} images per group)", flush=True)


if __name__ == "__main__":
    main()
