"""GZS-Net training throughput with 1 vs N DDP workers, against the group loader alone, in one run.

    . scripts/offline-env.sh
    python benchmarks/gzsnet_training.py                        # CPU: the cpu recipe's model and data
    python benchmarks/gzsnet_training.py --config configs/gzsnet_paper.yaml --fonts_config configs/fonts_paper.yaml \
        --use_gpu --workers 1 --precisions none,bf16           # GPU

The dataset is generated from `--fonts_config` into a temp dir (untimed). First the loader alone:
one worker's whole pipeline (Parquet read, grouping, PNG decoding, float32 batches) iterated to the
end with no model, after an untimed warm-up epoch. Then each training setting runs a fresh GZS-Net
run (the AE+DS baseline off, so the figure is GZS-Net's alone) for `--epochs` epochs of at most
`--steps` steps per worker; its figure is the last epoch's groups/s as the training loop reports it
(data loading included; start-up and the first epoch excluded). Ratios are against the first setting.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import ray.data
import torch

from datagen.run_fonts import generate_fonts
from datagen.spec.fonts import FontsSpec
from zsdist.base.ray_setup import init_ray
from zsdist.config import load_config
from zsdist.methods import get_method
from zsdist.methods.gzsnet.config import GZSNetTrainConfig
from zsdist.methods.gzsnet.groups import group_dataset


def loader_groups_per_s(cfg: GZSNetTrainConfig, epoch: int) -> float:
    ds = group_dataset(cfg.data, selection=cfg.selection, held_out=cfg.held_out, seed=cfg.seed, epoch=epoch,
                       image_size=cfg.model.image_size)
    started, groups = time.perf_counter(), 0
    for batch in ds.iter_batches(batch_size=cfg.groups_per_batch, batch_format="numpy"):
        groups += len(batch["index"])
    return groups / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="configs/gzsnet_cpu.yaml")
    parser.add_argument("--fonts_config", default="configs/fonts_cpu32.yaml")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--precisions", default="none")
    parser.add_argument("--use_gpu", action="store_true")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    print(f"load average before start: {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs", flush=True)

    init_ray()
    ray.data.DataContext.get_current().enable_progress_bars = False
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "fonts"
        generate_fonts(load_config(FontsSpec, file=args.fonts_config), data, num_workers=2, progress=False)
        base = replace(load_config(GZSNetTrainConfig, file=args.config), data=str(data), ae_ds_baseline=False,
                       experiment="benchmarks", epochs=args.epochs, max_steps_per_epoch=args.steps,
                       use_gpu=args.use_gpu, storage_path=str(Path(tmp) / "checkpoints"))
        loader_groups_per_s(base, epoch=0)  # warm-up: Ray Data workers start and import
        loader = loader_groups_per_s(base, epoch=1)
        print(f"loader alone, one worker's pipeline: {loader:.1f} groups/s", flush=True)
        rows = []
        for precision in args.precisions.split(","):
            for workers in map(int, args.workers.split(",")):
                cfg = replace(base, run_name=f"bench-{workers}w-{precision}-{time.time_ns()}", num_workers=workers,
                              cpus_per_worker=1.0 if args.use_gpu else 0.5, mixed_precision=precision)
                _, _, final = get_method("gzsnet").train(cfg)
                groups_per_s = final["groups"] / final["epoch_s"]
                rows.append((workers, precision, groups_per_s))
                if "gpu_max_memory_gib" in final:
                    print(f"  peak GPU memory of a worker: {final['gpu_max_memory_gib']:.1f} GiB", flush=True)
                print(f"workers={workers} precision={precision}: {groups_per_s:.1f} groups/s", flush=True)

    width = 1 + len(base.model.attributes)
    device = torch.cuda.get_device_name() if args.use_gpu else platform.processor() or "CPU"
    print(f"\n{time.strftime('%Y-%m-%d')} {platform.node()} ({device}); model {args.config}, data {args.fonts_config}, "
          f"{base.groups_per_batch} groups/worker/step, {width} images/group")
    print("| setting | groups/s | images/s | per worker images/s | ratio | loader / training |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| loader alone (1 pipeline) | {loader:.1f} | {loader * width:.0f} | | | |")
    for workers, precision, speed in rows:
        print(f"| {workers} worker(s), {precision} | {speed:.1f} | {speed * width:.0f} | {speed * width / workers:.0f} "
              f"| {speed / rows[0][2]:.2f} | {loader * workers / speed:.1f} |")


if __name__ == "__main__":
    main()
