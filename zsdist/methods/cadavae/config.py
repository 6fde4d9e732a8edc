"""CADA-VAE's configs: training (`zsdist train cadavae`) and evaluation (`zsdist eval cadavae`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from zsdist.base.errors import ConfigError
from zsdist.eval.eszsl import ESZSLConfig
from zsdist.eval.latent_classifier import ClassifierConfig
from zsdist.methods.cadavae.model import CADAVAEConfig
from zsdist.methods.cadavae.objective import WarmupConfig
from zsdist.run_config import EvalConfig, TrainingConfig


@dataclass(kw_only=True)
class CADAVAETrainConfig(TrainingConfig):
    data: str = ""  # the feature dataset directory (from `zsdist datagen xlsa17`)
    run_name: str = "cadavae"
    experiment: str = "cadavae"
    epochs: int = 100  # passes over the training rows
    lr: float = 1.5e-4  # Adam with amsgrad, as the paper
    validate_every: int = 0  # epochs between val/S, val/U, val/H (needs validation=pseudo_unseen; 0 = never)
    model: CADAVAEConfig = field(default_factory=CADAVAEConfig)  # feature/attribute dims: from the data
    warmup: WarmupConfig = field(default_factory=WarmupConfig)
    batch_size: int = 50  # per worker (see the module docstring)
    reduction: Literal["sum", "mean"] = "sum"  # loss over a batch: sum (the official code) or mean
    # pseudo_unseen: hold some seen classes out as pseudo-unseen, for val/ scores and searches (no test row)
    validation: Literal["none", "pseudo_unseen"] = "none"
    pseudo_unseen_fraction: float = 0.2  # of the seen classes, with validation="pseudo_unseen"
    checkpoint_every: int = 5  # epochs between checkpoints (the last epoch always has one): each costs ~0.5 s on CUB
    validation_classifier: ClassifierConfig = field(default_factory=ClassifierConfig)  # for val/ scores

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1 (got {self.batch_size})")
        if self.validate_every and self.validation != "pseudo_unseen":
            raise ConfigError(f"validate_every={self.validate_every}: set it to 0, or to N >= 1 with "
                              "--validation pseudo_unseen (the scores need held-out classes)")
        if not 0 < self.pseudo_unseen_fraction < 1:
            raise ConfigError(f"pseudo_unseen_fraction must lie strictly between 0 and 1 "
                              f"(got {self.pseudo_unseen_fraction})")


@dataclass(kw_only=True)
class CADAVAEEvalConfig(EvalConfig):
    run_name: str = "cadavae"  # the training run to evaluate
    experiment: str = "cadavae"  # the MLflow experiment the run is in
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    shots: tuple[int, ...] = (1, 2, 5, 10)  # generalized few-shot: images per unseen class
    # test (the unseen classes) or validation (the run's pseudo-unseen classes; no test row)
    split: Literal["test", "validation"] = "test"
    eszsl: ESZSLConfig = field(default_factory=ESZSLConfig)  # the baseline scored beside CADA-VAE

    def __post_init__(self) -> None:
        super().__post_init__()
        if any(n < 1 for n in self.shots):
            raise ConfigError(f"shots must all be >= 1 (got {self.shots})")
