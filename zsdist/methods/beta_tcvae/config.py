"""The beta-TCVAE + ES configs: beta-VAE + ES's, with the weights of the decomposed KL."""

from __future__ import annotations

import math
from dataclasses import dataclass

from zsdist.base.errors import ConfigError
from zsdist.methods.beta_tcvae.objective import BetaTCVAELoss
from zsdist.methods.beta_vae.config import BetaVAEEvalConfig, BetaVAETrainConfig
from zsdist.methods.beta_vae.model import Loss


@dataclass(kw_only=True)
class BetaTCVAETrainConfig(BetaVAETrainConfig):
    run_name: str = "beta-tcvae-es"
    experiment: str = "beta-tcvae-es"
    alpha: float = 1.0  # weight of the index-code mutual information
    beta: float = 6.0  # weight of the total correlation (beta-TCVAE's beta)
    gamma: float = 1.0  # weight of the dimension-wise KL
    # training images N of the minibatch-weighted sampling estimate; 0 = counted from the data at plan time
    dataset_size: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("alpha", "gamma"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a finite weight >= 0 (got {value}): e.g. 1")
        if self.dataset_size < 0:
            raise ConfigError(f"dataset_size must be >= 0 (got {self.dataset_size}): 0 counts it from the data")

    def objective(self) -> Loss:
        if self.dataset_size < 1:
            raise ConfigError("dataset_size is 0: train through `zsdist train beta-tcvae-es`, whose plan counts "
                              "the training images, or pass --dataset_size")
        return BetaTCVAELoss(alpha=self.alpha, beta=self.beta, gamma=self.gamma, dataset_size=self.dataset_size)


@dataclass(kw_only=True)
class BetaTCVAEEvalConfig(BetaVAEEvalConfig):
    run_name: str = "beta-tcvae-es"  # the training run to evaluate
    experiment: str = "beta-tcvae-es"  # the MLflow experiment the run is in
