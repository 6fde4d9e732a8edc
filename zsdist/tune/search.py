"""Hyperparameter search on Ray Tune: ASHA on a per-epoch validation metric, a seeded model-based
searcher, every trial an MLflow child run of the search, the best config re-run on test.

    zsdist tune cadavae --data DIR --space cadavae --search.num_samples 12 --epochs 30
    zsdist tune cadavae --data DIR --space cadavae --search.num_samples 12 --epochs 30 --resume

Each trial calls the model's own training pipeline (`zsdist train`, one TorchTrainer per trial) from
a function trainable of `search.trial_cpus`; Ray Train's TuneReportCallback hands every epoch's report
to Tune, so ASHA sees the validation metric per epoch. Trial actors are reused: a trial that ASHA stops
has its Train run aborted (zsdist/tune/stopping.py) and its actor runs the next trial. Names are
deterministic: the search is `search.name` (its Tune experiment under <storage>/searches and its MLflow
parent run), a trial is `<search>-<trial id>` (its checkpoints and its MLflow child run). `--resume`
restores the Tune experiment: finished trials are kept, unfinished ones resume from their own last
checkpoint.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.result import AUTO_RESULT_KEYS
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

from zsdist.base import tracking
from zsdist.base.errors import ConfigError
from zsdist.base.ray_internals import with_trainable_mixins
from zsdist.base.ray_setup import init_ray
from zsdist.base.storage import location
from zsdist.base.workspace import workspace_dir
from zsdist.config import flatten, from_dict, to_dict
from zsdist.data.kinds import require_kind
from zsdist.methods import get_method
from zsdist.methods.method import Method
from zsdist.train.checkpoint import latest_checkpoint, storage_root
from zsdist.tune.config import tune_config
from zsdist.tune.space import apply_params, load_space, param_space, searched
from zsdist.tune.stopping import AbortStoppedRun, stoppable_run
from zsdist.tune.trials import close_lost_trials, finish_trial_run, rerun_on_test, trial_config

SEARCH_TAGS = ("zsdist.search_metric", "zsdist.search_mode", "zsdist.searched_params")
DATA_CPU_RESERVE = 0.2  # CPUs left free of trials for Ray Data's tasks (full clusters hang, not fail)


@dataclass(frozen=True)
class SearchResult:
    run_id: str  # the search's MLflow run
    name: str
    best_params: dict[str, Any]
    best_metric: float
    trials: list[dict[str, Any]]  # name, status, epochs run, the metric's last value, params
    test: dict[str, float]  # test/<metric>/mean and /std of the best config's re-run


def run_trial(params: dict[str, Any], *, model: str, base: dict[str, Any], search: str, parent_run_id: str,
              env: dict[str, str]) -> None:
    """One trial (a Tune function trainable): the model's training pipeline on the sampled params."""
    os.environ.update(env)  # the driver's MLflow store and workspace, whatever this actor's cwd
    method = get_method(model)
    trial_id = tune.get_context().get_trial_id()
    cfg = trial_config(method, from_dict(tune_config(method), base), params, run_name=f"{search}-{trial_id}")
    with stoppable_run(cfg.epochs) as report:
        method.train(cfg, parent_run_id=parent_run_id, callbacks=[report])


# The trial's actor aborts a Train run Tune has stopped, so Tune can reuse the actor (reuse_actors).
with_trainable_mixins(run_trial, AbortStoppedRun)


def trial_resources(cfg: Any) -> dict[str, float]:
    """What one trial holds: its own actor, plus its TorchTrainer's workers."""
    workers = {"CPU": cfg.search.trial_cpus + cfg.num_workers * cfg.cpus_per_worker}
    return {**workers, "GPU": float(cfg.num_workers)} if cfg.use_gpu else workers


def concurrency(cfg: Any) -> int:
    """Trials that fit on the cluster at once (capped by search.max_concurrent_trials when set)."""
    need, have = trial_resources(cfg), ray.cluster_resources()
    fits = min(math.floor((have.get(kind, 0) - (DATA_CPU_RESERVE if kind == "CPU" else 0)) / amount)
               for kind, amount in need.items() if amount > 0)
    if fits < 1:
        raise ConfigError(f"one trial needs {need} but the cluster has {have.get('CPU', 0)} CPUs and "
                          f"{have.get('GPU', 0)} GPUs: lower --num_workers, --cpus_per_worker or --search.trial_cpus")
    cap = cfg.search.max_concurrent_trials
    return min(fits, cap) if cap else fits


def search_algorithm(cfg: Any, method: Method, limit: int) -> Any:
    if cfg.search.searcher == "random":
        return BasicVariantGenerator(random_state=cfg.search.seed, max_concurrent=limit)
    from ray.tune.search.optuna import OptunaSearch  # optional dependency: import only when used

    return ConcurrencyLimiter(OptunaSearch(metric=method.search.metric, mode=method.search.mode, seed=cfg.search.seed),
                              max_concurrent=limit)


def run_search(model: str, cfg: Any, *, resume: bool = False) -> SearchResult:
    """Run (or resume) the search `cfg.search.name` over `cfg.search.space` for `model`."""
    method = get_method(model)
    if not cfg.data:
        raise ConfigError(f"no dataset given: pass --data DIR (as for `zsdist train {model}`)")
    require_kind(cfg.data, method.dataset_kind, f"zsdist tune {model}")
    name = cfg.search.name or f"{model}-search"
    cfg = replace(cfg, data=str(location(cfg.data)),
                  storage_path=str(storage_root(cfg.storage_path)), search=replace(cfg.search, name=name))
    spec = load_space(cfg.search.space or model, cfg)
    if cfg.search.searcher == "optuna" and any("grid" in v for v in spec.values() if isinstance(v, dict)):
        raise ConfigError("a grid in the search space needs --search.searcher random (Optuna samples, it does "
                          "not enumerate)")
    path = storage_root(cfg.storage_path) / "searches" / name  # a local path or a URI, as checkpoints
    if resume and not tune.Tuner.can_restore(str(path)):
        raise ConfigError(f"no search '{name}' to resume under {path}: run it first without --resume")
    if not resume and path.exists():
        raise ConfigError(f"search '{name}' already exists ({path}): pass --resume to continue it, "
                          "or choose another --search.name")
    init_ray()
    limit = concurrency(cfg)
    run_id = tracking.start_or_resume_run(cfg.experiment, name, to_dict(cfg),
                                          {**flatten(cfg), "search.model": model})
    tracking.set_tags(run_id, dict(zip(SEARCH_TAGS, (method.search.metric, method.search.mode, ",".join(searched(spec))))))
    tracking.log_json(run_id, spec, "search_space.json")
    env = {"MLFLOW_TRACKING_URI": tracking.tracking_uri(), "ZSDIST_HOME": str(workspace_dir())}
    # The trial's actor holds trial_cpus only: its TorchTrainer asks for its workers' CPUs itself
    # (Ray Train V2 does not run inside the trial's reservation), and `limit` keeps them all fitting.
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, model=model, base=to_dict(cfg), search=name, parent_run_id=run_id, env=env),
        {"CPU": cfg.search.trial_cpus})
    try:
        if resume:
            tuner = tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True, resume_errored=True)
        else:
            tuner = tune.Tuner(
                trainable, param_space=param_space(spec),
                tune_config=tune.TuneConfig(
                    metric=method.search.metric, mode=method.search.mode, num_samples=cfg.search.num_samples,
                    search_alg=search_algorithm(cfg, method, limit),
                    # stop_last_trials=False: no trial is stopped for reaching max_t. One that ASHA's last
                    # rung (max_t) stops still runs its Train run to the end, committing its last
                    # checkpoint (zsdist/tune/stopping.py).
                    scheduler=ASHAScheduler(max_t=cfg.epochs, grace_period=min(cfg.search.grace_period, cfg.epochs),
                                            reduction_factor=cfg.search.reduction_factor, stop_last_trials=False),
                    # A trial on a reused actor skips a new process's imports (~2.4 s); an ASHA-stopped
                    # trial's Train run is aborted when its actor is reset (zsdist/tune/stopping.py).
                    reuse_actors=True, max_concurrent_trials=limit),
                run_config=tune.RunConfig(name=name, storage_path=str(path.parent)))
        results = tuner.fit()
    except BaseException:
        tracking.finish_run(run_id, status="FAILED")
        raise
    trials = close_trials(results, cfg, method, name)
    close_lost_trials(cfg.experiment, run_id, {trial["run_name"] for trial in trials})
    return finish_search(cfg, method, results, trials, run_id, spec)


def close_trials(results: Any, cfg: Any, method: Method, name: str) -> list[dict[str, Any]]:
    """Every trial's outcome; its MLflow run closed as FINISHED, KILLED (stopped early) or FAILED.

    A trial that ran to its last epoch also gets trial_result.json on its run: its final report, last
    checkpoint and params. The driver writes it, not the trial: Tune may record a trial as done (ASHA
    stopping it at its last epoch) while its run still ends, and a driver killed then must not lose it.
    """
    trials = []
    for result in results:
        metrics = result.metrics or {}
        epochs = int(metrics.get("training_iteration", 0))
        status = "FAILED" if result.error else ("FINISHED" if epochs >= cfg.epochs else "KILLED")
        run_name = f"{name}-{metrics.get('trial_id', Path(result.path).name)}"
        outcome = None
        if status == "FINISHED":
            checkpoint = latest_checkpoint(storage_root(cfg.storage_path) / run_name)
            outcome = {"metrics": {k: v for k, v in metrics.items() if k not in AUTO_RESULT_KEYS},
                       "checkpoint": str(checkpoint), "params": dict(result.config or {})}
        finish_trial_run(cfg.experiment, run_name, status, outcome)
        trials.append({"run_name": run_name, "status": status, "epochs": epochs,
                       method.search.metric: (result.metrics or {}).get(method.search.metric, math.nan),
                       "params": {k: v for k, v in (result.config or {}).items()}})
    return trials


def finish_search(cfg: Any, method: Method, results: Any, trials: list[dict[str, Any]], run_id: str,
                  spec: dict[str, Any]) -> SearchResult:
    """Log the best config on the search's run, re-run it on test, close the run."""
    best = results.get_best_result(metric=method.search.metric, mode=method.search.mode, scope="last")
    best_params = {k: best.config[k] for k in spec}
    best_metric = float(best.metrics[method.search.metric])
    tracking.log_json(run_id, {"params": best_params, method.search.metric: best_metric, "trials": trials},
                      "best_config.json")
    tracking.set_tags(run_id, {f"best.{k}": str(v) for k, v in best_params.items()})
    tracking.log_metrics(run_id, {f"best/{method.search.metric}": best_metric})
    test = {}
    if cfg.search.test_seeds:
        best_cfg = apply_params(cfg, best_params)
        test = rerun_on_test(method, best_cfg, cfg.search.test_seeds, f"{cfg.search.name}-best")
        tracking.log_metrics(run_id, test)
    tracking.finish_run(run_id)
    return SearchResult(run_id=run_id, name=cfg.search.name, best_params=best_params, best_metric=best_metric,
                        trials=trials, test=test)
