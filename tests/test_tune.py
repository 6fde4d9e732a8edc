"""Searches on Ray Tune: search spaces, and one small CADA-VAE search with ASHA and MLflow parent/child
runs whose driver is killed and which is then resumed, its trial actors reused after ASHA stops a trial,
and its best config re-run on test.

The CADA-VAE trials train the tiny model of tests/cadavae_synthetic.py for 4 epochs, one Ray Train
worker each, one trial at a time, on the session's local Ray cluster (2 CPUs). Every trial is a Ray
Train run of its own (~15 s of start-up here), so the search is kept to 3 trials.
"""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from cadavae_synthetic import CLASSIFIER, write_synthetic
from mlflow.tracking import MlflowClient
from ray.tune.search.sample import Domain

from zsdist.base import tracking
from zsdist.base.errors import ConfigError
from zsdist.cli import main
from zsdist.config import to_dict
from zsdist.methods import get_method, methods
from zsdist.methods.cadavae.model import CADAVAEConfig
from zsdist.methods.cadavae.objective import WarmupConfig
from zsdist.train.checkpoint import latest_checkpoint, load_state
from zsdist.tune.config import SearchConfig, tune_config
from zsdist.tune.search import run_search
from zsdist.tune.space import apply_params, load_space, param_space, searched
from zsdist.tune.trials import trial_config

CADAVAETuneConfig = tune_config(get_method("cadavae"))
GZSNetTuneConfig = tune_config(get_method("gzsnet"))
PolarTuneConfig = tune_config(get_method("polar-vae"))
EPOCHS = 4
HIDDEN = {f"{part}_hidden": 32 for part in ("image_encoder", "image_decoder", "attribute_encoder",
                                            "attribute_decoder")}


# The preset's ranges are for CUB-sized runs; this tiny problem learns with larger steps.
SPACE = {"lr": {"loguniform": [3e-3, 3e-2]}, "warmup.gamma_factor": {"uniform": [0.5, 4.0]},
         "warmup.delta_factor": {"loguniform": [1.0, 20.0]}, "model.latent_dim": {"choice": [4, 8]}}


def search_config(data: Path, name: str, space: Path) -> CADAVAETuneConfig:
    """3 trials of a tiny CADA-VAE: 1 worker each, the space SPACE, the best re-run on test with 1 seed."""
    return CADAVAETuneConfig(
        data=str(data), experiment="tune", model=CADAVAEConfig(latent_dim=8, **HIDDEN),
        warmup=WarmupConfig(beta_end=2, gamma_start=0, gamma_end=2, delta_start=0, delta_end=2),
        epochs=EPOCHS, batch_size=8, lr=1e-2, num_workers=1, cpus_per_worker=0.45, pseudo_unseen_fraction=0.3,
        classifier=CLASSIFIER, validation_classifier=CLASSIFIER, shots=(1,),
        search=SearchConfig(name=name, space=str(space), num_samples=3, seed=0, test_seeds=1))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("features"))


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    path = tmp_path_factory.mktemp("space") / "space.yaml"
    path.write_text(yaml.safe_dump(SPACE))
    return path


def test_presets_scale_with_the_run_and_files_are_checked(tmp_path):
    spec = load_space("cadavae", CADAVAETuneConfig(epochs=20))
    assert spec["warmup.gamma_start"] == 4 and spec["warmup.gamma_end"] == {"randint": [5, 20]}  # 21 of 100
    assert searched(spec)[:2] == ["lr", "model.latent_dim"] and "warmup.gamma_start" not in searched(spec)
    assert set(param_space(spec)) == set(spec)
    file = tmp_path / "space.yaml"
    file.write_text(yaml.safe_dump({"lr": {"loguniform": [1e-4, 1e-2]}, "model.chunk_sizes": {"choice": [8, 16]}}))
    with pytest.raises(ConfigError, match="'model.chunk_sizes' is not a config field"):
        load_space(str(file), PolarTuneConfig())
    file.write_text(yaml.safe_dump({"lr": {"normal": [0, 1]}}))
    with pytest.raises(ConfigError, match="give one of uniform, loguniform, randint, choice"):
        load_space(str(file), PolarTuneConfig())
    with pytest.raises(ConfigError, match="neither a preset"):
        load_space("no-such-space", PolarTuneConfig())
    # A scalar for a tuple field fills it; the result is validated like any config.
    assert apply_params(GZSNetTuneConfig(), {"model.chunk_sizes": 8}).model.chunk_sizes == (8,) * 5
    with pytest.raises(ConfigError, match="lr must be > 0"):
        apply_params(CADAVAETuneConfig(), {"lr": 0.0})


@pytest.mark.parametrize("model", list(methods()))
def test_every_preset_samples_valid_trial_configs(model):
    method = get_method(model)
    base = tune_config(method)(data="/data", epochs=12)
    space = param_space(load_space(model, base))
    for seed in range(5):
        np.random.seed(seed)  # Tune's domains sample from numpy's global state
        params = {k: v.sample() if isinstance(v, Domain) else v for k, v in space.items()}
        trial = trial_config(method, base, params, run_name=f"s-{seed}")
        assert trial.run_name == f"s-{seed}" and trial.validate_every == 1 and not hasattr(trial, "search")
        for key, value in params.items():
            leaf = trial
            for name in key.split("."):
                leaf = getattr(leaf, name)
            assert leaf == value or leaf == (value,) * len(leaf), key


def children(experiment: str, parent_id: str) -> list:
    client = MlflowClient(tracking.tracking_uri())
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'")


def finished_trials(storage: Path, search: str) -> set[str]:
    """The trials whose last epoch's checkpoint Ray Train has committed."""
    return {run.name for run in storage.glob(f"{search}-*")
            if (checkpoint := latest_checkpoint(run)) and load_state(checkpoint)["epoch"] == EPOCHS - 1}


@pytest.mark.slow
def test_search_resumes_after_its_driver_is_killed_stops_trials_early_reuses_actors_and_tracks_them(
        ray_cluster, data, space, workspace, tmp_path, capsys):
    """One trial at a time (so every trial of a driver runs on the same, reused actor), the driver killed
    once a trial has finished, the search resumed: ASHA stops trials early, each stopped trial's Train run
    is aborted so that the next can start on its actor, and MLflow holds one closed run per trial."""
    cfg = search_config(data, "small", space)
    cfg = replace(cfg, search=replace(cfg.search, max_concurrent_trials=1))
    config_file = tmp_path / "search.yaml"
    config_file.write_text(yaml.safe_dump(to_dict(cfg)))
    # The driver runs as a user would start it, on the same Ray cluster; Tune saves its state every second.
    env = {**os.environ, "RAY_ADDRESS": ray_cluster.get_runtime_context().gcs_address, "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    driver = subprocess.Popen([sys.executable, "-m", "zsdist", "tune", "cadavae", "--config", str(config_file)],
                              env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (finished := finished_trials(workspace / "checkpoints", "small")) and time.time() < deadline \
            and driver.poll() is None:
        time.sleep(1)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    killed_at = time.time()
    assert finished, "no trial finished before the deadline"
    time.sleep(3)  # the killed driver's actors go with it

    result = run_search("cadavae", cfg, resume=True)
    assert len(result.trials) == 3 and {t["status"] for t in result.trials} <= {"FINISHED", "KILLED"}
    assert any(t["status"] == "KILLED" and t["epochs"] < EPOCHS for t in result.trials), result.trials  # ASHA
    assert result.best_metric == max(t["val/H"] for t in result.trials) > 0
    # A trial whose run finished before the kill, restarted by Tune, reports its epochs again: finished.
    assert all(t["status"] == "FINISHED" and t["epochs"] == EPOCHS for t in result.trials if t["run_name"] in finished)
    # Every trial after the resume ran on one actor: those ASHA stopped had their Train runs aborted.
    after = {line["pid"] for file in (workspace / "checkpoints" / "searches" / "small").glob("*/result.json")
             for line in map(json.loads, file.read_text().splitlines()) if line["timestamp"] > killed_at}
    assert len(after) == 1, after

    client = MlflowClient(tracking.tracking_uri())
    parent = client.get_run(result.run_id)
    assert parent.data.tags["zsdist.search_metric"] == "val/H" and parent.info.status == "FINISHED"
    assert {"test/H/mean", "test/H/std", "best/val/H"} <= set(parent.data.metrics)  # the best config on test
    best = json.loads(Path(client.download_artifacts(result.run_id, "best_config.json", str(tmp_path))).read_text())
    assert best["params"] == result.best_params and set(best["params"]) == set(SPACE)
    status = {t["run_name"]: t["status"] for t in result.trials}
    runs = [run for run in children("tune", result.run_id) if run.info.run_name in status]
    assert len(runs) == 3
    # A trial started in the killed driver's last second, before Tune saved it, is sampled again under
    # another id on resume: its first run is closed as KILLED, not left RUNNING.
    assert {run.info.status for run in children("tune", result.run_id) if run.info.run_name not in status} <= {"KILLED"}
    for run in runs:
        assert run.info.status == status[run.info.run_name]
        # A trial cut by the kill repeats the epochs after its last checkpoint, so steps may repeat.
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "loss"))
        assert sorted(set(steps)) == list(range(steps[-1] + 1)) and steps[-1] < EPOCHS, run.info.run_name
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "val/H")) == steps  # every epoch
        assert run.data.params["validation"] == "pseudo_unseen"
        if run.info.run_name in finished:  # trained before the kill, and not one epoch more after it
            assert steps == list(range(EPOCHS)), run.info.run_name
        if run.info.status == "FINISHED":  # its last report and checkpoint, even if ASHA stopped it there
            assert "trial_result.json" in [f.path for f in client.list_artifacts(run.info.run_id)]
    with pytest.raises(ConfigError, match="already exists"):
        run_search("cadavae", cfg)

    main(["compare", "--experiment", "tune", "--search", "small", "--plot", str(tmp_path / "trials.png")])
    table = capsys.readouterr().out
    assert all(t["run_name"] in table for t in result.trials) and "val/H" in table and "lr" in table
    assert (tmp_path / "trials.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # No aborted run holds on to its workers: the cluster's CPUs are all free again.
    cpus, deadline = ray_cluster.cluster_resources()["CPU"], time.time() + 30
    while ray_cluster.available_resources().get("CPU", 0) < cpus - 1e-6 and time.time() < deadline:
        time.sleep(1)
    assert ray_cluster.available_resources().get("CPU", 0) == pytest.approx(cpus)
