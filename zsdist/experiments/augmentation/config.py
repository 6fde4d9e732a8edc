"""`zsdist augment`'s config: the generator run, the sets, the font classifier and its seeds.

    zsdist augment --data DIR --config configs/augment_cpu.yaml --seeds 0,1,2

The generator section is a GZS-Net training config (`zsdist train gzsnet`'s flags under `--generator.`)
with the experiment's defaults; its held_out is the experiment's split, so one setting decides what
the generator never sees, what the classifier never trains on and where the test images come from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from zsdist.base.errors import ConfigError
from zsdist.data.heldout import HeldOutConfig
from zsdist.methods.gzsnet.config import GZSNetTrainConfig
from zsdist.methods.gzsnet.model import PRESETS, GZSNetConfig

CONDITIONS = ("real", "standard", "gzsnet", "ae_ds")  # the classifier's four training sets, in table order


@dataclass(kw_only=True)
class GeneratorConfig(GZSNetTrainConfig):
    # Redeclared defaults: a partial section (`--generator.held_out.fraction 0.4`, a YAML `model:` with
    # one key) is completed from these, not from `zsdist train gzsnet`'s own.
    run_name: str = "augment-gzsnet"  # the GZS-Net run (AE+DS trains beside it); a finished one is reused
    experiment: str = "augment"  # the MLflow experiment of the generator run
    data: str = ""  # leave empty: the generator trains on the experiment's --data
    storage_path: str = ""  # leave empty: the generator's checkpoints go to the experiment's --storage_path
    model: GZSNetConfig = field(default_factory=lambda: PRESETS["cpu32"])  # GZS-Net's and AE+DS's autoencoder
    # the missing combinations: pairs must include font (the classifier's label), e.g. font,font_colour
    held_out: HeldOutConfig = field(default_factory=lambda: HeldOutConfig(pairs=("font", "font_colour"),
                                                                          fraction=0.3, seed=1))

    def training(self) -> GZSNetTrainConfig:
        """The plain GZS-Net config (what its checkpoint records and `zsdist eval gzsnet` reads back)."""
        return GZSNetTrainConfig(**{f.name: getattr(self, f.name) for f in fields(GZSNetTrainConfig)})


@dataclass(kw_only=True)
class SetsConfig:
    test_per_font: int = 60  # real images of missing combinations per font in the test set (a seeded sample)
    extra_per_combination: int = 60  # images each augmentation adds per missing combination (drawn with replacement)
    max_shift: int = 2  # standard augmentation: random translation of up to this many pixels each way
    seed: int = 0  # draws the test sample, the synthesis targets and sources, and the standard augmentation

    def __post_init__(self) -> None:
        for name in ("test_per_font", "extra_per_combination"):
            if getattr(self, name) < 1:
                raise ConfigError(f"sets.{name} must be >= 1 (got {getattr(self, name)})")
        if self.max_shift < 0:
            raise ConfigError(f"sets.max_shift must be >= 0 (got {self.max_shift}): pass 0 for no translation")


@dataclass(kw_only=True)
class FontClassifierConfig:
    width: int = 16  # channels of the first conv block; the second and third have 2x and 4x
    steps: int = 1200  # Adam steps, the same for every condition (a bigger set is not also a longer training)
    batch_size: int = 64  # images per step
    lr: float = 1e-3  # Adam learning rate

    def __post_init__(self) -> None:
        for name in ("width", "steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"classifier.{name} must be >= 1 (got {getattr(self, name)})")
        if self.batch_size < 2:
            raise ConfigError(f"classifier.batch_size must be >= 2 for batch norm (got {self.batch_size})")
        if not self.lr > 0:
            raise ConfigError(f"classifier.lr must be > 0 (got {self.lr})")


@dataclass(kw_only=True)
class AugmentConfig:
    run_name: str = "augment"  # the parent MLflow run; children <run_name>-<condition>-seed<seed>; same name resumes
    experiment: str = "augment"  # the MLflow experiment of the parent and child runs
    data: str = ""  # the Fonts dataset directory (from `zsdist datagen fonts`)
    storage_path: str = ""  # where the generator's checkpoints are; empty = <workspace>/checkpoints
    out: str = ""  # where the table files go; empty = <workspace>/eval/<run_name>
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)  # `zsdist train gzsnet`'s config
    sets: SetsConfig = field(default_factory=SetsConfig)  # the test set and the augmentation sets
    classifier: FontClassifierConfig = field(default_factory=FontClassifierConfig)  # the font CNN
    seeds: tuple[int, ...] = (0, 1, 2)  # classifier seeds (init and batch order): mean ± std over them

    def __post_init__(self) -> None:
        if not self.run_name or "/" in self.run_name:
            raise ConfigError(f"run_name must be a non-empty name without '/' (got {self.run_name!r})")
        if "font" not in self.generator.held_out.pairs:
            pairs = ",".join(self.generator.held_out.pairs)
            raise ConfigError(f"generator.held_out.pairs must include font, the classifier's label (got {pairs}): "
                              "e.g. --generator.held_out.pairs font,font_colour")
        if self.generator.held_out.fraction <= 0:
            raise ConfigError("generator.held_out.fraction must be > 0: the test set is made of missing combinations")
        if not self.generator.ae_ds_baseline:
            raise ConfigError("generator.ae_ds_baseline must be true: the ae_ds condition synthesises with it")
        for name in ("data", "storage_path"):
            if getattr(self.generator, name):
                raise ConfigError(f"generator.{name} is taken from --{name}: leave it empty and pass --{name}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds must be distinct and at least one (got {self.seeds}): e.g. --seeds 0,1,2")

    def generator_training(self) -> GZSNetTrainConfig:
        """The generator's `zsdist train gzsnet` config, on this experiment's dataset and storage."""
        return replace(self.generator.training(), data=self.data, storage_path=self.storage_path)
