"""The polar study's steps as library functions: generate -> train -> evaluate, and the demo.

The CLI (`zsdist datagen polar`, `zsdist train polar-vae`, `zsdist eval polar-vae`, `zsdist demo`)
and the `ray job submit` entry points in jobs/ call these and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from datagen.errors import ConfigError
from datagen.ray_setup import init_ray
from datagen.run import GenerationReport, generate_polar
from datagen.spec.polar import PolarSpec
from datagen.storage import location
from zsdist import tracking
from zsdist.config import flatten, to_dict
from zsdist.data.kinds import require_kind
from zsdist.data.polar import dataset_resolution, training_dataset
from zsdist.eval.polar_vae_eval import HEADLINE, evaluate_checkpoint
from zsdist.run_config import RunConfig
from zsdist.train.checkpoint import load_state, result_checkpoint, run_checkpoint, storage_root
from zsdist.train.driver import Scaling, fit
from zsdist.train.polar_vae import (
    PolarTrainConfig,
    loop_config_for,
    train_loop_per_worker,
)
from zsdist.workspace import (
    default_dataset_dir,
    default_eval_dir,
)


@dataclass(kw_only=True)
class PolarEvalConfig(RunConfig):
    run_name: str = "polar-vae"  # the training run to evaluate
    experiment: str = "polar-vae"  # the MLflow experiment the run is in
    out: str = ""  # empty = <workspace>/eval/<run_name>


def default_polar_dir(spec: PolarSpec) -> Path:
    return default_dataset_dir(f"polar-r{spec.resolution}-seed{spec.seed}")


def generate(spec: PolarSpec, out: str = "", *, num_workers: int = 2) -> tuple[Path, GenerationReport]:
    """Render the dataset into `out` (default: in the workspace); reruns resume."""
    if num_workers < 1:
        raise ConfigError(f"num_workers must be >= 1 (got {num_workers})")
    out_dir = location(out) if out else default_polar_dir(spec)
    init_ray()
    return out_dir, generate_polar(spec, out_dir, num_workers=num_workers)


def train(cfg: PolarTrainConfig, *, parent_run_id: str | None = None,
          callbacks: list | None = None) -> tuple[str, Path, dict[str, float]]:
    """Train (or resume) the run `cfg.run_name`; returns (MLflow run id, checkpoint dir, final metrics).

    parent_run_id nests its MLflow run under another; callbacks go to Ray Train (a search's reporter).
    """
    if not cfg.data:
        raise ConfigError("no dataset given: pass --data DIR (made by `zsdist datagen polar --out DIR`)")
    data_dir = location(cfg.data)
    require_kind(data_dir, "polar", "zsdist train polar-vae")
    cfg = replace(cfg, data=str(data_dir), storage_path=str(storage_root(cfg.storage_path)))
    resolution = dataset_resolution(data_dir)  # also checks that the shards are all there
    cfg.model.check_resolution(resolution)
    init_ray()
    run_id = tracking.start_or_resume_run(cfg.experiment, cfg.run_name, to_dict(cfg),
                                          {**flatten(cfg), "resolution": resolution}, parent_run_id=parent_run_id)
    try:
        result = fit(
            train_loop_per_worker,
            loop_config_for(cfg, resolution=resolution, mlflow_run_id=run_id),
            run_name=cfg.run_name,
            storage_path=storage_root(cfg.storage_path),
            scaling=Scaling(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu, cpus_per_worker=cfg.cpus_per_worker),
            datasets={"train": training_dataset(data_dir, cfg.train_on)},
            max_failures=cfg.max_failures,
            callbacks=callbacks,
        )
    except BaseException:
        tracking.finish_run(run_id, status="FAILED")
        raise
    tracking.finish_run(run_id)
    return run_id, result_checkpoint(result.checkpoint, cfg.storage_path), dict(result.metrics)


def evaluate(cfg: PolarEvalConfig) -> tuple[str, dict[str, float], Path]:
    """Evaluate the run's latest checkpoint and log metrics + artifacts to its MLflow run."""
    checkpoint = run_checkpoint(cfg.storage_path, cfg.run_name, train_command="zsdist train polar-vae")
    trained_on = load_state(checkpoint)["config"]
    data_dir = location(cfg.data or trained_on["data"])
    require_kind(data_dir, "polar", "zsdist eval polar-vae")
    out_dir = Path(cfg.out).expanduser().resolve() if cfg.out else default_eval_dir(cfg.run_name)
    metrics, artifacts = evaluate_checkpoint(checkpoint, data_dir, out_dir)
    run_id = tracking.start_or_resume_run(cfg.experiment, cfg.run_name, trained_on, flatten(trained_on))
    tracking.log_metrics(run_id, {f"eval/{k}": v for k, v in metrics.items()})
    tracking.log_artifacts(run_id, artifacts, artifact_path="eval")
    tracking.finish_run(run_id)
    return run_id, metrics, out_dir


def headline(metrics: dict[str, float]) -> str:
    return "\n".join(f"  {name:<24} {metrics[name]:.5f}" for name in HEADLINE if name in metrics)
