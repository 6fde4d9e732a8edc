"""CADA-VAE training speed on a CUB-shaped problem: a plain PyTorch loop vs Ray Train with 1 and 2 workers.

    . scripts/offline-env.sh
    python benchmarks/cadavae_training.py                  # per-epoch figures (3 epochs per setting)
    python benchmarks/cadavae_training.py --whole_run      # also the whole run: 100 epochs + evaluation

The problem has CUB's shapes (7,057 trainval / 1,764 test_seen / 2,967 test_unseen rows of 2048-d
features, 312-d L2-normalised attributes, 150 seen / 50 unseen classes) with synthetic features: a
class prototype plus noise, min-max scaled on trainval. It is written once to a temp dir (untimed).

Settings, all on the paper's model and schedule (batch 50 per worker, summed loss, Adam amsgrad):
- plain loop: one process, one torch thread, random batches of 50 from an in-memory tensor, the
  official code's training structure (its per-step work is what the ~16 s/epoch figure measures);
- Ray Train with 1 and 2 DDP workers (one torch thread each): `zsdist.pipelines.cadavae.train`, data
  through Ray Data, every term reduced across ranks and reported per epoch.
Each setting's figure is its last epoch (start-up and the first epoch excluded); ratios are against
the plain loop measured in the same run.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from datagen.ray_setup import init_ray
from zsdist.data.features import read_feature_dataset, write_feature_dataset
from zsdist.models.cadavae import CADAVAE, CADAVAEConfig
from zsdist.models.cadavae_losses import WarmupConfig, cadavae_losses, loss_weights
from zsdist.pipelines import cadavae
from zsdist.train.cadavae import CADAVAETrainConfig

CUB = {"trainval": 7057, "test_seen": 1764, "test_unseen": 2967, "seen": 150, "unseen": 50,
       "feature_dim": 2048, "attribute_dim": 312}


def cub_shaped_dataset(out: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    classes = CUB["seen"] + CUB["unseen"]
    attributes = rng.random((classes, CUB["attribute_dim"]), dtype=np.float32)
    attributes /= np.linalg.norm(attributes, axis=1, keepdims=True)
    # Features depend on the attributes (a fixed random map), so the problem is learnable, as CUB's is.
    prototypes = np.maximum(attributes @ rng.normal(size=(CUB["attribute_dim"], CUB["feature_dim"])), 0)
    labels = np.concatenate([
        rng.integers(0, CUB["seen"], CUB["trainval"]), rng.integers(0, CUB["seen"], CUB["test_seen"]),
        rng.integers(CUB["seen"], classes, CUB["test_unseen"])])
    splits = np.repeat(["trainval", "test_seen", "test_unseen"],
                       [CUB["trainval"], CUB["test_seen"], CUB["test_unseen"]])
    features = prototypes[labels] + rng.normal(scale=0.5, size=(len(labels), CUB["feature_dim"]))
    low, high = features[: CUB["trainval"]].min(0), features[: CUB["trainval"]].max(0)
    return write_feature_dataset(
        out, name="cub-shaped-synthetic", features=((features - low) / (high - low)).astype(np.float32),
        labels=labels, splits=splits, class_names=[f"class{c:03d}" for c in range(classes)],
        attributes=attributes, source="benchmarks/cadavae_training.py", scaling={"kind": "minmax", "fit": "trainval"})


def plain_loop_epoch_s(data_dir: Path, epochs: int) -> float:
    """Seconds of the last of `epochs` epochs of a single-process loop with the official code's structure."""
    torch.set_num_threads(1)
    data = read_feature_dataset(data_dir)
    x_all, labels = data.split_rows("trainval")
    x_all, attributes = torch.from_numpy(x_all), torch.from_numpy(data.attributes)
    a_all = attributes[torch.from_numpy(labels)]
    torch.manual_seed(0)
    model = CADAVAE(CADAVAEConfig(feature_dim=x_all.shape[1], attribute_dim=attributes.shape[1], faithful=True))
    optimizer = torch.optim.Adam(model.parameters(), lr=1.5e-4, amsgrad=True)
    generator = torch.Generator().manual_seed(0)
    for epoch in range(epochs):
        weights = loss_weights(epoch, WarmupConfig())
        started = time.perf_counter()
        for _ in range(math.ceil(len(x_all) / 50)):  # an official "epoch": ceil(N / 50) random batches
            idx = torch.randperm(len(x_all), generator=generator)[:50]
            terms = cadavae_losses(model, x_all[idx], a_all[idx], weights, generator=generator, reduction="sum")
            optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            optimizer.step()
        seconds = time.perf_counter() - started
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per setting; the last one is timed")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--whole_run", action="store_true", help="also time 100 epochs + evaluation (2 workers)")
    args = parser.parse_args()
    print(f"load average before start: {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = cub_shaped_dataset(Path(tmp) / "cub-shaped")
        plain = plain_loop_epoch_s(data_dir, args.epochs)
        rows.append(("plain loop, 1 process", plain))
        print(f"plain loop: {plain:.2f} s/epoch", flush=True)
        init_ray()
        base = CADAVAETrainConfig(data=str(data_dir), experiment="benchmarks", epochs=args.epochs,
                                  storage_path=str(Path(tmp) / "checkpoints"))
        for workers in map(int, args.workers.split(",")):
            cfg = replace(base, run_name=f"bench-{workers}w-{time.time_ns()}", num_workers=workers,
                          cpus_per_worker=1.0 if workers == 1 else 0.5)
            _, _, final = cadavae.train(cfg)
            rows.append((f"Ray Train, {workers} DDP worker(s)", final["samples"] / final["samples_per_s"]))
            print(f"{rows[-1][0]}: {rows[-1][1]:.2f} s/epoch", flush=True)
        if args.whole_run:
            started = time.perf_counter()
            cfg = replace(base, run_name=f"bench-whole-{time.time_ns()}", epochs=100, num_workers=2)
            cadavae.train(cfg)
            trained = time.perf_counter() - started
            metrics = cadavae.evaluate(cadavae.CADAVAEEvalConfig(run_name=cfg.run_name, experiment="benchmarks",
                                                                 storage_path=cfg.storage_path))
            total = time.perf_counter() - started
            print(f"whole run (2 workers): training {trained / 60:.1f} min, with evaluation {total / 60:.1f} min; "
                  f"S {metrics['S']:.3f} U {metrics['U']:.3f} H {metrics['H']:.3f}", flush=True)

    samples = CUB["trainval"]
    print(f"\n{time.strftime('%Y-%m-%d')} {platform.node()} ({platform.processor() or 'CPU'}), "
          f"CUB-shaped synthetic, {samples} trainval rows, batch 50 per worker, torch {torch.__version__}")
    print("| setting | s/epoch | samples/s | speed-up vs plain loop |")
    print("| --- | --- | --- | --- |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {samples / seconds:.0f} | {plain / seconds:.2f} |")


if __name__ == "__main__":
    main()
