"""One table of every method's zero-shot scores: this evaluation beside evaluated GZS-Net (or other) runs.

    zsdist eval beta-vae-es --run_name beta-vae-es-cpu --beside gzsnet-cpu
    zsdist eval beta-tcvae-es --run_name beta-tcvae-es-cpu --beside gzsnet-cpu,beta-vae-es/beta-vae-es-cpu

Each run named in --beside must have been evaluated: its eval/synthesis.json artifact (written by GZS-Net's
and these baselines' evaluations) lists its held-out split and the global indices of its scored targets.
Rows come from one table only if every run scored the very same targets: a different split, data,
selection or --synthesis seed/max_targets is refused in one line, never tabulated. Every method a run
logged (eval/<method>/psnr: gzsnet, ae_ds, nn, beta_vae_es, ...) is a row; nn is the same in every run.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from zsdist.base import tracking
from zsdist.base.errors import DataError
from zsdist.base.storage import atomic_write
from zsdist.methods.method import EVAL_PREFIX

DEFAULT_EXPERIMENT = "gzsnet"
SCORES = ("psnr", "mse", "ssim")


def beside_run_id(name: str) -> str:
    """The MLflow run id of `name` (RUN or EXPERIMENT/RUN); a one-line DataError when there is none.
    The evaluation calls it for every --beside name before it scores anything."""
    experiment, _, run_name = name.rpartition("/")
    experiment = experiment or DEFAULT_EXPERIMENT
    run_id = tracking.find_run_id(experiment, run_name)
    if run_id is None:
        raise DataError(f"--beside {name}: no run {run_name!r} in MLflow experiment {experiment!r}: "
                        "name an evaluated run as RUN (experiment gzsnet) or EXPERIMENT/RUN")
    return run_id


def run_metrics(name: str, summary: dict) -> dict[str, float]:
    """The eval metrics of the run `name` (RUN or EXPERIMENT/RUN), after checking it scored summary's targets."""
    run_name, run_id = name.rpartition("/")[2], beside_run_id(name)
    client = MlflowClient(tracking.tracking_uri())
    with tempfile.TemporaryDirectory() as scratch:
        try:
            theirs = json.loads(Path(client.download_artifacts(run_id, "eval/synthesis.json", scratch)).read_text())
        except (MlflowException, OSError):
            raise DataError(f"--beside {name}: the run has no eval/synthesis.json: evaluate it first "
                            f"(zsdist eval ... --run_name {run_name})") from None
    if theirs["held_out"] != summary["held_out"]:
        raise DataError(f"--beside {name}: held out {theirs['held_out']}, this run {summary['held_out']}: "
                        "train both with the same held_out config")
    if theirs["targets"] != summary["targets"]:
        raise DataError(f"--beside {name}: it scored other held-out targets ({len(theirs['targets'])} vs "
                        f"{len(summary['targets'])}): evaluate both on the same data, selection and --synthesis.*")
    logged = client.get_run(run_id).data.metrics
    return {k.removeprefix(EVAL_PREFIX): v for k, v in logged.items() if k.startswith(EVAL_PREFIX)}


def comparison_table(runs: list[dict[str, float]], attributes: tuple[str, ...]) -> str:
    """Markdown: one row per method (first run that logged it), PSNR/MSE/SSIM and each edit's PSNR."""
    rows: dict[str, dict[str, float]] = {}
    for metrics in runs:
        for key in metrics:
            method, _, score = key.partition("/")
            if score == "psnr" and method not in rows:
                rows[method] = {k.removeprefix(method + "/"): v for k, v in metrics.items()
                                if k.startswith(method + "/")}
    edits = [a for a in attributes if any(f"edit_{a}/psnr" in scores for scores in rows.values())]
    header = ["method", "PSNR (dB)", "MSE", "SSIM", *(f"edit {a} PSNR" for a in edits)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, scores in rows.items():
        cells = [_cell(scores.get(s)) for s in SCORES] + [_cell(scores.get(f"edit_{a}/psnr")) for a in edits]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_comparison(out_dir: Path, ours: dict[str, float], summary: dict, beside: tuple[str, ...],
                     attributes: tuple[str, ...]) -> Path:
    """comparison.md in out_dir: the runs in `beside`, then this evaluation's metrics."""
    runs = [run_metrics(name, summary) for name in beside]
    path = out_dir / "comparison.md"
    targets = len(summary["targets"])
    title = f"Zero-shot synthesis of {targets} held-out targets (held out: {summary['held_out']})\n\n"
    atomic_write(path, (title + comparison_table([*runs, ours], attributes)).encode())
    return path


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
