"""Datasets, checkpoints and MLflow artifacts on object storage (s3://) and as file:// URIs.

A real S3-compatible server on loopback (tests/s3_server.py), pyarrow's and boto3's real S3 clients,
a real local Ray cluster, 2-worker gloo DDP and a SQLite MLflow store whose artifacts go to the bucket.
"""

import hashlib
import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from s3_server import S3Server

from datagen.run import generate_polar
from datagen.shards import read_manifest
from datagen.spec.polar import PolarSpec
from datagen.verify import verify_dataset
from zsdist.base import tracking
from zsdist.base.errors import ConfigError, DataError
from zsdist.base.storage import RemotePath, location
from zsdist.data.polar import read_all_rows
from zsdist.methods import get_method
from zsdist.methods.polar_vae.config import PolarEvalConfig, PolarTrainConfig
from zsdist.methods.polar_vae.model import PolarVAEConfig
from zsdist.train.checkpoint import load_state

polar = get_method("polar-vae")

BUCKET = "zsdist-test"
TINY_SPEC = PolarSpec(n_points=240, n_test=40, transect_points=5, resolution=32, shard_rows=64)
TINY_MODEL = PolarVAEConfig(encoder_channels=(4, 8), decoder_channels=(8, 4, 4), decoder_start_channels=4)


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with S3Server(tmp_path_factory.mktemp("s3")) as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture(scope="module")
def polar_on_s3(s3, ray_cluster):
    uri = f"s3://{BUCKET}/data/polar"
    generate_polar(TINY_SPEC, uri, num_workers=2, progress=False)
    return uri


def test_locations(tmp_path):
    assert location(str(tmp_path / "a" / ".." / "b")) == tmp_path / "b"
    assert location(f"file://{tmp_path}/data") == tmp_path / "data"
    assert location("~/zsdist-data") == Path.home() / "zsdist-data"
    remote = location(f"s3://{BUCKET}/runs/")
    assert isinstance(remote, RemotePath) and str(remote) == f"s3://{BUCKET}/runs"
    assert str(remote / "a" / "checkpoint.pt") == f"s3://{BUCKET}/runs/a/checkpoint.pt"
    assert (remote / "a").name == "a" and (remote / "a").parent == remote
    with pytest.raises(ConfigError, match=r"^storage location nope://x is not usable .*: give a local path or an s3://"):
        location("nope://x")
    with pytest.raises(ConfigError, match="set them in the environment"):
        location(f"s3://{BUCKET}/x?endpoint_override=127.0.0.1:9000")


def test_dataset_on_s3_has_the_local_bytes_verifies_and_resumes(s3, polar_on_s3, tmp_path):
    local = tmp_path / "polar"
    generate_polar(TINY_SPEC, f"file://{local}", num_workers=2, progress=False)
    remote_manifest, local_manifest = read_manifest(polar_on_s3), read_manifest(local)
    assert remote_manifest["shards"] == local_manifest["shards"]  # names, rows, sizes and sha256: same bytes
    names = [shard["name"] for shard in remote_manifest["shards"]]
    assert s3.keys(BUCKET, "data/polar/") == sorted(f"data/polar/{n}" for n in [*names, "_manifest.json"])
    assert verify_dataset(polar_on_s3).ok

    # A truncated object (as a copy interrupted by hand would leave) is found, and a rerun redoes only it.
    broken = location(polar_on_s3) / names[1]
    broken.write_bytes(broken.read_bytes()[:500])
    assert any(names[1] in problem for problem in verify_dataset(polar_on_s3).problems)
    with pytest.raises(DataError, match=f"{names[1]} has 500 bytes, the manifest says"):
        read_all_rows(polar_on_s3)
    report = generate_polar(TINY_SPEC, polar_on_s3, num_workers=2, progress=False)
    assert report.actions[names[1]] == "rewritten" and report.skipped == len(names) - 1
    assert verify_dataset(polar_on_s3).ok
    assert hashlib.sha256(broken.read_bytes()).hexdigest() == local_manifest["shards"][1]["sha256"]


@pytest.mark.slow
def test_training_from_s3_with_checkpoints_and_artifacts_on_s3(s3, polar_on_s3, workspace, monkeypatch):
    monkeypatch.setenv("ZSDIST_ARTIFACT_ROOT", f"s3://{BUCKET}/mlartifacts")
    storage = f"s3://{BUCKET}/checkpoints"
    cfg = PolarTrainConfig(data=polar_on_s3, model=TINY_MODEL, epochs=1, batch_size=16, lr=3e-3, seed=7,
                           run_name="on-s3", experiment="object-storage", storage_path=storage, validate_every=1)
    run_id, checkpoint, final = polar.train(cfg)
    assert isinstance(checkpoint, RemotePath) and str(checkpoint).startswith(f"{storage}/on-s3/")
    n_train = int((read_all_rows(polar_on_s3)["split"] == "train").sum())
    assert final["images"] == 2 * (n_train // 2)  # every training row was read from the bucket
    assert s3.keys(BUCKET, f"checkpoints/on-s3/{checkpoint.name}/") == [f"checkpoints/on-s3/{checkpoint.name}/checkpoint.pt"]
    assert [h["epoch"] for h in load_state(checkpoint)["history"]] == [0]

    # The same run again: its finished checkpoint is found in the bucket, and nothing is trained.
    run_again, checkpoint_again, again = polar.train(cfg)
    assert run_again == run_id and checkpoint_again == checkpoint and again["loss"] == final["loss"]

    # Evaluation finds the run's latest checkpoint in the bucket; its artifacts go there too.
    _, metrics, _ = polar.evaluate(PolarEvalConfig(run_name="on-s3", experiment="object-storage",
                                                         storage_path=storage))
    assert metrics["mse_inside"] > 0
    run = MlflowClient(tracking.tracking_uri()).get_run(run_id)
    assert run.info.artifact_uri == f"s3://{BUCKET}/mlartifacts/{run_id}/artifacts"
    stored = s3.keys(BUCKET, f"mlartifacts/{run_id}/artifacts/")
    assert f"mlartifacts/{run_id}/artifacts/config.json" in stored
    assert f"mlartifacts/{run_id}/artifacts/eval/metrics.json" in stored
    config = json.loads(s3.client().get_object(Bucket=BUCKET, Key=f"mlartifacts/{run_id}/artifacts/config.json")
                        ["Body"].read())
    assert config["data"] == polar_on_s3 and config["storage_path"] == storage


def test_missing_s3_checkpoint_is_one_line(s3, workspace):
    with pytest.raises(DataError, match=rf"^no checkpoint for run 'absent' under s3://{BUCKET}/nowhere/absent: "
                                        "train it first"):
        polar.evaluate(PolarEvalConfig(run_name="absent", storage_path=f"s3://{BUCKET}/nowhere"))
