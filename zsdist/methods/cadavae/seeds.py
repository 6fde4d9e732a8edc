"""One CADA-VAE recipe over several seeds: train and evaluate every seed, then one MLflow run of mean and std.

    zsdist train cadavae --data DIR --run_name cub --seeds 5     # 5 seeds, then the mean +- std table

Seed i of N (seed = cfg.seed + i) is an ordinary run named `<run_name>-seed<seed>`: its own checkpoints
and MLflow run, trained by `zsdist train cadavae` and scored by `zsdist eval cadavae` (CADA-VAE
and the ESZSL baseline). The final classifier's seed moves with it (classifier.seed + i), so the spread
covers the whole recipe, as the paper's "1-2 H points between seeds" does. With
validation="pseudo_unseen" every seed is scored on the validation split (never on test), and since the
seed also draws the pseudo-unseen classes, each seed holds out a different set of them; with
--eval_split test as well, each seed is scored on test instead, with CADA-VAE's calibrated stacking
(its gamma chosen on the pseudo-unseen classes the VAE never saw).

Then a summary MLflow run named `<run_name>`, in the same experiment, gets `<metric>/mean` and
`<metric>/std` for every metric the seeds logged (`eval/H/mean`, `eval/baseline/eszsl/H/std`, ...);
std is the sample standard deviation over the seeds (ddof=1: the spread to expect between reruns),
0 for a single seed. Its tag `zsdist.seed_runs` lists the seed runs' ids and its artifact seeds.json
holds every seed's run name, id and metrics next to the summary.

Resume: rerunning the same command trains only the seeds whose latest checkpoint is not at their last
epoch (a seed cut short continues from its checkpoint). Finished seeds are evaluated again, which is
seeded and gives the same numbers, and the summary run is updated in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Literal

import numpy as np

from zsdist.base import tracking
from zsdist.base.errors import ConfigError
from zsdist.config import flatten, to_dict
from zsdist.eval.eszsl import ESZSLConfig
from zsdist.eval.latent_classifier import ClassifierConfig
from zsdist.methods import get_method
from zsdist.methods.cadavae.config import CADAVAEEvalConfig, CADAVAETrainConfig
from zsdist.methods.cadavae.evaluation import eval_prefix
from zsdist.train.checkpoint import latest_checkpoint, storage_root

SEED_RUNS_TAG = "zsdist.seed_runs"
TABLE_COLUMNS = ("S", "U", "H", "zsl_accuracy", "calibrated/H", "ausuc")
TABLE_ROWS = (("CADA-VAE", ""), ("ESZSL", "baseline/eszsl/"))  # (label, metric prefix)


@dataclass(kw_only=True)
class CADAVAESeedsConfig(CADAVAETrainConfig):
    """`zsdist train cadavae`'s config: the training config and, used when seeds > 1, the evaluation's."""

    seeds: int = 1  # 1: train `run_name` only; N > 1: train and evaluate N seeds, then summarise
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    eszsl: ESZSLConfig = field(default_factory=ESZSLConfig)
    shots: tuple[int, ...] = (1, 2, 5, 10)  # generalized few-shot evaluation: images per unseen class
    # where each seed is scored: auto = validation with validation=pseudo_unseen (no test row), else test
    eval_split: Literal["auto", "test", "validation"] = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.seeds < 1:
            raise ConfigError(f"seeds must be >= 1 (got {self.seeds}): pass --seeds 1 to train one run")
        if self.eval_split == "validation" and self.validation != "pseudo_unseen":
            raise ConfigError("eval_split=validation needs held-out classes: add --validation pseudo_unseen")
        self.seed_eval_config(0)  # checks the evaluation's values before any seed trains

    def training(self) -> CADAVAETrainConfig:
        """The training config alone (what a checkpoint stores and `zsdist eval cadavae` reads back)."""
        return CADAVAETrainConfig(**{f.name: getattr(self, f.name) for f in fields(CADAVAETrainConfig)})

    def seed_train_config(self, i: int) -> CADAVAETrainConfig:
        return replace(self.training(), seed=self.seed + i, run_name=f"{self.run_name}-seed{self.seed + i}")

    def seed_eval_config(self, i: int) -> CADAVAEEvalConfig:
        # data="" scores each seed on the dataset it was trained on, even when it was trained earlier.
        return CADAVAEEvalConfig(
            run_name=self.seed_train_config(i).run_name, experiment=self.experiment,
            storage_path=self.storage_path, classifier=replace(self.classifier, seed=self.classifier.seed + i),
            shots=self.shots, split=self.split(), eszsl=self.eszsl)

    def split(self) -> str:
        if self.eval_split != "auto":
            return self.eval_split
        return "validation" if self.validation == "pseudo_unseen" else "test"


@dataclass(frozen=True)
class SeedRun:
    seed: int
    run_name: str
    run_id: str
    metrics: dict[str, float]  # as the run logged them: eval/H, eval/validation/H, ...


@dataclass(frozen=True)
class SeedsSummary:
    run_id: str  # the summary MLflow run
    prefix: str  # "eval/" or "eval/validation/"
    runs: list[SeedRun]
    mean: dict[str, float]
    std: dict[str, float]


def run_seeds(cfg: CADAVAESeedsConfig) -> SeedsSummary:
    """Train (or resume) and evaluate every seed, then log and return their summary (module docstring)."""
    trained_dir = storage_root(cfg.storage_path) / cfg.run_name
    if latest_checkpoint(trained_dir) is not None:
        # The summary run would otherwise land in, and mix its metrics with, that run's MLflow record.
        raise ConfigError(f"run_name '{cfg.run_name}' is already a trained run ({trained_dir}): "
                          "pick another --run_name for the seeds")
    prefix = eval_prefix(cfg.seed_eval_config(0).split)
    method = get_method("cadavae")
    runs = []
    for i in range(cfg.seeds):
        train_cfg = cfg.seed_train_config(i)
        method.train(train_cfg)  # a finished seed is not trained again
        metrics = method.evaluate(cfg.seed_eval_config(i)).metrics
        run_id = tracking.find_run_id(cfg.experiment, train_cfg.run_name)
        runs.append(SeedRun(seed=train_cfg.seed, run_name=train_cfg.run_name, run_id=run_id,
                            metrics={prefix + k: v for k, v in metrics.items()}))
    values = {key: np.array([run.metrics[key] for run in runs]) for key in runs[0].metrics}
    mean = {key: float(v.mean()) for key, v in values.items()}
    std = {key: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for key, v in values.items()}

    run_id = tracking.start_or_resume_run(cfg.experiment, cfg.run_name, to_dict(cfg), flatten(cfg))
    tracking.log_metrics(run_id, {f"{k}/mean": v for k, v in mean.items()} | {f"{k}/std": v for k, v in std.items()})
    tracking.set_tags(run_id, {SEED_RUNS_TAG: ",".join(run.run_id for run in runs)})
    tracking.log_json(run_id, {"seeds": [vars(run) for run in runs], "mean": mean, "std": std, "std_ddof": 1},
                      "seeds.json")
    tracking.finish_run(run_id)
    return SeedsSummary(run_id=run_id, prefix=prefix, runs=runs, mean=mean, std=std)


def cell(summary: SeedsSummary, key: str) -> str:
    """`mean ± std` of one metric (its name without the eval prefix), as the tables print it; - if not scored."""
    if summary.prefix + key not in summary.mean:  # calibrated/H: CADA-VAE runs without held-out classes
        return "-"
    return f"{summary.mean[summary.prefix + key]:.4f} ± {summary.std[summary.prefix + key]:.4f}"


def summary_table(summary: SeedsSummary) -> str:
    """S, U, H, ZSL accuracy, calibrated H and AUSUC of CADA-VAE and of ESZSL as mean ± std over the seeds."""
    split = "validation" if summary.prefix == "eval/validation/" else "test"
    seeds = ", ".join(str(run.seed) for run in summary.runs)
    lines = [f"{len(summary.runs)} seeds ({seeds}), {split} split, mean ± std over seeds (ddof=1):",
             f"  {'':<10}" + "".join(f"{column:<18}" for column in TABLE_COLUMNS)]
    for label, prefix in TABLE_ROWS:
        lines.append(f"  {label:<10}" + "".join(f"{cell(summary, prefix + column):<18}" for column in TABLE_COLUMNS))
    lines.append("  (calibrated/H: calibrated stacking, gamma chosen on the pseudo-unseen classes; AUSUC: area under "
                 "the seen-unseen curve)")
    return "\n".join(lines)
