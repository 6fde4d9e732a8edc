"""GZS-Net's steps as library functions: train (with the AE+DS baseline beside it) and evaluate.

The CLI (`zsdist train gzsnet`, `zsdist eval gzsnet`) and the jobs/ entry points call these.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from datagen.errors import ConfigError, DataError
from datagen.ray_setup import init_ray
from datagen.shards import dataset_files, read_spec
from datagen.spec.fonts import ATTRIBUTES, FontsSpec
from datagen.storage import location
from zsdist import tracking
from zsdist.config import flatten, to_dict
from zsdist.data.fonts import downscale_factor
from zsdist.data.heldout import held_out_pairs
from zsdist.data.kinds import require_kind
from zsdist.eval.gzsnet_eval import HEADLINE, SynthesisEvalConfig, evaluate_checkpoint
from zsdist.models.gzsnet import GZSNet, with_attributes
from zsdist.run_config import RunConfig
from zsdist.train.checkpoint import load_state, result_checkpoint, run_checkpoint, storage_root
from zsdist.train.driver import Scaling, fit
from zsdist.train.gzsnet import GZSNetTrainConfig, loop_config_for, train_loop_per_worker
from zsdist.workspace import default_eval_dir


@dataclass(kw_only=True)
class GZSNetEvalConfig(RunConfig):
    run_name: str = "gzsnet"  # the training run to evaluate
    experiment: str = "gzsnet"  # the MLflow experiment the run is in
    out: str = ""  # empty = <workspace>/eval/<run_name>
    synthesis: SynthesisEvalConfig = field(default_factory=SynthesisEvalConfig)


def held_out_record(cfg: GZSNetTrainConfig, description: dict) -> dict:
    """The held-out split as MLflow gets it: its config and every held-out pair, by index and by name."""
    held = held_out_pairs(cfg.held_out, description)
    names = [[description["attributes"][attribute][value].get("name", value)
              for attribute, value in zip(cfg.held_out.pairs, pair)] for pair in held.tolist()]
    return {**cfg.held_out.to_dict(), "count": len(held), "values": held.tolist(), "names": names}


def train(cfg: GZSNetTrainConfig, *, parent_run_id: str | None = None,
          callbacks: list | None = None) -> tuple[str, Path, dict[str, float]]:
    """Train (or resume) the run `cfg.run_name`; returns (MLflow run id, checkpoint dir, final metrics).

    parent_run_id nests its MLflow run under another; callbacks go to Ray Train (a search's reporter).
    """
    if not cfg.data:
        raise ConfigError("no dataset given: pass --data DIR (made by `zsdist datagen fonts --out DIR`)")
    data_dir = location(cfg.data)
    require_kind(data_dir, "fonts", "zsdist train gzsnet")
    dataset_files(data_dir, dataset="fonts")  # every shard is there and whole
    description = read_spec(data_dir, dataset="fonts")
    if set(description.get("attributes", ())) != set(ATTRIBUTES):
        raise DataError(f"{data_dir} lacks the Fonts attribute metadata {ATTRIBUTES}: generate it with "
                        "`zsdist datagen fonts`")
    spec = FontsSpec.from_dict(description["spec"])
    downscale_factor(spec.resolution, cfg.model.image_size)
    # One latent chunk per attribute of the dataset, in the order of the group's partner slots (the
    # dataset's column order; the metadata is a JSON mapping, whose key order is not to be relied on).
    cfg = replace(cfg, data=str(data_dir), storage_path=str(storage_root(cfg.storage_path)),
                  model=with_attributes(cfg.model, ATTRIBUTES))
    held_out = held_out_record(cfg, description)
    init_ray()
    parameters = sum(p.numel() for p in GZSNet(cfg.model).parameters())
    run_id = tracking.start_or_resume_run(
        cfg.experiment, cfg.run_name, to_dict(cfg),
        {**flatten(cfg), "dataset.resolution": spec.resolution, "model.parameters": parameters,
         "held_out.count": held_out["count"]}, parent_run_id=parent_run_id)
    tracking.log_json(run_id, held_out, "held_out.json")
    try:
        result = fit(
            train_loop_per_worker,
            loop_config_for(cfg, num_values=spec.shape, mlflow_run_id=run_id),
            run_name=cfg.run_name,
            storage_path=storage_root(cfg.storage_path),
            scaling=Scaling(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu, cpus_per_worker=cfg.cpus_per_worker),
            datasets={},  # each worker reads its own shards (see train/gzsnet.py)
            max_failures=cfg.max_failures,
            callbacks=callbacks,
        )
    except BaseException:
        tracking.finish_run(run_id, status="FAILED")
        raise
    tracking.finish_run(run_id)
    return run_id, result_checkpoint(result.checkpoint, cfg.storage_path), dict(result.metrics)


def evaluate(cfg: GZSNetEvalConfig) -> tuple[str, dict[str, float], Path]:
    """Evaluate the run's latest checkpoint; metrics and artifacts go to its MLflow run."""
    checkpoint = run_checkpoint(cfg.storage_path, cfg.run_name, train_command="zsdist train gzsnet")
    trained_on = load_state(checkpoint)["config"]
    data_dir = location(cfg.data or trained_on["data"])
    require_kind(data_dir, "fonts", "zsdist eval gzsnet")
    out_dir = Path(cfg.out).expanduser().resolve() if cfg.out else default_eval_dir(cfg.run_name)
    metrics, artifacts = evaluate_checkpoint(checkpoint, data_dir, out_dir, cfg.synthesis)
    run_id = tracking.start_or_resume_run(cfg.experiment, cfg.run_name, trained_on, flatten(trained_on))
    tracking.log_metrics(run_id, {f"eval/{k}": v for k, v in metrics.items()})
    tracking.log_artifacts(run_id, artifacts, artifact_path="eval")
    tracking.finish_run(run_id)
    return run_id, metrics, out_dir


def headline(metrics: dict[str, float]) -> str:
    return "\n".join(f"  {name:<34} {metrics[name]:9.4f}" for name in HEADLINE if name in metrics)
