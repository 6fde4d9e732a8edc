"""Training throughput of the polar VAE: images/s with 1 vs N DDP workers, measured in one run.

    . scripts/offline-env.sh
    python benchmarks/polar_training.py                       # CPU: 1 and 2 gloo workers
    python benchmarks/polar_training.py --use_gpu --workers 1 --precisions none,bf16   # GPU: fp32 vs bf16

Each setting trains a fresh run for `--epochs` epochs of at most `--steps` steps per worker; the
figure is the last epoch's images/s (start-up and the first epoch's warm-up excluded), as reported by
the training loop (data loading included). Speeds are quoted as ratios against the first setting.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch

from datagen.run import generate_polar
from datagen.spec.polar import PolarSpec
from zsdist.base.ray_setup import init_ray
from zsdist.methods import get_method
from zsdist.methods.polar_vae.config import PolarTrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="an existing polar dataset (default: generate one in a temp dir)")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--precisions", default="none")
    parser.add_argument("--use_gpu", action="store_true")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    init_ray()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else Path(tmp) / "data"
        if not args.data:
            generate_polar(PolarSpec(resolution=args.resolution), data, num_workers=2)
        rows = []
        for precision in args.precisions.split(","):
            for workers in map(int, args.workers.split(",")):
                cfg = PolarTrainConfig(
                    data=str(data), run_name=f"bench-{workers}w-{precision}-{time.time_ns()}",
                    experiment="benchmarks", epochs=args.epochs, batch_size=args.batch_size,
                    max_steps_per_epoch=args.steps, num_workers=workers, use_gpu=args.use_gpu,
                    cpus_per_worker=1.0 if args.use_gpu else 0.5, mixed_precision=precision,
                    storage_path=str(Path(tmp) / "checkpoints"),
                )
                _, _, final = get_method("polar-vae").train(cfg)
                rows.append((workers, precision, final["images_per_s"]))
                print(f"workers={workers} precision={precision}: {final['images_per_s']:.1f} images/s", flush=True)

    base = rows[0][2]
    device = torch.cuda.get_device_name() if args.use_gpu else f"{platform.processor() or 'CPU'}"
    print(f"\n{time.strftime('%Y-%m-%d')} {platform.node()} ({device}), resolution {args.resolution}, "
          f"batch {args.batch_size}/worker")
    print("| workers | precision | images/s | ratio |")
    print("| --- | --- | --- | --- |")
    for workers, precision, speed in rows:
        print(f"| {workers} | {precision} | {speed:.1f} | {speed / base:.2f} |")


if __name__ == "__main__":
    main()
