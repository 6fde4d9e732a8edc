"""What a search needs to know about each model: its config, its validation objective, how a trial
trains, and how the best config is re-run on test.

Every trial runs the model's own `zsdist train` pipeline (the same TorchTrainer driver) with its
validation metric reported every epoch, so Tune's ASHA can stop it early. The objective is always a
validation metric; test data is read only by the final re-run of the best config.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from datagen.errors import ConfigError
from zsdist import tracking
from zsdist.pipelines import cadavae, cadavae_seeds, gzsnet, polar
from zsdist.train.gzsnet import GZSNetTrainConfig
from zsdist.train.polar_vae import PolarTrainConfig
from zsdist.tune.space import apply_params


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


@dataclass(kw_only=True)
class CADAVAETuneConfig(cadavae_seeds.CADAVAESeedsConfig):
    """`zsdist tune cadavae`: the training config (trials), the evaluation's (test re-run), the search."""

    search: SearchConfig = field(default_factory=SearchConfig)


@dataclass(kw_only=True)
class GZSNetTuneConfig(GZSNetTrainConfig):
    search: SearchConfig = field(default_factory=SearchConfig)


@dataclass(kw_only=True)
class PolarTuneConfig(PolarTrainConfig):
    search: SearchConfig = field(default_factory=SearchConfig)


@dataclass(frozen=True)
class Searchable:
    name: str
    config: type
    metric: str  # reported by the training loop every epoch (validate_every=1)
    mode: str
    dataset_kind: str  # what --data must hold (zsdist/data/kinds.py)
    train: Callable[..., Any]  # the pipeline's train(cfg, *, parent_run_id, callbacks)
    trial_overrides: dict[str, Any]  # what every trial sets so its loop reports the metric
    rerun: Callable[[Any, int, str], dict[str, float]]  # (best config, seeds, run name) -> mean/std on test

    def trial_config(self, base: Any, params: dict[str, Any], run_name: str) -> Any:
        """The training config of one trial: the base, the sampled params, the objective switched on."""
        trial = apply_params(base, params, run_name=run_name, **self.trial_overrides)
        return trial.training() if hasattr(trial, "training") else _training_part(trial)


def _training_part(cfg: Any) -> Any:
    """A tune config without its search section: the model's training config."""
    base = type(cfg).__mro__[1]
    return base(**{name: getattr(cfg, name) for name in base.__dataclass_fields__})


def rerun_cadavae(best: CADAVAETuneConfig, seeds: int, run_name: str) -> dict[str, float]:
    """The seeds pipeline on test (`zsdist train cadavae --seeds N`): mean and std of every eval metric."""
    cfg = replace(best, run_name=run_name, seeds=seeds, validation="none", validate_every=0)
    summary = cadavae_seeds.run_seeds(cfg)
    return {**{f"test/{k.removeprefix(summary.prefix)}/mean": v for k, v in summary.mean.items()},
            **{f"test/{k.removeprefix(summary.prefix)}/std": v for k, v in summary.std.items()}}


def _seeds_on_test(train: Callable, evaluate: Callable[[str, Any], dict[str, float]], best: Any, seeds: int,
                   run_name: str) -> dict[str, float]:
    """Train and evaluate `seeds` seeds of the best config; mean and std (ddof=1) of every eval metric."""
    found = []
    for i in range(seeds):
        cfg = replace(_training_part(best), seed=best.seed + i, run_name=f"{run_name}-seed{best.seed + i}",
                      validate_every=0)
        train(cfg)
        found.append(evaluate(cfg.run_name, cfg))
    keys = [k for k in found[0] if all(math.isfinite(m.get(k, math.nan)) for m in found)]
    values = {k: np.array([m[k] for m in found]) for k in keys}
    return {**{f"test/{k}/mean": float(v.mean()) for k, v in values.items()},
            **{f"test/{k}/std": float(v.std(ddof=1)) if len(v) > 1 else 0.0 for k, v in values.items()}}


def rerun_polar(best: PolarTuneConfig, seeds: int, run_name: str) -> dict[str, float]:
    def evaluate(name: str, cfg: PolarTrainConfig) -> dict[str, float]:
        return polar.evaluate(polar.PolarEvalConfig(run_name=name, experiment=cfg.experiment,
                                                    storage_path=cfg.storage_path))[1]
    return _seeds_on_test(polar.train, evaluate, best, seeds, run_name)


def rerun_gzsnet(best: GZSNetTuneConfig, seeds: int, run_name: str) -> dict[str, float]:
    def evaluate(name: str, cfg: GZSNetTrainConfig) -> dict[str, float]:
        return gzsnet.evaluate(gzsnet.GZSNetEvalConfig(run_name=name, experiment=cfg.experiment,
                                                      storage_path=cfg.storage_path))[1]
    return _seeds_on_test(gzsnet.train, evaluate, best, seeds, run_name)


SEARCHABLE = {
    "cadavae": Searchable(name="cadavae", config=CADAVAETuneConfig, metric="val/H", mode="max", dataset_kind="features",
                          train=cadavae.train,
                          trial_overrides={"validation": "pseudo_unseen", "validate_every": 1}, rerun=rerun_cadavae),
    "gzsnet": Searchable(name="gzsnet", config=GZSNetTuneConfig, metric="val/psnr", mode="max", dataset_kind="fonts",
                         train=gzsnet.train,
                         trial_overrides={"validate_every": 1}, rerun=rerun_gzsnet),
    "polar-vae": Searchable(name="polar-vae", config=PolarTuneConfig, metric="val/hole_mse", mode="min",
                            dataset_kind="polar", train=polar.train, trial_overrides={"validate_every": 1},
                            rerun=rerun_polar),
}


def finish_trial_run(experiment: str, run_name: str, status: str, outcome: dict[str, Any] | None = None) -> None:
    """Close a trial's MLflow run (a trial stopped by ASHA is killed before it can close its own),
    after logging `outcome` on it as trial_result.json when given."""
    if run_id := tracking.find_run_id(experiment, run_name):
        if outcome is not None:
            tracking.log_json(run_id, outcome, "trial_result.json")
        tracking.finish_run(run_id, status=status)
