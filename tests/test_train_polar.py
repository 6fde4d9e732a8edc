"""Integration: Parquet -> Ray Data -> 2-worker gloo DDP -> checkpoints -> MLflow -> evaluation.

Real local Ray, real Parquet, real MLflow (SQLite), real torch.distributed. A tiny spec and model
keep each fit to seconds after Ray Train's ~20 s start-up. The per-epoch validation score is also
checked on its own, without Ray Train.
"""

import shutil
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch
from golden_curves import check_golden
from mlflow.tracking import MlflowClient

from datagen.run import generate_polar
from datagen.spec.polar import PolarSpec
from zsdist.base import tracking
from zsdist.base.errors import ConfigError, DataError
from zsdist.data.polar import read_all_rows, training_dataset
from zsdist.methods import get_method
from zsdist.methods.polar_vae.config import PolarEvalConfig, PolarTrainConfig
from zsdist.methods.polar_vae.model import PolarVAE, PolarVAEConfig
from zsdist.methods.polar_vae.validation import HoleValidation
from zsdist.train.checkpoint import latest_checkpoint, load_state
from zsdist.train.validation import ValidationCadence

polar = get_method("polar-vae")

TINY_SPEC = PolarSpec(n_points=240, n_test=40, transect_points=5, resolution=32, shard_rows=64)
TINY_MODEL = PolarVAEConfig(encoder_channels=(4, 8), decoder_channels=(8, 4, 4), decoder_start_channels=4)


@pytest.fixture(scope="module")
def polar_data(tmp_path_factory, ray_cluster):
    out = tmp_path_factory.mktemp("polar-data")
    generate_polar(TINY_SPEC, out, num_workers=2)
    return out


def cadence(cfg) -> ValidationCadence:
    """The method's validation at the training loop's cadence (zsdist/train/loop.py)."""
    return ValidationCadence(HoleValidation(cfg), every=cfg.validate_every, last_epoch=cfg.epochs - 1)


def config(data, **overrides) -> PolarTrainConfig:
    base = PolarTrainConfig(data=str(data), model=TINY_MODEL, epochs=2, batch_size=16, lr=3e-3, seed=7)
    return replace(base, **overrides)


def metric_history(run_id: str, key: str) -> list[tuple[int, float]]:
    client = MlflowClient(tracking.tracking_uri())
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def test_validation_is_the_hole_reconstruction_mse_carried_between_epochs(polar_data):
    validate = cadence(config(polar_data, epochs=3, validate_every=2))
    rows = read_all_rows(polar_data)
    in_hole = rows["split"] == "hole"
    hole = rows["image"][in_hole][np.argsort(rows["index"][in_hole])]
    assert len(hole) > 0
    torch.manual_seed(0)
    model = PolarVAE(TINY_MODEL, TINY_SPEC.resolution)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    first = validate(model, 0)  # not due at epoch 0, but there is nothing to carry yet
    with torch.no_grad():
        logits, _, _ = model.eval()(torch.from_numpy(hole)[:, None], sample=False)  # decode of the mean
    model.train()
    expected = np.mean((torch.sigmoid(logits)[:, 0].double().numpy() - hole) ** 2)
    assert first["val/hole_mse"] == pytest.approx(expected, rel=1e-9)
    assert cadence(config(polar_data, validate_every=1))(model, 0) == first  # deterministic
    assert model.training and all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())

    with torch.no_grad():
        next(model.parameters()).add_(0.05)
    assert validate(model, 0) == first  # between validations: the last score
    assert validate(model, 1) != first  # due: scored again


@pytest.fixture(scope="module")
def ddp_run(polar_data, workspace):
    """The 3-epoch run "ddp" (every Ray Train run costs ~20 s of start-up: the tests share this one).
    Resuming the polar VAE is tested by tests/test_cluster.py, after faults, against its golden curve."""
    return polar.train(config(polar_data, run_name="ddp", epochs=3, validate_every=1))


def test_training_rows_are_the_regimes_splits(polar_data, ray_cluster):
    rows = read_all_rows(polar_data)
    for train_on, splits in (("punctured", ["train"]), ("full", ["train", "hole"])):
        images = np.concatenate([batch["image"] for batch in training_dataset(polar_data, train_on).iter_batches()])
        expected = rows["image"][np.isin(rows["split"], splits)]
        assert images.shape == (len(expected), 1, *expected.shape[1:]), train_on
        assert sorted(map(bytes, images[:, 0])) == sorted(map(bytes, expected)), train_on


@pytest.mark.slow
def test_ddp_training_logs_and_checkpoints_and_a_rerun_trains_nothing(polar_data, workspace, ddp_run):
    run_id, checkpoint, final = ddp_run
    assert final["epoch"] == 2
    # Punctured training: only "train" rows, split equally over the 2 workers.
    n_train = int((read_all_rows(polar_data)["split"] == "train").sum())
    assert final["images"] == 2 * (n_train // 2)
    state = load_state(checkpoint)
    assert [h["epoch"] for h in state["history"]] == [0, 1, 2]
    # The same numbers as every earlier run of this config (CPU, seeded), bit for bit.
    check_golden("polar_vae", state["history"])
    # Rank 0's validation of the weights it checkpointed, in every epoch's report.
    model = PolarVAE(TINY_MODEL, TINY_SPEC.resolution)
    model.load_state_dict(state["model"])
    assert final["val/hole_mse"] == pytest.approx(
        cadence(config(polar_data, epochs=3, validate_every=1))(model, 2)["val/hole_mse"], rel=1e-5)

    run = MlflowClient(tracking.tracking_uri()).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.latent_dim"] == "3" and run.data.params["train_on"] == "punctured"
    assert [step for step, _ in metric_history(run_id, "loss")] == [0, 1, 2]
    assert [step for step, _ in metric_history(run_id, "val/hole_mse")] == [0, 1, 2]

    # A finished run rerun as is trains nothing more (no Ray Train run, no new checkpoint) and hands back
    # its final metrics.
    run_id_again, checkpoint_again, final_again = polar.train(config(polar_data, run_name="ddp", epochs=3,
                                                                     validate_every=1))
    assert run_id_again == run_id and checkpoint_again == checkpoint
    assert final_again["loss"] == final["loss"] and final_again["val/hole_mse"] == final["val/hole_mse"]
    assert len(load_state(latest_checkpoint(workspace / "checkpoints" / "ddp"))["history"]) == 3


@pytest.mark.slow
def test_a_checkpoint_record_caught_mid_rewrite_is_read_again(workspace, ddp_run, tmp_path):
    """Ray Train rewrites its record in place while a run reports: a reader that finds it empty waits for
    the rewrite; one that stays unreadable is a one-line DataError."""
    run_dir = shutil.copytree(workspace / "checkpoints" / "ddp", tmp_path / "ddp")
    record = next(run_dir.glob("checkpoint_manager_snapshot.json"))
    written = record.read_bytes()
    expected = latest_checkpoint(run_dir)
    record.write_bytes(b"")
    rewrite = threading.Timer(0.3, record.write_bytes, args=(written,))
    rewrite.start()
    assert latest_checkpoint(run_dir) == expected
    rewrite.join()
    record.write_bytes(written[: len(written) // 2])
    with pytest.raises(DataError, match="checkpoint record of .* is unreadable") as error:
        latest_checkpoint(run_dir)
    assert "\n" not in str(error.value)


@pytest.mark.slow
def test_evaluation_logs_metrics_and_artifacts(ddp_run):
    run_id, metrics, out_dir = polar.evaluate(PolarEvalConfig(run_name="ddp"))
    assert run_id == ddp_run.run_id
    for key in ("mse_inside", "mse_outside", "nn_mse_inside", "dice_inside", "latent_r2_mean_outside"):
        assert np.isfinite(metrics[key]), key
    files = {p.name for p in out_dir.iterdir()}
    assert {"transect_P1.png", "transect_P2.png", "transect_P3.png", "latent_scatter.png",
            "mse_by_distance.png", "metrics.json"} <= files
    client = MlflowClient(tracking.tracking_uri())
    logged = {a.path for a in client.list_artifacts(run_id, "eval")}
    assert "eval/transect_P1.png" in logged and "eval/latent_scatter.png" in logged
    assert client.get_run(run_id).data.metrics["eval/mse_inside"] == pytest.approx(metrics["mse_inside"])
    assert "config.json" in {a.path for a in client.list_artifacts(run_id)}


def test_bad_training_input(polar_data, workspace, tmp_path):
    with pytest.raises(ConfigError, match="no dataset given"):
        polar.train(PolarTrainConfig())
    with pytest.raises(ConfigError, match="validate_every must be >= 0"):
        PolarTrainConfig(validate_every=-1)
    with pytest.raises(DataError):
        polar.train(config(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="no checkpoint for run 'never-trained'"):
        polar.evaluate(PolarEvalConfig(run_name="never-trained"))
