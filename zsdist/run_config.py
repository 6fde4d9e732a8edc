"""What the config of every run has, whatever the method: its name, experiment, data and checkpoints
(`RunConfig`); for an evaluation, where its files go (`EvalConfig`); for training, the workers,
epochs, seed, precision, failure budget and the checkpoint and validation cadences (`TrainingConfig`).

A method's config extends one of these, sets its own defaults by declaring a field again (its
`run_name`, `experiment`, `epochs`, ...) and adds what is its own. Field names are the flags
(`--epochs`) and the MLflow params, so they are the same for every method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from zsdist.base.errors import ConfigError


@dataclass(kw_only=True)
class RunConfig:
    run_name: str = "run"  # names the checkpoints and the MLflow run: same name -> resume
    experiment: str = "zsdist"  # the MLflow experiment the run is logged to
    data: str = ""  # the dataset directory (or URI); for an evaluation, empty = the one trained on
    storage_path: str = ""  # where the run's checkpoints are; empty = <workspace>/checkpoints

    def __post_init__(self) -> None:
        if not self.run_name or "/" in self.run_name:
            raise ConfigError(f"run_name must be a non-empty name without '/' (got {self.run_name!r})")


@dataclass(kw_only=True)
class EvalConfig(RunConfig):
    out: str = ""  # where the evaluation writes its files; empty = <workspace>/eval/<run_name>


@dataclass(kw_only=True)
class TrainingConfig(RunConfig):
    epochs: int = 10  # passes over each worker's shard of the training data
    lr: float = 1e-3  # Adam learning rate
    seed: int = 0  # model init, sampling and shuffling: the same seed repeats a CPU run
    num_workers: int = 2  # DDP workers (Ray Train)
    use_gpu: bool = False  # one GPU per worker, NCCL instead of gloo
    cpus_per_worker: float = 0.5  # Ray CPUs each worker holds
    mixed_precision: Literal["none", "bf16"] = "none"  # bf16 autocast of the layers: GPUs, CPUs with AVX512-BF16 or AMX (float32 on other CPUs)
    max_failures: int = 1  # worker failures survived by restarting from the last checkpoint
    validate_every: int = 0  # epochs between the method's val/ scores (what searches optimise); 0 = never
    checkpoint_every: int = 1  # epochs between checkpoints (the last epoch always has one)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("epochs", "num_workers", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1 (got {getattr(self, name)})")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0 (got {self.lr})")
        for name in ("cpus_per_worker", "max_failures"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (got {getattr(self, name)})")
        if self.validate_every < 0:
            raise ConfigError(f"validate_every must be >= 0 (got {self.validate_every}): "
                              "pass 0 (never) or N to score the val/ metrics every N epochs")
