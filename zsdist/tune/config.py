"""`zsdist tune <method>`'s config: the method's training config plus a `search` section.

Flags keep the training flags' names (`--epochs`, `--model.latent_dim`) and add `--search.*`; a
search space names the same dotted keys (zsdist/tune/space.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, make_dataclass
from typing import TYPE_CHECKING

from zsdist.base.errors import ConfigError

if TYPE_CHECKING:
    from zsdist.methods.method import Method


@dataclass(kw_only=True)
class SearchConfig:
    name: str = ""  # the search: its Tune experiment, MLflow parent run and trial run names; "" = <model>-search
    space: str = ""  # a preset name (zsdist/tune/space.py) or a YAML/JSON file; "" = the model's preset
    num_samples: int = 12  # trials the searcher samples
    searcher: str = "optuna"  # optuna (TPE, seeded) or random
    seed: int = 0  # the searcher's seed
    grace_period: int = 1  # ASHA: epochs every trial runs before it can be stopped
    reduction_factor: int = 2  # ASHA: keep the best 1/reduction_factor at each rung
    max_concurrent_trials: int = 0  # 0 = as many as the cluster's free CPUs (GPUs) hold
    trial_cpus: float = 0.1  # the trial's own actor: it only drives its TorchTrainer
    test_seeds: int = 3  # the best config re-run on test with this many seeds; 0 = no re-run

    def __post_init__(self) -> None:
        if "/" in self.name:
            raise ConfigError(f"search.name must not contain '/' (got {self.name!r})")
        if self.searcher not in ("optuna", "random"):
            raise ConfigError(f"search.searcher must be optuna or random (got {self.searcher!r})")
        for name in ("num_samples", "grace_period"):
            if getattr(self, name) < 1:
                raise ConfigError(f"search.{name} must be >= 1 (got {getattr(self, name)})")
        if self.reduction_factor < 2:
            raise ConfigError(f"search.reduction_factor must be >= 2 (got {self.reduction_factor})")
        if self.max_concurrent_trials < 0 or self.test_seeds < 0 or not self.trial_cpus >= 0:
            raise ConfigError("search.max_concurrent_trials, test_seeds and trial_cpus must be >= 0")


@functools.cache
def tune_config(method: Method) -> type:
    """The config class of `zsdist tune <method>`: what `zsdist train <method>` takes, and `search`.

    It extends the train command's own config (CADA-VAE's has the evaluation's fields, which the test
    re-run of the best config uses).
    """
    base = method.command_config or method.train_config
    return make_dataclass(f"{base.__name__}Search", [("search", SearchConfig, field(default_factory=SearchConfig))],
                          bases=(base,), kw_only=True)
