"""A two-node Ray cluster on this machine, jobs submitted as a user submits them, and faults injected.

The head has one CPU and the worker node three, so work spreads onto the worker node (a training
worker of 0.6 CPU does not fit twice on the head; dataset writers take a whole CPU each) and losing
that node loses part of every run. A replacement node then joins, as an autoscaler would start one.
Each job runs `jobs/*.py` from the uploaded working directory, with the cluster's token. Where the
machine allows it (root), the worker nodes run in network namespaces of their own, reaching the head
over a bridge, so no traffic between nodes can go over a shared loopback.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import network_namespaces
import pytest
from golden_curves import check_golden, golden_curve, learned, recording
from kuberay_jobs import RAY_JOBS, kuberay_submitter_command, rayjob_steps
from local_cluster import LocalCluster, can_make_private_mounts, submit, wait_for
from mlflow.tracking import MlflowClient
from ray.exceptions import AuthenticationError
from ray.job_submission import JobStatus

from datagen.verify import verify_dataset
from zsdist.train.checkpoint import latest_checkpoint, load_state

pytestmark = pytest.mark.slow  # a Ray cluster of its own, and jobs on it

ROOT = Path(__file__).resolve().parents[1]
# Enough shards that writers on the worker node (whose processes start a few seconds after the head's)
# join while there is work left: a writer does ~5 shards a second here.
FONTS = ["--letters", "ABCDEFGHIJKLMNOPQRSTabcdefghijklmnopqrst", "--font_ids", "0,3,17,42,55,60,70,81,90,99",
         "--letters_per_shard", "2", "--fonts_per_shard", "2", "--num_workers", "3"]
FONT_SHARDS = 100  # 20 letter blocks x 5 font blocks, 1,200 images each
GOLDEN_RUN = "polar_vae_cluster"  # the uninterrupted run of TRAIN (tests/golden/)
# Faults land at epochs 1, 3 and 5 while the run goes on (an epoch of one step takes ~0.5 s): 8 epochs
# leave two after the last fault.
TRAIN = {"epochs": "8", "max_steps_per_epoch": "1", "batch_size": "16", "cpus_per_worker": "0.6",
         "max_failures": "2", "model.encoder_channels": "4,8", "model.decoder_channels": "8,4,4"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    network = network_namespaces.BridgeNetwork() if network_namespaces.available() else None
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"), network=network)
    try:
        cluster.start_head(cpus=1)
        cluster.client()
        cluster.add_worker(cpus=3)
        yield cluster
    finally:  # also when a node never came up: no Ray process, namespace or bridge is left behind
        cluster.stop()


def run_env(home: Path, cluster: LocalCluster) -> dict:
    """A job's runtime env, naming the cluster it is meant for (zsdist refuses to run on another)."""
    return {"working_dir": str(ROOT), "env_vars": {"ZSDIST_HOME": str(home), "OMP_NUM_THREADS": "1",
                                                   "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
                                                   "ZSDIST_RAY_CLUSTER": cluster.address}}


def wait_until(condition, what: str, client, job: str, timeout: float = 180):
    """Poll condition() while the job runs; a job that ends first means the fault came too late."""
    deadline = time.time() + timeout
    while not (value := condition()):
        assert not client.get_job_status(job).is_terminal(), f"job ended before {what}"
        assert time.time() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.3)
    return value


def lose_worker_node(cluster: LocalCluster) -> None:
    """Kill the worker node like a lost machine, then let a replacement join."""
    [node] = [n for n in cluster.nodes if n.name == "worker"]
    cluster.lose_node(node)
    cluster.add_worker(cpus=3)


def test_the_jobs_api_refuses_a_client_without_the_token(cluster):
    with pytest.raises(AuthenticationError):
        cluster.client(token=None)
    with pytest.raises(AuthenticationError):
        cluster.client(token="0" * 32)
    assert cluster.client().list_jobs() is not None
    # The dashboard and Jobs API listen on loopback only: not on the machine's other addresses.
    for address in subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=True).stdout.split():
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://{address}:{cluster.dashboard_port}", timeout=3)


# Stands in for `python` in a RayJob's steps: records where it ran (Ray sets RAY_ADDRESS, the GCS of the
# job's cluster, only inside a job) and its arguments, instead of running a GPU-sized step here.
RECORDING_PYTHON = """#!/bin/sh
printf '%s|%s\\n' "${RAY_ADDRESS:-submitter}" "$*" >> "$(dirname "$0")/steps.log"
"""


def test_every_step_of_every_rayjob_runs_inside_its_job_in_order(cluster, tmp_path):
    submitters = {}
    for name, job in RAY_JOBS.items():  # each RayJob's submitter pod, all at once
        shims = tmp_path / name / "bin"
        shims.mkdir(parents=True)
        (shims / "python").write_text(RECORDING_PYTHON)
        (shims / "python").chmod(0o755)
        # The submitter pod's shell and the job find `python` first in shims/; the ray CLI is the venv's.
        path = f"{shims}:{Path(sys.executable).parent}:{os.environ['PATH']}"
        command = kuberay_submitter_command(cluster.dashboard, f"zsdist-{name.removesuffix('.yaml')}",
                                            job["spec"]["entrypoint"], runtime_env={"env_vars": {"PATH": path}})
        submitters[name] = subprocess.Popen(["/bin/bash", "-c", command], env={**cluster.env(), "PATH": path},
                                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for name, submitter in submitters.items():
        output, _ = submitter.communicate(timeout=240)
        assert submitter.returncode == 0, f"{name}: {output[-3000:]}"
        assert cluster.client().get_job_status(f"zsdist-{name.removesuffix('.yaml')}") == JobStatus.SUCCEEDED
        ran = [line.split("|", 1) for line in (tmp_path / name / "bin" / "steps.log").read_text().splitlines()]
        assert [where for where, _ in ran] == [cluster.address] * len(ran), f"{name}: a step ran outside the job: {ran}"
        assert [args.split() for _, args in ran] == [step[1:] for step in rayjob_steps(name)], name


def test_a_job_that_reached_another_cluster_than_the_one_it_names_stops_with_one_line(cluster, tmp_path):
    # As when another Ray held the dashboard port the user's head asked for: the job names the user's
    # head (here a port nothing listens on) but runs on the cluster whose dashboard took it.
    env = run_env(tmp_path, cluster)
    env["env_vars"]["ZSDIST_RAY_CLUSTER"] = f"{cluster.head_ip}:1"
    client = cluster.client()
    command = f"{sys.executable} jobs/polar_datagen.py --out {tmp_path / 'polar'} --n_points 40 --n_test 8"
    job = submit(client, entrypoint=command, runtime_env=env)
    assert wait_for(client, job) == JobStatus.FAILED
    logs = client.get_job_logs(job)
    assert (f"zsdist: error: this process joined the Ray cluster at {cluster.address}, not the one at "
            f"{cluster.head_ip}:1 that ZSDIST_RAY_CLUSTER names" in logs), logs[-2000:]
    assert "Traceback" not in logs and not (tmp_path / "polar").exists()


def generate_fonts_with_a_fault(cluster: LocalCluster, out: Path, home: Path, on_node: str | None = None):
    """Submit a Fonts generation and, once its writers run (on_node: one on that node), either kill a
    writer's process or, with on_node, lose that node; check the output is whole. Returns the writers."""
    client = cluster.client()
    job = submit(client, entrypoint=f"{sys.executable} jobs/fonts_datagen.py --out {out} {' '.join(FONTS)}",
                 runtime_env=run_env(home, cluster))
    writers = wait_until(lambda: [a for a in cluster.state("actors", class_name="_ShardWriter", state="ALIVE")
                                  if on_node in (None, a["node_id"])], "a running writer", client, job)
    done_before = len(list(out.glob("shard-*.parquet")))
    if on_node:
        lose_worker_node(cluster)
    else:
        os.kill(int(writers[0]["pid"]), signal.SIGKILL)
    assert wait_for(client, job) == JobStatus.SUCCEEDED, client.get_job_logs(job)[-3000:]
    assert done_before < FONT_SHARDS, "the generation finished before the fault"
    report = verify_dataset(out)
    assert report.ok, report.problems  # every combination exactly once, every shard whole
    assert len(list(out.glob("shard-*.parquet"))) == FONT_SHARDS and not list(out.glob(".*.tmp"))
    job_id = client.get_job_info(job).job_id
    return [a for a in cluster.state("actors", class_name="_ShardWriter") if a["job_id"] == job_id]


def test_fonts_generation_survives_a_killed_writer(cluster, tmp_path):
    writers = generate_fonts_with_a_fault(cluster, tmp_path / "fonts", tmp_path / "home")
    assert sum(int(w["num_restarts"]) for w in writers) >= 1


def test_fonts_generation_survives_a_lost_worker_node(cluster, tmp_path):
    writers = generate_fonts_with_a_fault(cluster, tmp_path / "fonts", tmp_path / "home",
                                          on_node=cluster.worker_node_id())
    assert any(int(w["num_restarts"]) >= 1 for w in writers)


def train_command(run_name: str, data: Path) -> str:
    flags = " ".join(f"--{k} {v}" for k, v in {"data": str(data), "run_name": run_name, **TRAIN}.items())
    return f"{sys.executable} jobs/train.py polar-vae {flags}"


@pytest.fixture(scope="module")
def polar(cluster, tmp_path_factory):
    """A tiny polar dataset (generated on the cluster) and the history of an uninterrupted run of TRAIN on it:
    the golden curve tests/golden/polar_vae_cluster.json, recorded by a run of its own on the cluster with
    ZSDIST_RECORD_GOLDEN=1 (tests/golden_curves.py); a run's start-up here costs ~60 s."""
    home = tmp_path_factory.mktemp("polar-home")
    client = cluster.client()
    data = home / "polar"
    job = submit(client, entrypoint=f"{sys.executable} jobs/polar_datagen.py --out {data} --n_points 240 "
                                    "--n_test 40 --transect_points 5 --resolution 32 --shard_rows 64",
                 runtime_env=run_env(home, cluster))
    assert wait_for(client, job) == JobStatus.SUCCEEDED, client.get_job_logs(job)[-3000:]
    if recording():
        job = submit(client, entrypoint=train_command("reference", data), runtime_env=run_env(home, cluster))
        assert wait_for(client, job) == JobStatus.SUCCEEDED, client.get_job_logs(job)[-3000:]
        check_golden(GOLDEN_RUN, load_state(latest_checkpoint(home / "checkpoints" / "reference"))["history"])
    return data, golden_curve(GOLDEN_RUN)["epochs"]


def committed_epoch(run_dir: Path) -> int:
    try:
        checkpoint = latest_checkpoint(run_dir)
        return -1 if checkpoint is None else load_state(checkpoint)["epoch"]
    except OSError:  # Ray deleted that checkpoint (num_to_keep) as we read it
        return -1


def alive_training_workers(cluster: LocalCluster, job_id: str) -> list[dict]:
    return [a for a in cluster.state("actors", class_name="RayTrainWorker", state="ALIVE") if a["job_id"] == job_id]


def test_training_survives_a_killed_worker_a_lost_worker_node_and_a_killed_driver(cluster, polar, tmp_path):
    """One run, three faults, each once the run has committed a checkpoint of epoch E: a training worker
    killed (E=1), the worker node lost (E=3), the job's driver killed (E=5), after which the user submits
    the same job again. The run ends with the uninterrupted run's metrics, in one MLflow run."""
    data, reference = polar
    client = cluster.client()

    def submit_training() -> str:
        return submit(client, entrypoint=train_command("faulty", data), runtime_env=run_env(tmp_path, cluster))

    job, run_dir = submit_training(), tmp_path / "checkpoints" / "faulty"

    def committed(epoch: int) -> str:
        wait_until(lambda: committed_epoch(run_dir) >= epoch, f"a checkpoint of epoch {epoch}", client, job)
        return client.get_job_info(job).job_id  # Ray's job id exists once the driver runs

    job_id = committed(1)
    os.kill(int(alive_training_workers(cluster, job_id)[0]["pid"]), signal.SIGKILL)
    committed(3)
    lost = cluster.worker_node_id()
    assert any(w["node_id"] == lost for w in alive_training_workers(cluster, job_id)), "no training worker there"
    lose_worker_node(cluster)
    committed(5)
    os.kill(int(client.get_job_info(job).driver_info.pid), signal.SIGKILL)
    assert wait_for(client, job) == JobStatus.FAILED
    assert committed_epoch(run_dir) < len(reference) - 1, "the driver was killed after the run had finished"
    workers = [a for a in cluster.state("actors", class_name="RayTrainWorker") if a["job_id"] == job_id]
    assert len(workers) >= 6  # each lost worker cost the run its worker group of 2: a new group replaced it

    job = submit_training()  # the user resubmits the same job: it resumes from the last checkpoint
    assert wait_for(client, job) == JobStatus.SUCCEEDED, client.get_job_logs(job)[-3000:]
    history = load_state(latest_checkpoint(run_dir))["history"]
    assert len(history) == len(reference) == int(TRAIN["epochs"])
    for ours, theirs in zip(history, reference):  # the same numbers as a run that was never stopped
        assert learned(ours) == pytest.approx(theirs, rel=1e-4)
    mlflow = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs([mlflow.get_experiment_by_name("polar-vae").experiment_id])
    assert [r.info.status for r in runs] == ["FINISHED"]  # the second submission continued the first's run
    steps = [m.step for m in mlflow.get_metric_history(runs[0].info.run_id, "loss")]
    assert sorted(set(steps)) == list(range(int(TRAIN["epochs"])))


@pytest.mark.skipif(not can_make_private_mounts(), reason="needs mount namespaces (root or user namespaces)")
def test_checkpoints_on_a_directory_another_node_cannot_see_are_refused(cluster, polar, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    island = cluster.add_worker(cpus=1, name="island", private_dir=home)  # its own disk at that path
    try:
        client = cluster.client()
        job = submit(client, entrypoint=train_command("local-only", polar[0]), runtime_env=run_env(home, cluster))
        assert wait_for(client, job) == JobStatus.FAILED
        logs = client.get_job_logs(job)
        assert f"checkpoint storage {home / 'checkpoints'} is not shared: 1 of 3 Ray nodes cannot see it" in logs
        assert "Traceback" not in logs  # one line that says what to do, not a stack
    finally:
        island.stop()
        cluster.nodes.remove(island)
