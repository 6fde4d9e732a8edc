"""Tune's overhead: a search of K tiny CADA-VAE trials against K direct `zsdist train` runs of the same configs.

    . scripts/offline-env.sh
    python benchmarks/tune_overhead.py              # K = 4 trials of 6 epochs, one at a time
    python benchmarks/tune_overhead.py --trials 12 --skip_commands   # the search size of `zsdist tune`'s example

Both sides train the same K configs (learning rates on a grid) on the same small synthetic feature
dataset, one run at a time with one Ray Train worker each, so the difference is what the search adds:
Tune's driver and its trial actor (reused from trial to trial), per-epoch reports to Tune and ASHA
(grace period = epochs: its one rung is the last epoch, where a stop no longer cuts a trial's run, so
every trial trains and finishes as its direct run does), the MLflow parent run and the per-epoch
validation score that searches need.
The per-epoch validation is also timed on its own (`validate_every=1` on the direct runs), so the
table separates Tune's own cost from the objective's. These sides run in this process, after its
imports and Ray's start (untimed), the direct runs first, so they pay the first run's cold start of
MLflow, Ray Data and Ray Train in this process, and the search its trial actor's (a new process).

Then the same as a user runs it: K `zsdist train cadavae` commands (with the per-epoch validation)
against one `zsdist tune cadavae` command, each a fresh interpreter that imports zsdist and starts its
own Ray. Ratios are within this one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import ray
import torch
import yaml

from zsdist.base.ray_setup import init_ray
from zsdist.config import to_dict
from zsdist.data.features import write_feature_dataset
from zsdist.eval.latent_classifier import ClassifierConfig
from zsdist.methods import get_method
from zsdist.methods.cadavae.model import CADAVAEConfig
from zsdist.methods.cadavae.objective import WarmupConfig
from zsdist.tune.config import SearchConfig, tune_config
from zsdist.tune.search import run_search

CLASSIFIER = ClassifierConfig(seen_samples_per_class=50, unseen_samples_per_class=100, epochs=5)

CADAVAETuneConfig = tune_config(get_method("cadavae"))


def small_dataset(out: Path, classes: int = 20, seen: int = 15, dim: int = 64, seed: int = 0) -> Path:
    """Features and attributes that are two random linear maps of a per-class code (images add noise)."""
    rng = np.random.default_rng(seed)
    code = rng.normal(size=(classes, 8))
    attributes = code @ rng.normal(size=(8, 16))
    attributes /= np.linalg.norm(attributes, axis=1, keepdims=True)
    to_features = rng.normal(size=(8, dim))
    rows = [(c, split) for c in range(classes)
            for split, n in ((("trainval", 60), ("test_seen", 15)) if c < seen else (("test_unseen", 30),))
            for _ in range(n)]
    labels = np.array([c for c, _ in rows])
    features = code[labels] @ to_features + rng.normal(scale=0.5, size=(len(rows), dim))
    splits = np.array([split for _, split in rows])
    low, high = features[splits == "trainval"].min(0), features[splits == "trainval"].max(0)
    return write_feature_dataset(out, name="tune-overhead", features=((features - low) / (high - low)).astype(np.float32),
                                 labels=labels, splits=splits, class_names=[f"c{c}" for c in range(classes)],
                                 attributes=attributes.astype(np.float32), source="benchmarks/tune_overhead.py",
                                 scaling={"kind": "minmax", "fit": "trainval"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--skip_commands", action="store_true", help="only the in-process sides")
    args = parser.parse_args()
    print(f"load average before start: {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs", flush=True)
    lrs = [float(v) for v in np.geomspace(1e-3, 1e-2, args.trials)]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ZSDIST_HOME"] = tmp  # this run's own MLflow store and checkpoints
        data = small_dataset(Path(tmp) / "features")
        space = Path(tmp) / "space.yaml"
        space.write_text(yaml.safe_dump({"lr": {"grid": lrs}}))
        base = CADAVAETuneConfig(
            data=str(data), experiment="overhead", epochs=args.epochs, batch_size=32, num_workers=1,
            cpus_per_worker=0.9, model=CADAVAEConfig(latent_dim=8, image_encoder_hidden=64, image_decoder_hidden=64,
                                                     attribute_encoder_hidden=32, attribute_decoder_hidden=32),
            warmup=WarmupConfig(beta_end=2, gamma_start=0, gamma_end=2, delta_start=0, delta_end=2),
            validation="pseudo_unseen", validation_classifier=CLASSIFIER,
            search=SearchConfig(name="overhead", space=str(space), searcher="random", num_samples=1,
                                grace_period=args.epochs, max_concurrent_trials=1, test_seeds=0))
        init_ray()
        timings = {}
        for label, every in (("direct runs", 0), ("direct runs + per-epoch validation", 1)):
            started = time.perf_counter()
            for i, lr in enumerate(lrs):
                get_method("cadavae").train(replace(base.training(), run_name=f"direct-{every}-{i}", lr=lr, validate_every=every))
            timings[label] = time.perf_counter() - started
            print(f"{label}: {timings[label]:.1f} s", flush=True)
        started = time.perf_counter()
        result = run_search("cadavae", base)
        timings["search (Tune, 1 trial at a time)"] = time.perf_counter() - started
        assert len(result.trials) == args.trials and all(t["epochs"] == args.epochs for t in result.trials)
        print(f"search: {timings['search (Tune, 1 trial at a time)']:.1f} s", flush=True)
        ray.shutdown()  # each command below starts its own
        if not args.skip_commands:
            timings |= commands(base, lrs, Path(tmp))

    direct = timings["direct runs"]
    print(f"\n{time.strftime('%Y-%m-%d')} {platform.node()}, {os.cpu_count()} CPUs, torch {torch.__version__}: "
          f"{args.trials} tiny CADA-VAE trials x {args.epochs} epochs, 1 Ray Train worker each, one at a time")
    print("| what | wall s | per trial s | vs direct runs |\n| --- | --- | --- | --- |")
    for label, seconds in timings.items():
        print(f"| {label} | {seconds:.1f} | {seconds / args.trials:.1f} | {seconds / direct:.3f} |")
    with_validation = timings["direct runs + per-epoch validation"]
    print(f"Tune's own overhead (search vs direct runs with the same per-epoch validation): "
          f"{(timings['search (Tune, 1 trial at a time)'] / with_validation - 1) * 100:+.1f}%")
    if COMMAND_RUNS in timings:
        print(f"As commands (one `zsdist tune` vs {args.trials} `zsdist train`, each starting its own Ray): "
              f"{(timings[COMMAND_SEARCH] / timings[COMMAND_RUNS] - 1) * 100:+.1f}%")


COMMAND_RUNS, COMMAND_SEARCH = "K `zsdist train cadavae` commands", "one `zsdist tune cadavae` command"


def commands(base: Any, lrs: list[float], tmp: Path) -> dict[str, float]:
    """Wall seconds of K `zsdist train` commands (per-epoch validation on) and of one `zsdist tune` command."""
    env = {**os.environ, "ZSDIST_HOME": str(tmp / "commands")}
    timings = {}
    started = time.perf_counter()
    for i, lr in enumerate(lrs):
        config = tmp / f"train-{i}.yaml"
        config.write_text(yaml.safe_dump(to_dict(replace(base.training(), run_name=f"command-{i}", lr=lr,
                                                         validate_every=1))))
        subprocess.run([sys.executable, "-m", "zsdist", "train", "cadavae", "--config", str(config)],
                       check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    timings[COMMAND_RUNS] = time.perf_counter() - started
    print(f"{COMMAND_RUNS}: {timings[COMMAND_RUNS]:.1f} s", flush=True)
    config = tmp / "search.yaml"
    config.write_text(yaml.safe_dump(to_dict(replace(base, search=replace(base.search, name="command-search")))))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "zsdist", "tune", "cadavae", "--config", str(config)],
                   check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    timings[COMMAND_SEARCH] = time.perf_counter() - started
    print(f"{COMMAND_SEARCH}: {timings[COMMAND_SEARCH]:.1f} s", flush=True)
    return timings


if __name__ == "__main__":
    main()
