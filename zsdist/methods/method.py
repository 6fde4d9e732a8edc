"""What a method tells the shared machinery: its configs, its per-worker training, its evaluation.

Everything that is the same for every method lives elsewhere and reads a `Method`: the driver and the
per-worker loop (zsdist/train/run.py, zsdist/train/loop.py), the CLI, the jobs/ entry points, the
search (zsdist/tune/) and `zsdist compare`. A method supplies only what differs:

- `plan(cfg)` (driver side, before Ray starts): check the dataset, resolve what the config takes
  from it, and say what the workers and MLflow get (`TrainingPlan`).
- `worker` (each Ray Train worker): a `MethodWorker` subclass that builds the models, prepares them
  for DDP and trains one epoch (zsdist/train/loop.py).
- `validation` (rank 0, every `validate_every` epochs): a class built from the config whose call
  scores a model, e.g. {"val/psnr": ...}; zsdist/train/validation.py keeps the cadence.
- `evaluate(cfg, checkpoint)`: score a trained run's checkpoint (`Evaluation`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

EVAL_PREFIX = "eval/"


@dataclass(kw_only=True)
class TrainingPlan:
    """What `plan(cfg)` found: the run's config and what goes with it to the workers and to MLflow."""

    cfg: Any  # the config as the run records it (e.g. with dimensions read from the dataset)
    payload: dict[str, Any] = field(default_factory=dict)  # plain data every worker gets (WorkerContext.payload)
    params: dict[str, Any] = field(default_factory=dict)  # MLflow params beside the config's own
    artifacts: dict[str, Any] = field(default_factory=dict)  # JSON artifacts of the run: {file name: content}
    # The Ray Datasets Ray Train shards over the workers, made once Ray is up ({} = workers read their own).
    datasets: Callable[[], dict[str, Any]] = dict


@dataclass(kw_only=True)
class Checkpointed:
    """A trained run's latest checkpoint, as an evaluation gets it."""

    path: Any  # the checkpoint directory (a Path or a storage URI)
    state: dict[str, Any]  # its contents (zsdist/train/checkpoint.py load_state): model, config, epoch, ...
    data_dir: Any  # the dataset to score on: --data, else the one the run trained on
    out_dir: Path  # where the evaluation writes its files


@dataclass(kw_only=True)
class Evaluation:
    metrics: dict[str, float]  # logged to the run as <prefix><name>
    artifacts: list[Path] = field(default_factory=list)  # files logged under the run's eval/ artifacts
    documents: dict[str, Any] = field(default_factory=dict)  # JSON artifacts {path in the run: content}
    prefix: str = EVAL_PREFIX


class TrainResult(NamedTuple):
    run_id: str  # the MLflow run
    checkpoint: Any  # its latest checkpoint directory
    metrics: dict[str, float]  # the last epoch's report


class EvalResult(NamedTuple):
    run_id: str
    metrics: dict[str, float]
    out_dir: Path


@dataclass(frozen=True, kw_only=True)
class Search:
    """How `zsdist tune <method>` searches: the validation metric every trial reports, and the preset."""

    metric: str  # reported every epoch once trial_overrides are set, e.g. "val/psnr"
    mode: str  # "max" or "min"
    space: Callable[[Any], dict[str, Any]]  # the preset space for a base config (zsdist/tune/space.py's format)
    trial_overrides: dict[str, Any] = field(default_factory=lambda: {"validate_every": 1})
    # (best config, seeds, run name) -> test/<metric>/mean and /std; None = train and evaluate each seed
    rerun: Callable[[Any, int, str], dict[str, float]] | None = None


@dataclass(frozen=True, kw_only=True, eq=False)  # one object per method: hashed and compared by identity
class Method:
    name: str  # the command name: zsdist train|eval|tune <name>
    train_help: str  # one line for `zsdist train --help`
    eval_help: str  # one line for `zsdist eval --help`
    dataset_kind: str  # what --data must hold: polar, fonts or features (zsdist/data/kinds.py)
    train_config: type  # a TrainingConfig subclass (zsdist/run_config.py)
    eval_config: type  # an EvalConfig subclass
    plan: Callable[[Any], TrainingPlan]
    worker: type  # a MethodWorker subclass (zsdist/train/loop.py)
    validation: type | None  # built from the config on rank 0; its call scores a model
    evaluate_checkpoint: Callable[[Any, Checkpointed], Evaluation]
    headline: tuple[str, ...]  # eval metrics the CLI prints; the first four are `zsdist compare`'s columns
    loss_metric: str = "loss"  # the training metric the console and the CLI's summary show
    speed_metric: str = "images_per_s"
    search: Search
    # `zsdist train <name>` with a config of its own (CADA-VAE's --seeds): the class and a runner that
    # returns what to print. None = the plain train_config and `train`.
    command_config: type | None = None
    command: Callable[[Any], str] | None = None

    def train(self, cfg: Any, *, parent_run_id: str | None = None, callbacks: list | None = None) -> TrainResult:
        """Train (or resume) the run cfg.run_name (zsdist/train/run.py)."""
        from zsdist.train.run import train

        return train(self, cfg, parent_run_id=parent_run_id, callbacks=callbacks)

    def evaluate(self, cfg: Any) -> EvalResult:
        """Evaluate the run cfg.run_name's latest checkpoint; metrics and files go to its MLflow run."""
        from zsdist.train.run import evaluate

        return evaluate(self, cfg)

    def train_and_describe(self, cfg: Any) -> str:
        """Train, then say in one line where the run ended (what `zsdist train` prints)."""
        run_id, checkpoint, metrics = self.train(cfg)
        return (f"run '{cfg.run_name}' (MLflow run {run_id}) finished epoch {int(metrics['epoch'])}: "
                f"{self.loss_metric} {metrics[self.loss_metric]:.4g}; checkpoint {checkpoint}")

    def format_headline(self, metrics: dict[str, float]) -> str:
        return "\n".join(f"  {name:<34} {metrics[name]:.5g}" for name in self.headline if name in metrics)
