"""What one Ray Train run costs before it trains: wall time and the machine's CPU-seconds, in one run.

    . scripts/offline-env.sh
    python benchmarks/train_startup.py --repeats 3

On a local Ray cluster of `--cpus` CPUs, each setting runs `--repeats` times, one after another:
- bare: a TorchTrainer of 2 gloo workers whose loop reports once (Ray Train's own start-up and
  shutdown: controller, worker group, process group);
- polar: a tiny polar VAE run (`zsdist train polar-vae`'s path: MLflow, Ray Data, 2 workers, 3 epochs of
  ~100 images, validation every epoch);
- polar, finished: the same run again, which finds its last checkpoint and trains nothing.
CPU-seconds are the whole machine's busy time over the call (/proc/stat), so a shared machine inflates
them: compare settings within one run. The tests' time is mostly these start-ups (README, tests).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import ray.train
from ray.train.torch import TorchConfig, TorchTrainer

from datagen.run import generate_polar
from datagen.spec.polar import PolarSpec
from zsdist.base.ray_setup import init_ray
from zsdist.methods import get_method
from zsdist.methods.polar_vae.config import PolarTrainConfig
from zsdist.methods.polar_vae.model import PolarVAEConfig

SPEC = PolarSpec(n_points=240, n_test=40, transect_points=5, resolution=32, shard_rows=64)
MODEL = PolarVAEConfig(encoder_channels=(4, 8), decoder_channels=(8, 4, 4), decoder_start_channels=4)


def busy_and_total_ticks() -> tuple[int, int]:
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # idle and iowait are not busy


def measured(call) -> tuple[float, float]:
    """(wall seconds, CPU-seconds of the whole machine) of call()."""
    cores = os.cpu_count() or 1
    busy, total = busy_and_total_ticks()
    start = time.perf_counter()
    call()
    wall = time.perf_counter() - start
    busy_after, total_after = busy_and_total_ticks()
    return wall, wall * cores * (busy_after - busy) / max(total_after - total, 1)


def report_once(config: dict) -> None:
    ray.train.report({"done": 1})


def bare_run(storage: Path, name: str) -> None:
    TorchTrainer(report_once, torch_config=TorchConfig(backend="gloo"),
                 scaling_config=ray.train.ScalingConfig(num_workers=2, resources_per_worker={"CPU": 0.5}),
                 run_config=ray.train.RunConfig(name=name, storage_path=str(storage))).fit()


def measure(root: Path, args: argparse.Namespace) -> list[tuple[str, float, float]]:
    """(setting, wall s, CPU-s) of every run, the settings interleaved."""
    init_ray(num_cpus=args.cpus)
    generate_polar(SPEC, root / "polar", num_workers=2, progress=False)
    polar = get_method("polar-vae")
    rows = []
    for i in range(args.repeats):
        cfg = PolarTrainConfig(data=str(root / "polar"), model=MODEL, epochs=3, batch_size=16, seed=7,
                               validate_every=1, run_name=f"polar-{i}")
        rows.append(("bare TorchTrainer, 2 workers", *measured(lambda i=i: bare_run(root / "bare", f"bare-{i}"))))
        rows.append(("polar VAE, 3 tiny epochs", *measured(lambda cfg=cfg: polar.train(cfg))))
        rows.append(("polar VAE, finished: rerun", *measured(lambda cfg=cfg: polar.train(cfg))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each setting")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    args = parser.parse_args()
    if args.repeats < 1 or args.cpus < 1:
        parser.error("--repeats and --cpus must be >= 1")
    root = Path(tempfile.mkdtemp(prefix="zsdist-startup-"))
    os.environ.update(ZSDIST_HOME=str(root), MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}")
    try:
        rows = measure(root, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)  # the runs' checkpoints and MLflow store
    print(f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, Ray {ray.__version__}, "
          f"{args.repeats} repeats, {time.strftime('%Y-%m-%d')}")
    print("| setting | wall s (each run) | CPU-s (each run) | wall / bare |")
    print("| --- | --- | --- | --- |")
    bare = [wall for name, wall, _ in rows if name.startswith("bare")]
    for setting in dict.fromkeys(name for name, _, _ in rows):
        walls = [wall for name, wall, _ in rows if name == setting]
        cpus = [cpu for name, _, cpu in rows if name == setting]
        print(f"| {setting} | {', '.join(f'{w:.1f}' for w in walls)} | {', '.join(f'{c:.0f}' for c in cpus)} "
              f"| {sum(walls) / sum(bare):.2f} |")


if __name__ == "__main__":
    main()
