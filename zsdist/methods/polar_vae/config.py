"""The polar VAE's configs: training (`zsdist train polar-vae`) and evaluation (`zsdist eval polar-vae`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from zsdist.base.errors import ConfigError
from zsdist.methods.polar_vae.model import PolarVAEConfig
from zsdist.run_config import EvalConfig, TrainingConfig


@dataclass(kw_only=True)
class PolarTrainConfig(TrainingConfig):
    data: str = ""  # the polar dataset directory (from `zsdist datagen polar`)
    run_name: str = "polar-vae"
    experiment: str = "polar-vae"
    validate_every: int = 0  # epochs between val/hole_mse scores (the hole's reconstruction error); 0 = never
    model: PolarVAEConfig = field(default_factory=PolarVAEConfig)
    train_on: Literal["punctured", "full"] = "punctured"  # experiment 1 / experiment 2
    batch_size: int = 32  # images per step on each worker
    beta: float = 1.0  # weight of the KL term once warmed up
    beta_warmup_epochs: int = 2  # beta rises linearly from 0 at epoch 0 to `beta` at this epoch
    # penalty on the latent means: abs (mean |mu_i mu_j|, the original) or cov
    decorrelation: Literal["none", "abs", "cov"] = "none"
    decorrelation_weight: float = 1e-3  # weight of the decorrelation penalty
    max_steps_per_epoch: int = 0  # 0 = the whole shard; small values for smoke tests and benchmarks

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1 (got {self.batch_size})")
        for name in ("beta", "decorrelation_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (got {getattr(self, name)})")
        if self.beta_warmup_epochs < 0 or self.max_steps_per_epoch < 0:
            raise ConfigError("beta_warmup_epochs and max_steps_per_epoch must be >= 0")


@dataclass(kw_only=True)
class PolarEvalConfig(EvalConfig):
    run_name: str = "polar-vae"  # the training run to evaluate
    experiment: str = "polar-vae"  # the MLflow experiment the run is in
