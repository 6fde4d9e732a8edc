"""Training and evaluating any method from the driver: the steps that are the same for all of them.

    get_method("gzsnet").train(cfg)      # zsdist train gzsnet: check the data, MLflow, TorchTrainer
    get_method("gzsnet").evaluate(cfg)   # zsdist eval gzsnet: the run's last checkpoint, scored and logged

A method's `plan` and `evaluate_checkpoint` (zsdist/methods/method.py) supply what differs. The
TorchTrainer itself is built in driver.py, and its workers run loop.py's train_loop_per_worker.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zsdist.base import tracking
from zsdist.base.console import progress_bar
from zsdist.base.errors import ConfigError
from zsdist.base.ray_setup import init_ray
from zsdist.base.storage import atomic_write, location
from zsdist.base.workspace import default_eval_dir
from zsdist.config import flatten, to_dict
from zsdist.data.kinds import make_command, require_kind
from zsdist.methods.method import Checkpointed, EvalResult, TrainResult
from zsdist.train.checkpoint import finished_checkpoint, load_state, result_checkpoint, run_checkpoint, storage_root
from zsdist.train.driver import Scaling, fit
from zsdist.train.loop import train_loop_per_worker
from zsdist.train.progress import EpochProgress

if TYPE_CHECKING:
    from zsdist.methods.method import Method


def train(method: Method, cfg: Any, *, parent_run_id: str | None = None,
          callbacks: list | None = None) -> TrainResult:
    """Train (or resume) the run `cfg.run_name`: (MLflow run id, checkpoint dir, last epoch's metrics).

    parent_run_id nests its MLflow run under another; callbacks go to Ray Train (a search's reporter).
    """
    if not cfg.data:
        raise ConfigError(f"no dataset given: pass --data DIR (made by `{make_command(method.dataset_kind)}`)")
    data_dir = location(cfg.data)
    require_kind(data_dir, method.dataset_kind, f"zsdist train {method.name}")
    plan = method.plan(replace(cfg, data=str(data_dir), storage_path=str(storage_root(cfg.storage_path))))
    cfg = plan.cfg
    # A finished run trained again only hands back its last metrics: no Ray Train run (~20 s) for that.
    # A search's trial (callbacks) always runs, since Tune needs its reports.
    done = finished_checkpoint(cfg.storage_path, cfg.run_name, cfg.epochs) if callbacks is None else None
    run_id = tracking.start_or_resume_run(cfg.experiment, cfg.run_name, to_dict(cfg),
                                          {**flatten(cfg), **plan.params}, parent_run_id=parent_run_id)
    if done is not None:
        tracking.finish_run(run_id)
        return TrainResult(run_id, *done)
    init_ray()
    for name, content in plan.artifacts.items():
        tracking.log_json(run_id, content, name)
    # A search's trials (callbacks) run in actors: no console of theirs to draw on.
    shown = EpochProgress(run_id=run_id, run_name=cfg.run_name, epochs=cfg.epochs, loss=method.loss_metric,
                          speed=method.speed_metric) if callbacks is None else contextlib.nullcontext()
    try:
        with shown:
            result = fit(
                train_loop_per_worker,
                {"method": method.name, "train": to_dict(cfg), "payload": plan.payload, "mlflow_run_id": run_id,
                 "replay_history": callbacks is not None},
                run_name=cfg.run_name,
                storage_path=storage_root(cfg.storage_path),
                scaling=Scaling(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu,
                                cpus_per_worker=cfg.cpus_per_worker),
                datasets=plan.datasets(),
                max_failures=cfg.max_failures,
                callbacks=callbacks,
            )
    except BaseException:
        tracking.finish_run(run_id, status="FAILED")
        raise
    tracking.finish_run(run_id)
    return TrainResult(run_id, result_checkpoint(result.checkpoint, cfg.storage_path), dict(result.metrics))


def evaluate(method: Method, cfg: Any) -> EvalResult:
    """Score the run's latest checkpoint; metrics, files and JSON documents go to its MLflow run and
    the JSON documents to the output directory too."""
    path = run_checkpoint(cfg.storage_path, cfg.run_name, train_command=f"zsdist train {method.name}")
    state = load_state(path)
    data_dir = location(cfg.data or state["config"]["data"])
    require_kind(data_dir, method.dataset_kind, f"zsdist eval {method.name}")
    out_dir = Path(cfg.out).expanduser().resolve() if cfg.out else default_eval_dir(cfg.run_name)
    with progress_bar(total=1, desc=f"evaluate {cfg.run_name}", unit="run") as bar:
        evaluation = method.evaluate_checkpoint(cfg, Checkpointed(path=path, state=state, data_dir=data_dir,
                                                                  out_dir=out_dir))
        bar.update()
    run_id = tracking.start_or_resume_run(cfg.experiment, cfg.run_name, state["config"], flatten(state["config"]))
    tracking.log_metrics(run_id, {evaluation.prefix + k: v for k, v in evaluation.metrics.items()},
                         step=state["epoch"])
    if evaluation.artifacts:
        tracking.log_artifacts(run_id, evaluation.artifacts, artifact_path="eval")
    for name, content in evaluation.documents.items():
        tracking.log_json(run_id, content, name)
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(out_dir / Path(name).name, (json.dumps(content, indent=1) + "\n").encode())
    tracking.finish_run(run_id)
    return EvalResult(run_id, evaluation.metrics, out_dir)
