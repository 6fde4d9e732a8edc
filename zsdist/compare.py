"""Compare runs read back from MLflow: the runs of an experiment, or the trials of one search.

A search is a parent run found by its zsdist run name; its trials are the runs whose MLflow tag
`mlflow.parentRunId` names it. The parent's tags `zsdist.search_metric`, `zsdist.search_mode` and
`zsdist.searched_params` (written by zsdist.tune) give the default sort metric, order and columns.
Without a search, runs are sorted by their model's headline evaluation metric (headline_metrics()),
and the direction follows the metric: errors and losses ascend, scores descend (metric_mode).
The same code reads the local SQLite store and a tracking server (MLFLOW_TRACKING_URI), since both
are reached through MlflowClient(tracking_uri()).
"""

from __future__ import annotations

import io
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from zsdist.base import tracking
from zsdist.base.errors import ConfigError, DataError
from zsdist.base.storage import atomic_write
from zsdist.methods import methods
from zsdist.methods.method import EVAL_PREFIX

SEARCH_METRIC_TAG = "zsdist.search_metric"
SEARCH_MODE_TAG = "zsdist.search_mode"
SEARCHED_PARAMS_TAG = "zsdist.searched_params"
EXTRA_METRICS = 3  # metric columns shown beside the sort metric
# A metric whose name has one of these words (between / or _) is better when lower.
_LOWER_IS_BETTER = re.compile(r"(?:^|[/_])(?:mse|rmse|mae|loss|error|nll|kl|recon|reconstruction|distance|seconds|"
                              r"time)(?:[/_]|$)")


def headline_metrics() -> tuple[tuple[str, ...], ...]:
    """Each method's headline evaluation metrics as `zsdist eval` logs them; the first is the default sort
    key of an experiment whose runs logged it, the others are the columns beside it."""
    return tuple(tuple(EVAL_PREFIX + name for name in method.headline[:4]) for method in methods().values())


def metric_mode(metric: str) -> str:
    """"min" for errors and losses (eval/mse_inside, val/hole_mse, train/loss), else "max" (scores)."""
    return "min" if _LOWER_IS_BETTER.search(metric) else "max"


@dataclass(kw_only=True)
class CompareConfig:
    experiment: str = ""  # required: the MLflow experiment the runs were logged to
    search: str = ""  # a search's run name: compare its trials only; empty = every run of the experiment
    metric: str = ""  # sort key; empty = the search's, else the headline eval metric, else the first by name
    mode: Literal["", "max", "min"] = ""  # empty = the search's, else min for errors and losses, max for scores
    params: tuple[str, ...] = ()  # columns; empty = the search's params, else the params that differ
    plot: str = ""  # PNG path for the metric-vs-param scatter; empty = no plot
    max_runs: int = 50  # rows shown, best first

    def __post_init__(self) -> None:
        if not self.experiment:
            raise ConfigError("experiment is required: pass --experiment NAME (the experiment the runs were logged to)")
        if self.mode not in ("", "max", "min"):
            raise ConfigError(f"mode must be max or min (got {self.mode!r}): pass --mode max or --mode min")
        if self.max_runs < 1:
            raise ConfigError(f"max_runs must be >= 1 (got {self.max_runs}): pass --max_runs 50")
        if self.plot and Path(self.plot).suffix.lower() != ".png":
            raise ConfigError(f"plot must be a .png path (got {self.plot!r}): pass --plot out.png")


@dataclass(frozen=True)
class RunRow:
    name: str
    run_id: str
    status: str
    params: dict[str, str]
    metrics: dict[str, float]  # each metric's latest value (MLflow's: highest step, then newest)


@dataclass(frozen=True)
class Comparison:
    title: str
    metric: str
    mode: str
    params: tuple[str, ...]
    metrics: tuple[str, ...]  # the metric columns, the sort metric first
    rows: tuple[RunRow, ...]  # best first; runs without the metric last
    total: int  # runs found, before max_runs


def compare_runs(cfg: CompareConfig) -> Comparison:
    """Read the runs back from MLflow (tracking.tracking_uri()) and rank them by the metric."""
    client = MlflowClient(tracking.tracking_uri())
    experiment = client.get_experiment_by_name(cfg.experiment)
    if experiment is None:
        names = [e.name for e in client.search_experiments()]
        raise ConfigError(f"no experiment '{cfg.experiment}' in {_where()}: experiments are {_listed(names)}"
                          " (pass one with --experiment)")
    tags: dict[str, str] = {}
    if cfg.search:
        parent_id = tracking.find_run_id(cfg.experiment, cfg.search)
        if parent_id is None:
            raise ConfigError(f"no search '{cfg.search}' in experiment '{cfg.experiment}': searches are "
                              f"{_listed(_search_names(client, experiment.experiment_id))} (pass one with --search)")
        tags = client.get_run(parent_id).data.tags
        found = _all_runs(client, experiment.experiment_id, f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_id}'")
        title = f"search '{cfg.search}' in experiment '{cfg.experiment}'"
    else:
        found = _all_runs(client, experiment.experiment_id)
        title = f"experiment '{cfg.experiment}'"
    if not found:
        raise DataError(f"{title} has no runs in {_where()}: log runs to it first, or pick another")
    rows = [RunRow(r.data.tags.get(tracking.RUN_NAME_TAG, r.info.run_name), r.info.run_id, r.info.status,
                   dict(r.data.params), dict(r.data.metrics)) for r in found]

    metric_counts = Counter(k for row in rows for k in row.metrics)
    if not metric_counts:
        raise DataError(f"the {len(rows)} runs of {title} have logged no metrics yet: compare them once they have")
    headline = next((group[0] for group in headline_metrics() if group[0] in metric_counts), None)
    metric = cfg.metric or tags.get(SEARCH_METRIC_TAG) or headline or min(metric_counts)
    if metric not in metric_counts:
        raise ConfigError(f"metric '{metric}' is logged by none of the {len(rows)} runs of {title}: metrics are "
                          f"{_listed(metric_counts)} (pass one with --metric)")
    params = cfg.params or tuple(p.strip() for p in tags.get(SEARCHED_PARAMS_TAG, "").split(",") if p.strip())
    params = params or _differing_params(rows)
    logged = {p for row in rows for p in row.params}
    if missing := [p for p in params if p not in logged]:
        raise ConfigError(f"param '{missing[0]}' is logged by none of the {len(rows)} runs of {title}: params are "
                          f"{_listed(logged)} (pass them with --params a,b)")

    # Beside the sort metric: the rest of its model's headline metrics; else its siblings first
    # (val/S, val/U beside val/H), then the most common.
    group = next((g for g in headline_metrics() if metric in g), ())
    prefix = metric.rpartition("/")[0]
    others = sorted((k for k in metric_counts if k != metric),
                    key=lambda k: (k not in group, group.index(k) if k in group else 0,
                                   k.rpartition("/")[0] != prefix, -metric_counts[k], k))
    mode = cfg.mode or tags.get(SEARCH_MODE_TAG) or metric_mode(metric)
    sign = -1.0 if mode == "max" else 1.0
    rows.sort(key=lambda row: (not _has(row, metric), sign * row.metrics[metric] if _has(row, metric) else 0.0,
                               row.name))
    return Comparison(title, metric, mode, tuple(params), (metric, *others[:EXTRA_METRICS]),
                      tuple(rows[:cfg.max_runs]), len(rows))


def format_table(comparison: Comparison) -> str:
    """A markdown table (also readable as plain text), best run first."""
    c = comparison
    shown = f"best {len(c.rows)} of {c.total}" if len(c.rows) < c.total else f"{c.total}"
    header = ["#", "run", "status", *c.params, *c.metrics]
    lines = [f"{c.title}: {shown} runs by {c.metric} ({c.mode})", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rank, row in enumerate(c.rows, 1):
        cells = [str(rank), row.name, row.status, *(row.params.get(p, "-") for p in c.params),
                 *(f"{row.metrics[m]:.4g}" if m in row.metrics else "-" for m in c.metrics)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_comparison(comparison: Comparison, path: str | Path) -> Path:
    """The metric against each param's value, one scatter per param; returns the PNG written."""
    import matplotlib  # here, so listing runs never pays for matplotlib

    matplotlib.use("Agg")  # headless machines: no display backend may be tried
    import matplotlib.pyplot as plt

    c = comparison
    # Without params (a single run, or runs that differ in nothing) the runs themselves are the x-axis.
    columns = c.params or ("run",)
    cols = min(3, len(columns))
    rows_n = math.ceil(len(columns) / cols)
    figure, axes = plt.subplots(rows_n, cols, figsize=(4.5 * cols, 3.6 * rows_n), squeeze=False)
    for ax, param in zip(axes.flat, columns):
        points = [(row.name if param == "run" else row.params[param], row.metrics[c.metric])
                  for row in c.rows if _has(row, c.metric) and (param == "run" or param in row.params)]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        numbers = _as_numbers(xs)
        if numbers is not None:
            ax.scatter(numbers, ys)
            if min(numbers) > 0 and max(numbers) / min(numbers) > 100:  # positive, over 2 decades
                ax.set_xscale("log")
        else:  # categorical: one tick per distinct value
            categories = sorted(set(xs))
            ax.scatter([categories.index(x) for x in xs], ys)
            ax.set_xticks(range(len(categories)), categories, rotation=30 if len(categories) > 4 else 0)
        ax.set_xlabel(param)
        ax.set_ylabel(c.metric)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(columns):]:
        ax.set_visible(False)
    figure.suptitle(f"{c.title}: {c.metric} ({c.mode})")
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(figure)
    atomic_write(target, buffer.getvalue())  # an artifact upload never sees half a PNG
    return target


def _all_runs(client: MlflowClient, experiment_id: str, filter_string: str = "") -> list:
    runs, token = [], None
    while True:  # a server pages its answers; follow the token to the end
        page = client.search_runs([experiment_id], filter_string, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _search_names(client: MlflowClient, experiment_id: str) -> list[str]:
    runs = _all_runs(client, experiment_id)
    parents = {r.data.tags.get(MLFLOW_PARENT_RUN_ID) for r in runs}
    return [r.data.tags.get(tracking.RUN_NAME_TAG, r.info.run_name) for r in runs if r.info.run_id in parents]


def _differing_params(rows: list[RunRow]) -> tuple[str, ...]:
    # run_name always differs and is the table's run column already.
    names = sorted({p for row in rows for p in row.params} - {"run_name"})
    return tuple(p for p in names if len({row.params.get(p) for row in rows}) > 1)


def _as_numbers(values: list[str]) -> list[float] | None:
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        return None
    return numbers if numbers and all(math.isfinite(x) for x in numbers) else None


def _has(row: RunRow, metric: str) -> bool:
    return metric in row.metrics and not math.isnan(row.metrics[metric])


def _listed(names) -> str:
    names = sorted(set(names))
    if not names:
        return "none"
    return ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")


def _where() -> str:
    return tracking.display_uri()
