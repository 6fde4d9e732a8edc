"""A real Ray head (`ray start --head` on 127.0.0.1) and a job submitted as a user would.

The head gets its own temp dir and ports so it never meets the suite's in-process cluster, and it is
started with --block in its own process group so the test stops exactly the processes it started
(`ray stop` would stop every Ray process on the machine).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from ray.job_submission import JobStatus, JobSubmissionClient

from datagen.run import generate_polar
from datagen.spec.polar import PolarSpec

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head():
    gcs_port, dashboard_port = free_port(), free_port()
    # Every port of its own: the suite's in-process cluster already holds Ray's default agent ports,
    # and a head whose job agent cannot bind answers "No available agent to submit job" forever.
    own_ports = [f"--{flag}={free_port()}" for flag in (
        "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port",
        "metrics-export-port", "ray-client-server-port", "node-manager-port", "object-manager-port")]
    # Short: Ray's unix socket paths under the temp dir must fit in 107 characters.
    temp_dir = tempfile.mkdtemp(prefix="zsdist-head-", dir="/tmp")
    head = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
         f"--port={gcs_port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
         f"--temp-dir={temp_dir}", "--object-store-memory=300000000", *own_ports],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    address = f"http://127.0.0.1:{dashboard_port}"
    deadline = time.time() + 90
    while True:
        try:
            client = JobSubmissionClient(address)
            break
        except Exception:
            if time.time() > deadline or head.poll() is not None:
                head.kill()
                pytest.fail("the Ray head did not come up within 90 s")
            time.sleep(2)
    yield client
    head.terminate()  # `ray start --block` drains and stops the processes it started
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
    shutil.rmtree(temp_dir, ignore_errors=True)


def test_submitted_training_job_succeeds_and_logs_to_mlflow(ray_head, tmp_path):
    data = tmp_path / "data"
    # Written by this process (in-process Ray), read by the job on the other cluster.
    generate_polar(PolarSpec(n_points=120, n_test=20, transect_points=3, resolution=32, shard_rows=64), data)
    mlflow_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    submit = dict(
        entrypoint=(f"{sys.executable} jobs/train_polar_vae.py --data {data} --run_name submitted --epochs 1 "
                    "--model.encoder_channels 4,8 --model.decoder_channels 8,4,4 --batch_size 16"),
        runtime_env={
            "working_dir": str(ROOT),
            "env_vars": {"ZSDIST_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": mlflow_uri},
        },
    )
    deadline = time.time() + 120
    while True:  # the dashboard answers before the node's job agent has registered
        try:
            job_id = ray_head.submit_job(**submit)
            break
        except RuntimeError as error:
            if "No available agent" not in str(error) or time.time() > deadline:
                raise
            time.sleep(2)
    deadline = time.time() + 300
    while not (status := ray_head.get_job_status(job_id)).is_terminal():
        assert time.time() < deadline, ray_head.get_job_logs(job_id)[-3000:]
        time.sleep(3)
    assert status == JobStatus.SUCCEEDED, ray_head.get_job_logs(job_id)[-3000:]

    client = MlflowClient(mlflow_uri)
    experiment = client.get_experiment_by_name("polar-vae")
    runs = client.search_runs([experiment.experiment_id], "tags.`zsdist.run_name` = 'submitted'")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert "loss" in runs[0].data.metrics
    # Outputs went to ZSDIST_HOME, not into the uploaded working directory.
    assert (tmp_path / "home" / "checkpoints" / "submitted").is_dir()
