"""Polar dataset generation throughput: images/s with 1 vs 2 parallel Ray render tasks, in one run.

    . scripts/offline-env.sh          # first: the Ray environment block (this script sources nothing)
    python benchmarks/polar_datagen.py                  # the default spec: 5000 + 45 images at 64 px
    python benchmarks/polar_datagen.py --resolution 128

Each setting generates the full default spec into a fresh temp directory (removed afterwards; nothing
is appended anywhere). A tiny warm-up generation first starts both Ray worker processes and imports
the renderer in them, so neither timed run pays for process start-up. The figure is images rendered
divided by the whole generate_polar call (planning, rendering, PNG + Parquet writing, manifest).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

from datagen.run import generate_polar
from datagen.spec.polar import PolarSpec
from zsdist.base.ray_setup import init_ray


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resolution", type=int, default=64, help="image side in pixels (default: 64)")
    args = parser.parse_args()

    spec = PolarSpec(resolution=args.resolution)
    # Other work on the machine skews the figures; print the load so a reader can judge a run.
    print(f"load average before start: {os.getloadavg()[0]:.1f}", flush=True)
    init_ray(num_cpus=2)  # Two render slots; the driver only waits on them.
    with tempfile.TemporaryDirectory(prefix="polar-datagen-bench-") as tmp:
        warm_up = PolarSpec(n_points=8, n_test=0, transect_points=2, shard_rows=4, resolution=args.resolution)
        generate_polar(warm_up, Path(tmp) / "warm-up", num_workers=2, progress=False)
        rates = {}
        for workers in (1, 2):
            report = generate_polar(spec, Path(tmp) / f"{workers}w", num_workers=workers, progress=False)
            rates[workers] = report.images / report.seconds
            print(
                f"workers={workers}: {report.images} images at {spec.resolution} px in {report.seconds:.1f} s "
                f"= {rates[workers]:.0f} images/s",
                flush=True,
            )
    machine = f"{os.cpu_count()} CPUs, {platform.machine()}"
    print(f"speed-up 2w/1w: {rates[2] / rates[1]:.2f}x ({machine})")


if __name__ == "__main__":
    main()
