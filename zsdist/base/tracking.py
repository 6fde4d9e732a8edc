"""MLflow: where runs go and what every run logs.

The default store is a SQLite file in the workspace (no server needed); MLFLOW_TRACKING_URI points
elsewhere (a server on a cluster), and ZSDIST_ARTIFACT_ROOT puts new experiments' artifacts on
shared or object storage (s3:// needs boto3: `pip install zsdist[s3]`). A run is found again by its
zsdist run name, so rerunning the same run name continues the same MLflow run, as Ray Train
continues the same checkpoints.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from zsdist.base.storage import location
from zsdist.base.workspace import workspace_dir

# MLflow draws a progress bar for every artifact download; zsdist's console shows its own bars only.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

RUN_NAME_TAG = "zsdist.run_name"
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own tag: the UI nests a child run under its parent


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, or a SQLite store in the workspace (MLflow 3.13+ refuses ./mlruns)."""
    if uri := os.environ.get("MLFLOW_TRACKING_URI"):
        return uri
    root = workspace_dir()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


def _experiment_id(client: MlflowClient, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=artifact_root())


def artifact_root() -> str | None:
    """Where new experiments keep their artifacts: ZSDIST_ARTIFACT_ROOT (a path or an s3://, gs://
    URI), else beside a SQLite store (it has no artifact server), else the tracking server's choice."""
    if root := os.environ.get("ZSDIST_ARTIFACT_ROOT"):
        return location(root).as_uri()
    if tracking_uri().startswith("sqlite:"):
        return (Path(tracking_uri().removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
    return None


def start_or_resume_run(experiment: str, run_name: str, config: dict[str, Any], params: dict[str, Any],
                        *, parent_run_id: str | None = None) -> str:
    """The id of the MLflow run called `run_name` in `experiment`, created (with params) if new.

    The full resolved config is stored as the artifact config.json; flat params make runs comparable.
    parent_run_id nests the run under another (a search's trials under the search).
    """
    client = MlflowClient(tracking_uri())
    experiment_id = _experiment_id(client, experiment)
    if run_id := _find(client, experiment_id, run_name):
        client.update_run(run_id, status="RUNNING")
        _record_config(client, run_id, config, params, resumed=True)
        return run_id
    tags = {RUN_NAME_TAG: run_name, **({PARENT_TAG: parent_run_id} if parent_run_id else {})}
    run_id = client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id
    _record_config(client, run_id, config, params, resumed=False)
    return run_id


def _record_config(client: MlflowClient, run_id: str, config: dict[str, Any], params: dict[str, Any], *,
                   resumed: bool) -> None:
    """Log the params and config.json; a resumed run gets only those it lacks.

    A process killed between creating a run and logging these leaves a run without them; its rerun
    resumes that run and fills them in. Params a run has keep their first values (MLflow refuses to
    change a param), as a resumed run with more epochs keeps the config it was started with.
    """
    have = client.get_run(run_id).data.params if resumed else {}
    # MLflow caps a param value at 6000 characters; configs here are far below that.
    if missing := [Param(k, str(v)) for k, v in params.items() if k not in have]:
        client.log_batch(run_id, params=missing)
    if not resumed or not any(f.path == "config.json" for f in client.list_artifacts(run_id)):
        client.log_dict(run_id, config, "config.json")


def find_run_id(experiment: str, run_name: str) -> str | None:
    """The id of the MLflow run called `run_name` in `experiment`, or None if there is none."""
    client = MlflowClient(tracking_uri())
    found = client.get_experiment_by_name(experiment)
    return _find(client, found.experiment_id, run_name) if found is not None else None


def child_runs(experiment: str, parent_run_id: str) -> dict[str, str]:
    """{run id: run name} of the runs nested under parent_run_id (a search's trials)."""
    client = MlflowClient(tracking_uri())
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}'")
    return {run.info.run_id: run.data.tags.get(RUN_NAME_TAG, run.info.run_name) for run in runs}


def _find(client: MlflowClient, experiment_id: str, run_name: str) -> str | None:
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.`{RUN_NAME_TAG}` = '{run_name}'", max_results=1
    )
    return found[0].info.run_id if found else None


def log_metrics(run_id: str, metrics: dict[str, float], step: int | None = None) -> None:
    now = int(time.time() * 1000)
    entries = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
    MlflowClient(tracking_uri()).log_batch(run_id, metrics=entries)


def log_artifacts(run_id: str, paths: list[Path], artifact_path: str | None = None) -> None:
    client = MlflowClient(tracking_uri())
    for path in paths:
        client.log_artifact(run_id, str(path), artifact_path)


def log_json(run_id: str, data: dict[str, Any], name: str) -> None:
    MlflowClient(tracking_uri()).log_text(run_id, json.dumps(data, indent=2, sort_keys=True), name)


def set_tags(run_id: str, tags: dict[str, str]) -> None:
    client = MlflowClient(tracking_uri())
    for key, value in tags.items():
        client.set_tag(run_id, key, value)


def finish_run(run_id: str, status: str = "FINISHED") -> None:
    MlflowClient(tracking_uri()).set_terminated(run_id, status=status)


def ui_hint() -> str:
    """How to see the runs: a tracking server is its own UI (open its address); a local store needs
    `mlflow ui`, bound to loopback."""
    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        return f"open {display_uri()} in a browser (the tracking server's UI)"
    return f"mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000"


def display_uri() -> str:
    """The tracking URI as it may be printed: without a password in it."""
    return re.sub(r"//[^/@]*@", "//", tracking_uri())
