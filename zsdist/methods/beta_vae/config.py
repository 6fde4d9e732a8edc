"""The beta-VAE + ES configs: training (`zsdist train beta-vae-es`) and evaluation with the exhaustive search.

Data, selection, held-out split and model come in GZS-Net's types, so a run can be configured exactly as
a GZS-Net run (configs/beta_vae_es_cpu.yaml next to configs/gzsnet_cpu.yaml) and scored on its targets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from zsdist.base.errors import ConfigError
from zsdist.data.fonts import FontsSelection
from zsdist.data.heldout import HeldOutConfig
from zsdist.methods.beta_vae.model import Loss
from zsdist.methods.beta_vae.objective import BetaVAELoss
from zsdist.methods.gzsnet.config import TargetsEvalConfig
from zsdist.methods.gzsnet.model import PRESETS, GZSNetConfig
from zsdist.run_config import EvalConfig, TrainingConfig


@dataclass(kw_only=True)
class BetaVAETrainConfig(TrainingConfig):
    data: str = ""  # the Fonts dataset directory (from `zsdist datagen fonts`)
    run_name: str = "beta-vae-es"
    experiment: str = "beta-vae-es"
    lr: float = 5e-4  # Adam learning rate
    # GZS-Net's encoder and decoder; the latent has sum(model.chunk_sizes) dimensions (no chunks)
    model: GZSNetConfig = field(default_factory=lambda: PRESETS["cpu32"])
    selection: FontsSelection = field(default_factory=FontsSelection)  # train on a subset of the values
    held_out: HeldOutConfig = field(default_factory=HeldOutConfig)  # combinations kept for zero-shot eval
    beta: float = 4.0  # weight of the KL term (1 = the plain VAE)
    groups_per_batch: int = 8  # per worker; GZS-Net's groups of 1 + A images, trained on as single images
    shuffle_buffer_groups: int = 256  # groups mixed across consecutive shards before batching; 0 = none
    max_steps_per_epoch: int = 0  # 0 = every group of the worker's shards; small values for tests

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise ConfigError(f"beta must be a finite weight >= 0 (got {self.beta}): e.g. 4")
        if self.groups_per_batch < 1:
            raise ConfigError(f"groups_per_batch must be >= 1 (got {self.groups_per_batch})")
        for name in ("shuffle_buffer_groups", "max_steps_per_epoch"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (got {getattr(self, name)})")

    def objective(self) -> Loss:
        """What the workers minimise (beta-TCVAE's config returns its own)."""
        return BetaVAELoss(beta=self.beta)


@dataclass(kw_only=True)
class ESConfig:
    images: int = 2000  # training images whose posterior means rank the dimensions of each attribute
    pairs: int = 128  # training edits (target, base, donor) that score each candidate subset of an attribute
    candidates: int = 6  # top-ranked dimensions of an attribute whose subsets are searched
    max_dims: int = 3  # most dimensions one attribute may take
    tolerance_db: float = 0.05  # the smallest subset within this many dB of the best edit PSNR is chosen

    def __post_init__(self) -> None:
        for name in ("images", "pairs", "candidates", "max_dims"):
            if getattr(self, name) < 1:
                raise ConfigError(f"es.{name} must be >= 1 (got {getattr(self, name)})")
        if self.images < 2:
            raise ConfigError(f"es.images must be >= 2 to have a variance to explain (got {self.images})")
        if not self.tolerance_db >= 0:
            raise ConfigError(f"es.tolerance_db must be >= 0 (got {self.tolerance_db}): e.g. 0.05")


@dataclass(kw_only=True)
class BetaVAEEvalConfig(EvalConfig):
    run_name: str = "beta-vae-es"  # the training run to evaluate
    experiment: str = "beta-vae-es"  # the MLflow experiment the run is in
    # held-out targets, their sources, bases and nearest neighbours, drawn exactly as `zsdist eval gzsnet` draws them
    synthesis: TargetsEvalConfig = field(default_factory=TargetsEvalConfig)
    es: ESConfig = field(default_factory=ESConfig)  # the exhaustive search, on training images only
    # evaluated runs to tabulate beside this one (comparison.md), as RUN (of experiment gzsnet) or
    # EXPERIMENT/RUN, e.g. gzsnet-cpu,beta-vae-es/beta-vae-es-cpu; each must have scored the same targets
    beside: tuple[str, ...] = ()
