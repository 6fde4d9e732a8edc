"""A search's trials as runs of the method: their configs, the test re-run of the best, their MLflow runs.

Every trial runs the method's own training (the same TorchTrainer driver as `zsdist train`) with its
validation metric reported every epoch, so Tune's ASHA can stop it early. The objective is always a
validation metric; test data is read only by the final re-run of the best config.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from zsdist.base import tracking
from zsdist.methods.method import Method
from zsdist.tune.space import apply_params


def trial_config(method: Method, base: Any, params: dict[str, Any], run_name: str) -> Any:
    """The training config of one trial: the base, the sampled params, the objective switched on."""
    return training_part(method, apply_params(base, params, run_name=run_name, **method.search.trial_overrides))


def training_part(method: Method, cfg: Any) -> Any:
    """A tune config without its search section (nor any evaluation fields): the method's training config."""
    fields = method.train_config.__dataclass_fields__
    return method.train_config(**{name: getattr(cfg, name) for name in fields})


def rerun_on_test(method: Method, best: Any, seeds: int, run_name: str) -> dict[str, float]:
    """Train and evaluate `seeds` seeds of the best config on test: test/<metric>/mean and /std (ddof=1)."""
    if method.search.rerun is not None:
        return method.search.rerun(best, seeds, run_name)
    found = []
    for i in range(seeds):
        cfg = replace(training_part(method, best), seed=best.seed + i, run_name=f"{run_name}-seed{best.seed + i}",
                      validate_every=0)
        method.train(cfg)
        found.append(method.evaluate(method.eval_config(run_name=cfg.run_name, experiment=cfg.experiment,
                                                        storage_path=cfg.storage_path)).metrics)
    keys = [k for k in found[0] if all(math.isfinite(m.get(k, math.nan)) for m in found)]
    values = {k: np.array([m[k] for m in found]) for k in keys}
    return {**{f"test/{k}/mean": float(v.mean()) for k, v in values.items()},
            **{f"test/{k}/std": float(v.std(ddof=1)) if len(v) > 1 else 0.0 for k, v in values.items()}}


def finish_trial_run(experiment: str, run_name: str, status: str, outcome: dict[str, Any] | None = None) -> None:
    """Close a trial's MLflow run (a trial stopped by ASHA is killed before it can close its own),
    after logging `outcome` on it as trial_result.json when given."""
    if run_id := tracking.find_run_id(experiment, run_name):
        if outcome is not None:
            tracking.log_json(run_id, outcome, "trial_result.json")
        tracking.finish_run(run_id, status=status)


def close_lost_trials(experiment: str, search_run_id: str, trial_names: set[str]) -> None:
    """Close as KILLED the search's child runs that are no trial of its results: a trial the killed
    driver had started in the second before its last saved state, which the resumed search samples
    again under another id."""
    for run_id, run_name in tracking.child_runs(experiment, search_run_id).items():
        if run_name not in trial_names:
            tracking.finish_run(run_id, status="KILLED")
