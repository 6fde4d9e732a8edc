"""CADA-VAE training speed on a CUB-shaped problem: the official code's loop vs zsdist, on one CPU core.

    . scripts/offline-env.sh
    python benchmarks/cadavae_training.py                          # per-epoch figures, 5 rounds
    python benchmarks/cadavae_training.py --whole_run --seeds 2    # also whole runs, results compared
    python benchmarks/cadavae_training.py --rounds 3 --settings "" --whole_run   # as in RESULTS.md

The problem has CUB's shapes (7,057 trainval / 1,764 test_seen / 2,967 test_unseen rows of 2048-d
features, 312-d L2-normalised attributes, 150 seen / 50 unseen classes) and is learnable at about
CUB's difficulty (`cub_shaped_dataset`), min-max scaled on trainval. It is written once to a temp dir
(untimed). Everything runs the paper's model and schedule (batch 50, summed loss, Adam amsgrad).

This machine is shared and its speed drifts by tens of percent within minutes, so the loops being
compared run interleaved, one epoch each in turn, in one process on one torch thread:
- baseline, the official code's loop (model/vaemodel.py trainstep and train_vae): float32, a random batch
  of 50 drawn for every step, each decoder called once per latent (four decoder passes of 50 rows),
  torch's default (per-tensor) Adam. Its model and loss terms are zsdist's (default sampling), so the
  results compare; `check_same_terms` asserts that both loops compute the same loss terms;
- the same loop with zsdist's decoding, each decoder called once on both latents (100 rows), to show
  what that change alone is worth (per epoch only);
- zsdist's worker loop (`zsdist.methods.cadavae.training.train_one_epoch`, a world of one gloo rank): the shard in
  memory, fused Adam, float32 or bf16 autocast.
Per-epoch figures are medians over the rounds after the first. This process keeps glibc's default
heap, as the official code would; Ray Train's workers set theirs up (zsdist/train/cpu_worker.py: one
malloc arena, so that the thread the loop runs in keeps the heap settings). Ray Train itself is then timed
through `zsdist.methods.cadavae.pipeline.train` with 1 and 2 DDP workers: its per-epoch figure and its fixed
cost (start-up, data, last checkpoint: wall time minus the epochs).

--whole_run times whole runs end to end per seed, one after the other (--concurrent: at the same time,
one pinned CPU each, so that both see the same minutes of a machine whose speed drifts; but they then
share memory bandwidth, and zsdist's Ray processes share its worker's CPU, which slowed zsdist more
than the baseline: benchmarks/RESULTS.md): the baseline's 100 epochs
and its GZSL/ZSL evaluation in this process, then `zsdist train cadavae` (bf16, 1 DDP worker, the
default checkpoint every 5 epochs) as a user runs it, in a fresh interpreter that starts its own Ray
(imports, Ray, MLflow, Ray Train, checkpoints, teardown: all counted), and the same evaluation of its
final checkpoint here. Both print S/U/H: the speed-up counts only if the results agree.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
import ray
import torch
import torch.distributed as dist
import torch.nn.functional as F

from zsdist.base.ray_setup import init_ray
from zsdist.data.features import read_feature_dataset, write_feature_dataset
from zsdist.data.zsl_roles import roles
from zsdist.eval.latent_classifier import ClassifierConfig
from zsdist.methods import get_method
from zsdist.methods.cadavae import scores as cadavae_scores
from zsdist.methods.cadavae.config import CADAVAETrainConfig
from zsdist.methods.cadavae.model import CADAVAE, CADAVAEConfig
from zsdist.methods.cadavae.objective import CADAVAEObjective, WarmupConfig, cadavae_losses, loss_weights
from zsdist.methods.cadavae.training import (
    epoch_batches,
    epoch_generator,
    make_optimizer,
    train_one_epoch,
)
from zsdist.train.checkpoint import latest_checkpoint, load_state
from zsdist.train.precision import bf16_enabled

CUB = {"trainval": 7057, "test_seen": 1764, "test_unseen": 2967, "seen": 150, "unseen": 50,
       "feature_dim": 2048, "attribute_dim": 312}


def cub_shaped_dataset(out: Path, seed: int = 0, code_dim: int = 8, noise: float = 2.0) -> Path:
    """A learnable problem of CUB's shapes: each class is a random code in R^code_dim; its attributes and its
    images' features are two fixed random maps of that code (features: plus noise, then ReLU, as pooled
    ResNet features are non-negative). CADA-VAE learns it at noise 2 (20 epochs: S 0.78, U 0.99); from
    noise ~2.5 on its image latents collapse (S 0, U at chance) in both the official loop and zsdist's."""
    rng = np.random.default_rng(seed)
    classes = CUB["seen"] + CUB["unseen"]
    code = rng.normal(size=(classes, code_dim))
    attributes = 1 / (1 + np.exp(-code @ rng.normal(size=(code_dim, CUB["attribute_dim"])) / np.sqrt(code_dim)))
    attributes /= np.linalg.norm(attributes, axis=1, keepdims=True)  # L2-normalised, as xlsa17's att
    prototypes = code @ rng.normal(size=(code_dim, CUB["feature_dim"])) / np.sqrt(code_dim)
    labels = np.concatenate([
        rng.integers(0, CUB["seen"], CUB["trainval"]), rng.integers(0, CUB["seen"], CUB["test_seen"]),
        rng.integers(CUB["seen"], classes, CUB["test_unseen"])])
    splits = np.repeat(["trainval", "test_seen", "test_unseen"],
                       [CUB["trainval"], CUB["test_seen"], CUB["test_unseen"]])
    features = np.maximum(prototypes[labels] + rng.normal(scale=noise, size=(len(labels), CUB["feature_dim"])), 0)
    low, high = features[: CUB["trainval"]].min(0), features[: CUB["trainval"]].max(0)
    return write_feature_dataset(
        out, name="cub-shaped-synthetic", features=((features - low) / (high - low)).astype(np.float32),
        labels=labels, splits=splits, class_names=[f"class{c:03d}" for c in range(classes)],
        attributes=attributes.astype(np.float32), source="benchmarks/cadavae_training.py",
        scaling={"kind": "minmax", "fit": "trainval"})


def loop_config(precision: str, seed: int) -> CADAVAETrainConfig:
    return CADAVAETrainConfig(mixed_precision=precision, seed=seed)


class Data:
    def __init__(self, data_dir: Path) -> None:
        self.dataset = read_feature_dataset(data_dir)
        x, labels = self.dataset.split_rows("trainval")
        self.x, self.labels = torch.from_numpy(x), torch.from_numpy(labels)
        self.attributes = torch.from_numpy(self.dataset.attributes)

    def model(self, seed: int) -> CADAVAE:
        torch.manual_seed(seed)
        return CADAVAE(CADAVAEConfig(feature_dim=self.x.shape[1], attribute_dim=self.attributes.shape[1]))


def official_terms(model: CADAVAE, x: torch.Tensor, a: torch.Tensor, weights: dict[str, float], *,
                   generator: torch.Generator) -> dict[str, torch.Tensor]:
    """cadavae_losses' terms computed as the official trainstep computes them: each latent through each
    decoder in its own call (B rows each, four decoder passes), and the alignment term left out of the
    graph while its factor is 0. Same draws from `generator` in the same order, so the same values."""
    l1 = partial(F.l1_loss, reduction="sum")
    mu_x, logvar_x = model.image.encode(x)  # (B, L) each
    z_x = model.reparameterize(mu_x, logvar_x, generator)
    mu_a, logvar_a = model.attribute.encode(a)
    z_a = model.reparameterize(mu_a, logvar_a, generator)
    terms = {
        "reconstruction": l1(model.image.decode(z_x), x) + l1(model.attribute.decode(z_a), a),
        "cross_reconstruction": l1(model.image.decode(z_a), x) + l1(model.attribute.decode(z_x), a),
        "kl": -0.5 * (torch.sum(1 + logvar_x - mu_x.pow(2) - logvar_x.exp())
                      + torch.sum(1 + logvar_a - mu_a.pow(2) - logvar_a.exp())),
        "distribution_alignment": torch.sqrt(
            ((mu_x - mu_a) ** 2).sum(dim=1)
            + ((torch.exp(0.5 * logvar_x) - torch.exp(0.5 * logvar_a)) ** 2).sum(dim=1)).sum(),
    }
    total = terms["reconstruction"] + weights["beta"] * terms["kl"] + weights["gamma"] * terms["cross_reconstruction"]
    if weights["delta"] > 0:
        total = total + weights["delta"] * terms["distribution_alignment"]
    return terms | {"total": total}


def check_same_terms(data: Data) -> None:
    """The baseline's step computes zsdist's loss terms (only the order of the work differs), or this fails."""
    model, x, labels = data.model(0), data.x[:50], data.labels[:50]
    weights = loss_weights(30, WarmupConfig())  # every factor > 0
    ours = cadavae_losses(model, x, data.attributes[labels], weights, generator=torch.Generator().manual_seed(1))
    theirs = official_terms(model, x, data.attributes[labels], weights, generator=torch.Generator().manual_seed(1))
    for name, value in ours.items():
        if not torch.allclose(value, theirs[name], rtol=1e-5):
            raise AssertionError(f"baseline term {name}: {theirs[name].item()} != zsdist's {value.item()}")


class BaselineLoop:
    """The official code's training loop (model/vaemodel.py train_vae): a random batch of 50 per step.

    batched_decoders=True runs zsdist's cadavae_losses instead of the official step's four decoder calls.
    """

    def __init__(self, data: Data, seed: int, *, batched_decoders: bool = False) -> None:
        self.data, self.model = data, data.model(seed)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1.5e-4, amsgrad=True)
        self.generator = torch.Generator().manual_seed(seed)
        self.losses = cadavae_losses if batched_decoders else official_terms
        self.name = ("official loop with zsdist's batched decoders" if batched_decoders
                     else "baseline: the official code's loop")

    def epoch(self, epoch: int) -> float:
        started, weights, n = time.perf_counter(), loss_weights(epoch, WarmupConfig()), len(self.data.x)
        for _ in range(math.ceil(n / 50)):  # an official "epoch": ceil(N / 50) random batches
            idx = torch.randperm(n, generator=self.generator)[:50]
            terms = self.losses(self.model, self.data.x[idx], self.data.attributes[self.data.labels[idx]],
                                weights, generator=self.generator)
            self.optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            self.optimizer.step()
        return time.perf_counter() - started


def precision_name(mixed_precision: str) -> str:
    """What a setting really runs: bf16 falls back to float32 on CPUs without AVX512-BF16 or AMX."""
    return "bf16 autocast" if bf16_enabled(mixed_precision, torch.device("cpu")) else "float32"


class ZsdistLoop:
    """zsdist's per-worker epoch (what each Ray Train worker runs), here as the only rank of a gloo world."""

    def __init__(self, data: Data, seed: int, precision: str) -> None:
        self.name = f"zsdist loop, {precision_name(precision)}"
        self.cfg, self.data, self.model = loop_config(precision, seed), data, data.model(seed)
        self.optimizer = make_optimizer(self.model, self.cfg)
        self.objective = CADAVAEObjective(self.model, self.cfg.reduction)

    def epoch(self, epoch: int) -> float:
        generator = epoch_generator(self.cfg.seed, epoch, 0)
        steps = math.ceil(len(self.data.labels) / self.cfg.batch_size)
        batches = epoch_batches(self.data.x, self.data.labels, self.cfg.batch_size, steps, generator)
        metrics = train_one_epoch(self.objective, self.optimizer, batches, self.data.attributes, self.cfg, epoch,
                                  torch.device("cpu"), generator)
        return metrics["samples"] / metrics["samples_per_s"]


def interleaved(loops: list, epochs: int) -> list[list[float]]:
    """Seconds per epoch of every loop, the loops taking turns epoch by epoch."""
    times = [[] for _ in loops]
    for epoch in range(epochs):
        for loop, seconds in zip(loops, times):
            seconds.append(loop.epoch(epoch))
    return times


def scores(data: Data, model: CADAVAE, seed: int) -> tuple[dict[str, float], float]:
    """`zsdist eval cadavae`'s GZSL and ZSL scores of a model on the test roles, and their seconds."""
    started = time.perf_counter()
    split = roles(data.dataset, loop_config("none", seed), validation=False)
    metrics, _ = cadavae_scores.scores(model.eval(), data.dataset, split, ClassifierConfig(seed=seed), shots=())
    return metrics, time.perf_counter() - started


def ray_train(data_dir: Path, storage: Path, workers: int, precision: str, epochs: int) -> tuple[float, float]:
    """Median seconds per epoch after the first, and the fixed cost (wall minus epochs), of one Ray Train run."""
    cfg = CADAVAETrainConfig(data=str(data_dir), experiment="benchmarks", epochs=epochs, storage_path=str(storage),
                             run_name=f"bench-{workers}w-{precision}-{time.time_ns()}", num_workers=workers,
                             cpus_per_worker=1.0 if workers == 1 else 0.5, mixed_precision=precision)
    started = time.perf_counter()
    _, checkpoint, _ = get_method("cadavae").train(cfg)
    wall = time.perf_counter() - started
    seconds = [h["samples"] / h["samples_per_s"] for h in load_state(checkpoint)["history"]]
    return float(np.median(seconds[1:])), wall - sum(seconds)


def whole_runs(data: Data, data_dir: Path, home: Path, seed: int, *,
               concurrent: bool) -> list[tuple[str, int, float, dict]]:
    """Seconds and scores of one whole baseline run and one whole `zsdist train cadavae` run (module docstring).

    concurrent: both at once, the baseline (this process) pinned to CPU 0 and zsdist's command (with the
    Ray it starts) to CPU 1, so that both see the same minutes of a shared machine; else one after the other.
    """
    command = [sys.executable, "-m", "zsdist", "train", "cadavae", "--data", str(data_dir), "--run_name",
               f"whole-{seed}", "--seed", str(seed), "--epochs", "100", "--num_workers", "1",
               "--cpus_per_worker", "1", "--mixed_precision", "bf16"]
    env = {**os.environ, "ZSDIST_HOME": str(home)}
    ended: list[float] = []
    if concurrent:
        cpus = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {0})
        zsdist_started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        os.sched_setaffinity(process.pid, {1})  # before it starts Ray, whose processes inherit it
        waiter = threading.Thread(target=lambda: (process.wait(), ended.append(time.perf_counter())))
        waiter.start()

    baseline, started = BaselineLoop(data, seed), time.perf_counter()
    try:
        for epoch in range(100):
            baseline.epoch(epoch)
        metrics, _ = scores(data, baseline.model, seed)
    except BaseException:
        if concurrent:  # not a zsdist run left behind, holding its CPU and its Ray
            process.terminate()
            waiter.join()
        raise
    rows = [(baseline.name, seed, time.perf_counter() - started, metrics)]
    print(rows[-1], flush=True)

    if concurrent:
        waiter.join()
        os.sched_setaffinity(0, cpus)
        if process.returncode:
            raise subprocess.CalledProcessError(process.returncode, command)
    else:
        zsdist_started = time.perf_counter()
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        ended.append(time.perf_counter())
    trained = ended[0] - zsdist_started
    model = data.model(seed)
    model.load_state_dict(load_state(latest_checkpoint(home / "checkpoints" / f"whole-{seed}"))["model"])
    metrics, eval_s = scores(data, model, seed)
    rows.append((f"zsdist train cadavae, {precision_name('bf16')}, 1 DDP worker", seed, trained + eval_s, metrics))
    print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved epochs per loop (the first is not timed)")
    parser.add_argument("--settings", default="1:bf16,1:none,2:bf16,2:none",
                        help="Ray Train settings as workers:mixed_precision, comma-separated (\"\" for none)")
    parser.add_argument("--whole_run", action="store_true", help="also 100-epoch runs of baseline and zsdist bf16")
    parser.add_argument("--seeds", type=int, default=1, help="whole runs per method (seeds 0..N-1)")
    parser.add_argument("--concurrent", action="store_true",
                        help="run each seed's two whole runs at once, one pinned CPU each (needs 2 CPUs)")
    args = parser.parse_args()
    if args.concurrent and len(os.sched_getaffinity(0)) < 2:
        parser.error("--concurrent pins the two runs to CPUs 0 and 1: this process may use fewer than 2 CPUs")
    torch.set_num_threads(1)
    print(f"load average before start: {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs", flush=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = cub_shaped_dataset(Path(tmp) / "cub-shaped")
        data = Data(data_dir)
        check_same_terms(data)
        loops = [BaselineLoop(data, 0), BaselineLoop(data, 0, batched_decoders=True), ZsdistLoop(data, 0, "none"),
                 ZsdistLoop(data, 0, "bf16")]
        epoch_s = {loop.name: float(np.median(t[1:])) for loop, t in zip(loops, interleaved(loops, args.rounds))}
        base = epoch_s[loops[0].name]
        for name, seconds in epoch_s.items():
            print(f"{name}: {seconds:.2f} s/epoch, {base / seconds:.2f}x", flush=True)
        settings = [setting for setting in args.settings.split(",") if setting]
        if settings:
            init_ray()
        ray_rows = {}
        for setting in settings:
            workers, precision = int(setting.split(":")[0]), setting.split(":")[1]
            ray_rows[setting] = ray_train(data_dir, Path(tmp) / "checkpoints", workers, precision, args.rounds)
            print(f"Ray Train {setting}: {ray_rows[setting][0]:.2f} s/epoch, fixed {ray_rows[setting][1]:.1f} s",
                  flush=True)
        ray.shutdown()  # each whole zsdist run starts its own, as `zsdist train` does
        whole = [row for seed in range(args.seeds if args.whole_run else 0)
                 for row in whole_runs(data, data_dir, Path(tmp) / "whole", seed, concurrent=args.concurrent)]

    print(f"\n{time.strftime('%Y-%m-%d')} {platform.node()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"CUB-shaped synthetic ({CUB['trainval']} trainval rows), batch 50, one torch thread per process")
    print("| setting | s/epoch | speed-up vs baseline |\n| --- | --- | --- |")
    for name, seconds in epoch_s.items():
        print(f"| {name} (interleaved, 1 process) | {seconds:.2f} | {base / seconds:.2f} |")
    for setting, (seconds, fixed) in ray_rows.items():
        workers, precision = setting.split(":")
        print(f"| Ray Train, {workers} DDP worker(s), {precision_name(precision)} "
              f"(fixed cost {fixed:.0f} s) | {seconds:.2f} | {base / seconds:.2f} |")
    if whole:
        print("\n| whole run (100 epochs + GZSL/ZSL evaluation) | seed | minutes | S | U | H | ZSL acc |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, seed, seconds, m in whole:
            print(f"| {name} | {seed} | {seconds / 60:.2f} | {m['S']:.3f} | {m['U']:.3f} | {m['H']:.3f} | "
                  f"{m['zsl_accuracy']:.3f} |")
        for seed in sorted({row[1] for row in whole}):
            base_s, zsdist_s = (row[2] for row in whole if row[1] == seed)
            print(f"seed {seed}: zsdist's whole run is {base_s / zsdist_s:.2f}x the baseline's")


if __name__ == "__main__":
    main()
