"""MLflow runs found again by name: a rerun resumes its run, and fills in what a killed process left out."""

import json
from pathlib import Path

from mlflow.tracking import MlflowClient

from zsdist.base import tracking


def config_of(client: MlflowClient, run_id: str, directory: Path) -> dict:
    return json.loads(Path(client.download_artifacts(run_id, "config.json", str(directory))).read_text())


def test_a_run_left_without_params_by_a_killed_process_gets_them_when_resumed(mlflow_uri, tmp_path):
    client = MlflowClient(mlflow_uri)
    # What a process killed right after creating its run leaves: the named run, no params, no config.
    experiment_id = client.create_experiment("train", artifact_location=tracking.artifact_root())
    created = client.create_run(experiment_id, run_name="r", tags={tracking.RUN_NAME_TAG: "r"}).info.run_id

    run_id = tracking.start_or_resume_run("train", "r", {"epochs": 4, "lr": 0.1}, {"epochs": 4, "lr": 0.1})
    assert run_id == created
    assert client.get_run(run_id).data.params == {"epochs": "4", "lr": "0.1"}
    assert config_of(client, run_id, tmp_path / "first") == {"epochs": 4, "lr": 0.1}

    # Resumed with more epochs, the run keeps the values it was started with and gains new params.
    tracking.start_or_resume_run("train", "r", {"epochs": 6, "lr": 0.1}, {"epochs": 6, "lr": 0.1, "seed": 1})
    assert client.get_run(run_id).data.params == {"epochs": "4", "lr": "0.1", "seed": "1"}
    assert config_of(client, run_id, tmp_path / "resumed") == {"epochs": 4, "lr": 0.1}


def test_a_tracking_server_is_opened_at_its_own_address(monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://zsdist:secret@127.0.0.1:5000")
    assert tracking.ui_hint() == "open http://127.0.0.1:5000 in a browser (the tracking server's UI)"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert tracking.ui_hint() == (f"mlflow ui --backend-store-uri sqlite:///{tmp_path / 'mlflow.db'} "
                                  "--host 127.0.0.1 --port 5000")
