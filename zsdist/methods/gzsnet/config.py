"""GZS-Net's configs: training (`zsdist train gzsnet`, with the AE+DS baseline) and evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field

from datagen.spec.fonts import ATTRIBUTES
from zsdist.base.errors import ConfigError
from zsdist.data.fonts import FontsSelection
from zsdist.data.heldout import HeldOutConfig
from zsdist.methods.gzsnet.model import PRESETS, GZSNetConfig
from zsdist.methods.gzsnet.objective import GZSNetLossWeights
from zsdist.run_config import EvalConfig, TrainingConfig


@dataclass(kw_only=True)
class GZSNetTrainConfig(TrainingConfig):
    data: str = ""  # the Fonts dataset directory (from `zsdist datagen fonts`)
    run_name: str = "gzsnet"
    experiment: str = "gzsnet"
    lr: float = 5e-4  # Adam learning rate (the released code: 1e-4 with 4 groups per batch)
    validate_every: int = 0  # epochs between val/psnr scores (synthesis of training images); 0 = never
    model: GZSNetConfig = field(default_factory=lambda: PRESETS["cpu64"])  # configs/gzsnet_paper.yaml: paper
    loss: GZSNetLossWeights = field(default_factory=GZSNetLossWeights)
    selection: FontsSelection = field(default_factory=FontsSelection)  # train on a subset of the values
    held_out: HeldOutConfig = field(default_factory=HeldOutConfig)  # combinations kept for zero-shot eval
    ae_ds_baseline: bool = True  # also train the AE+DS baseline on the same batches
    ae_ds_classifier_weight: float = 1.0  # weight of the AE+DS baseline's attribute classification loss
    groups_per_batch: int = 8  # per worker; a group is 1 + A images (6 on Fonts)
    shuffle_buffer_groups: int = 256  # groups mixed across consecutive shards before batching; 0 = none
    max_steps_per_epoch: int = 0  # 0 = every group of the worker's shards; small values for tests
    validation_targets: int = 64  # training images val/psnr draws: a fixed sample from held_out.seed

    def __post_init__(self) -> None:
        super().__post_init__()
        if set(self.model.attributes) == set(ATTRIBUTES) and tuple(self.model.attributes) != ATTRIBUTES:
            # Chunk k is trained against the group's partner slot k, which follows the dataset's columns.
            raise ConfigError(f"model.attributes must follow the dataset's order {','.join(ATTRIBUTES)} "
                              f"(got {','.join(self.model.attributes)})")
        if self.groups_per_batch < 1:
            raise ConfigError(f"groups_per_batch must be >= 1 (got {self.groups_per_batch})")
        for name in ("ae_ds_classifier_weight", "shuffle_buffer_groups", "max_steps_per_epoch"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (got {getattr(self, name)})")
        if self.validation_targets < 1:
            raise ConfigError(f"validation_targets must be >= 1 (got {self.validation_targets}): "
                              "pass how many training images val/psnr draws, e.g. 64")


@dataclass(kw_only=True)
class TargetsEvalConfig:
    """Which held-out targets a zero-shot synthesis evaluation scores; every method scored on Fonts'
    held-out combinations draws them from these, so equal settings give equal targets."""

    max_targets: int = 512  # held-out images scored (a seeded sample when there are more)
    grid_targets: int = 8  # targets shown in the image grids
    batch_size: int = 128  # images per forward pass
    seed: int = 0  # draws the scored targets and their source images

    def __post_init__(self) -> None:
        for name in ("max_targets", "grid_targets", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"synthesis.{name} must be >= 1 (got {getattr(self, name)})")


@dataclass(kw_only=True)
class SynthesisEvalConfig(TargetsEvalConfig):
    probe_images: int = 4000  # training images for the co-prediction probes (3/4 fit, 1/4 scored)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.probe_images < 8:
            raise ConfigError(f"synthesis.probe_images must be >= 8 to fit and score probes (got {self.probe_images})")


@dataclass(kw_only=True)
class GZSNetEvalConfig(EvalConfig):
    run_name: str = "gzsnet"  # the training run to evaluate
    experiment: str = "gzsnet"  # the MLflow experiment the run is in
    synthesis: SynthesisEvalConfig = field(default_factory=SynthesisEvalConfig)
