"""Fonts generation and GZS-Net training on one Ray node and on two, on this machine, as ratios.

    . scripts/offline-env.sh
    python benchmarks/multinode.py                  # 2 rounds of: 1 node x 6 CPUs, then 2 nodes x 3 CPUs

Both layouts offer the same 6 logical CPUs on this machine's 2 cores, so the ratio is what splitting
the same hardware into two Ray nodes costs: a second raylet and object store, cross-node object
transfers, actors and workers placed on whichever node has room. Every run is a job submitted with
the cluster's token, as a user would, through `ray job submit`'s client: the generation's figure is
its own report for the whole dataset (images / seconds, actor start and font loading included); the training's is the last
epoch's images/s as the loop reports it (start-up and the first epoch excluded). Training workers take
2 logical CPUs each, so on two 3-CPU nodes there is one per node (DDP's all-reduce crosses nodes) and
every node keeps one CPU for Ray Data's tasks (a node with less than one free CPU starves them).
Where root allows, the second node runs in a network namespace of its own and reaches the head over a
bridge (tests/network_namespaces.py), so its traffic crosses a network link as between machines.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tests' multi-node cluster
import network_namespaces
from local_cluster import LocalCluster, submit, wait_for

LAYOUTS = {"1 node x 6 CPUs": [6], "2 nodes x 3 CPUs": [3, 3]}


def run_job(cluster: LocalCluster, command: str, home: Path) -> str:
    client = cluster.client()
    job = submit(client, entrypoint=f"{sys.executable} {command}",
                 runtime_env={"working_dir": str(ROOT), "env_vars": {
                     "ZSDIST_HOME": str(home), "OMP_NUM_THREADS": "1",
                     "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}})
    status = wait_for(client, job, timeout=1200)
    logs = client.get_job_logs(job)
    if status.value != "SUCCEEDED":
        raise RuntimeError(f"{command} ended {status}:\n{logs[-3000:]}")
    return logs


def one_round(layout: list[int], tmp: Path, args: argparse.Namespace) -> tuple[float, float]:
    network = network_namespaces.BridgeNetwork() if len(layout) > 1 and network_namespaces.available() else None
    cluster = LocalCluster(tmp / "cluster", network=network)
    try:
        cluster.start_head(cpus=layout[0])
        cluster.client()
        for cpus in layout[1:]:
            cluster.add_worker(cpus=cpus)
        home, data = tmp / "home", tmp / "fonts"
        # The figure: the whole dataset (1,560,000 images of 128 px), as the generation job writes it.
        logs = run_job(cluster, f"jobs/fonts_datagen.py --out {tmp / 'full'} --num_workers 2", home)
        images, seconds = re.search(r"(\d+) images in ([\d.]+) s", logs).groups()
        generation = int(images) / float(seconds)
        run_job(cluster, f"jobs/fonts_datagen.py --config {args.fonts_config} --out {data}", home)  # GZS-Net's
        name = f"bench-{time.time_ns()}"
        run_job(cluster, f"jobs/train.py gzsnet --config {args.config} --data {data} --run_name {name} "
                         f"--epochs {args.epochs} --max_steps_per_epoch {args.steps} --num_workers 2 "
                         "--cpus_per_worker 2 --ae_ds_baseline false", home)
        client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
        [run] = client.search_runs([client.get_experiment_by_name("gzsnet").experiment_id],
                                   f"tags.`zsdist.run_name` = '{name}'")
        training = client.get_metric_history(run.info.run_id, "images_per_s")[-1].value
        return generation, training
    finally:
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="configs/gzsnet_cpu.yaml")
    parser.add_argument("--fonts_config", default="configs/fonts_cpu32.yaml", help="GZS-Net's training data")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    print(f"load average before start: {os.getloadavg()[0]:.1f}; {os.cpu_count()} CPUs", flush=True)
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in LAYOUTS}
    for round_ in range(args.rounds):  # interleaved, so drift on the machine hits both layouts alike
        for name, layout in LAYOUTS.items():
            with tempfile.TemporaryDirectory(prefix="zs-bench-", dir="/tmp") as tmp:
                figures[name].append(one_round(layout, Path(tmp), args))
            print(f"round {round_}, {name}: generation {figures[name][-1][0]:.0f} images/s, "
                  f"GZS-Net training {figures[name][-1][1]:.0f} images/s", flush=True)

    best = {name: (max(g for g, _ in rows), max(t for _, t in rows)) for name, rows in figures.items()}
    base = best[next(iter(LAYOUTS))]
    print(f"\n{time.strftime('%Y-%m-%d')} {platform.node()}, {os.cpu_count()} CPUs; network namespaces: "
          f"{network_namespaces.available()}; best of {args.rounds} "
          f"interleaved rounds; generation: the whole Fonts dataset; training: data {args.fonts_config}, "
          f"model {args.config}")
    print("| layout | generation images/s | ratio | GZS-Net training images/s | ratio |\n| --- | --- | --- | --- | --- |")
    for name, (generation, training) in best.items():
        print(f"| {name} | {generation:.0f} | {generation / base[0]:.2f} | {training:.0f} | {training / base[1]:.2f} |")


if __name__ == "__main__":
    main()
