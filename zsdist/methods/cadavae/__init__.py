"""CADA-VAE: aligned VAEs for generalized zero- and few-shot classification on feature datasets.

    zsdist datagen xlsa17 XLSA17_DIR --out DIR      # or: zsdist datagen fontszsl --data FONTS --out DIR
    zsdist train cadavae --data DIR [--seeds 3]     # --seeds N: train and evaluate N seeds, mean and std
    zsdist eval cadavae --run_name cadavae          # S, U, H, ZSL and few-shot accuracy, ESZSL beside it
    zsdist train cadavae --data DIR --validation pseudo_unseen --seeds 3 --eval_split test   # + calibrated H
    zsdist tune cadavae --data DIR --search.num_samples 12 --epochs 30

Files: config.py, model.py (the two VAEs), objective.py (its losses and their warm-up), training.py
(one worker's epoch), validation.py (val/S, val/U, val/H), evaluation.py and scores.py, seeds.py and
study.py (several seeds, the paper's table). This module says how the shared machinery uses them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
import ray.data
from ray.data.extensions import ArrowTensorArray

from zsdist.base import tracking
from zsdist.data.features import FeatureDataset, read_feature_dataset
from zsdist.data.zsl_roles import roles
from zsdist.methods.cadavae.config import CADAVAEEvalConfig, CADAVAETrainConfig
from zsdist.methods.cadavae.evaluation import evaluate
from zsdist.methods.cadavae.model import CADAVAE
from zsdist.methods.cadavae.seeds import CADAVAESeedsConfig, run_seeds, summary_table
from zsdist.methods.cadavae.training import CADAVAEWorker
from zsdist.methods.cadavae.validation import GZSLValidation
from zsdist.methods.method import Method, Search, TrainingPlan

BLOCK_ROWS = 2048  # rows per Ray Data block of the training rows


def plan(cfg: CADAVAETrainConfig) -> TrainingPlan:
    data = read_feature_dataset(cfg.data)
    cfg = replace(cfg, model=replace(cfg.model, feature_dim=data.features.shape[1],
                                     attribute_dim=data.attributes.shape[1]))
    split = roles(data, cfg, validation=cfg.validation == "pseudo_unseen")
    parameters = sum(p.numel() for p in CADAVAE(cfg.model).parameters())
    artifacts = {}
    if cfg.validation == "pseudo_unseen":
        artifacts["validation.json"] = {"pseudo_unseen": [data.class_names[c] for c in split.unseen],
                                        "validation_seen_images": len(split.seen_test_rows)}
    return TrainingPlan(
        cfg=cfg, payload={"attributes": data.attributes.tolist()}, artifacts=artifacts,
        params={"dataset.name": data.description["name"], "dataset.train_rows": len(split.train_rows),
                "model.parameters": parameters},
        datasets=lambda: {"train": training_rows(data, split.train_rows, cfg.seed)})


def training_rows(data: FeatureDataset, rows: np.ndarray, seed: int) -> ray.data.Dataset:
    """The rows {feature (D,), label} as a Ray Dataset, shuffled once (seeded) so every block mixes classes."""
    rows = np.random.default_rng(seed).permutation(rows)
    table = pa.table({"feature": ArrowTensorArray.from_numpy(data.features[rows]), "label": data.labels[rows]})
    ray.data.DataContext.get_current().enable_progress_bars = False  # one bar per worker and epoch otherwise
    return ray.data.from_arrow([table.slice(i, BLOCK_ROWS) for i in range(0, len(rows), BLOCK_ROWS)])


def train_command(cfg: CADAVAESeedsConfig) -> str:
    """`zsdist train cadavae`: one run, or with --seeds N every seed and their summary."""
    if cfg.seeds == 1:
        return METHOD.train_and_describe(cfg.training())
    summary = run_seeds(cfg)
    return (f"run '{cfg.run_name}' (MLflow run {summary.run_id}) summarises runs "
            f"{', '.join(run.run_name for run in summary.runs)}\n{summary_table(summary)}\n"
            f"see them with: {tracking.ui_hint()}")


def search_space(cfg: Any) -> dict[str, Any]:
    """Loss factors and warm-up ends (starts fixed at the paper's fraction of the run), latent size, lr."""
    epochs = cfg.epochs

    def at(paper_epoch: int) -> int:  # the paper's epoch (of 100) on this run's length
        return min(epochs - 1, round(paper_epoch * epochs / 100))

    return {
        "lr": {"loguniform": [5e-5, 1e-3]},
        "model.latent_dim": {"choice": [32, 64, 128]},
        "warmup.beta_factor": {"loguniform": [0.05, 1.0]},
        "warmup.beta_start": 0,
        "warmup.beta_end": {"randint": [max(1, at(50)), epochs]},
        "warmup.gamma_factor": {"loguniform": [0.5, 8.0]},
        "warmup.gamma_start": at(21),
        "warmup.gamma_end": {"randint": [at(21) + 1, epochs]},
        "warmup.delta_factor": {"loguniform": [1.0, 20.0]},
        "warmup.delta_start": at(6),
        "warmup.delta_end": {"randint": [at(6) + 1, max(at(6) + 1, at(50))]},
    }


def rerun_on_test(best: CADAVAESeedsConfig, seeds: int, run_name: str) -> dict[str, float]:
    """The seeds pipeline on test (`zsdist train cadavae --seeds N`): mean and std of every eval metric."""
    cfg = replace(best, run_name=run_name, seeds=seeds, validation="none", validate_every=0)
    summary = run_seeds(cfg)
    return {**{f"test/{k.removeprefix(summary.prefix)}/mean": v for k, v in summary.mean.items()},
            **{f"test/{k.removeprefix(summary.prefix)}/std": v for k, v in summary.std.items()}}


METHOD = Method(
    name="cadavae",
    train_help="train CADA-VAE on a feature dataset (DDP on Ray Train); --seeds N > 1 trains and evaluates "
               "N seeds and prints their mean and std",
    eval_help="GZSL S/U/H, ZSL and few-shot accuracy of a CADA-VAE run",
    dataset_kind="features",
    train_config=CADAVAETrainConfig,
    eval_config=CADAVAEEvalConfig,
    plan=plan,
    worker=CADAVAEWorker,
    validation=GZSLValidation,
    evaluate_checkpoint=evaluate,
    headline=("H", "calibrated/H", "ausuc", "zsl_accuracy", "S", "U", "calibrated/S", "calibrated/U"),
    speed_metric="samples_per_s",
    search=Search(metric="val/H", mode="max", space=search_space, rerun=rerun_on_test,
                  trial_overrides={"validation": "pseudo_unseen", "validate_every": 1}),
    command_config=CADAVAESeedsConfig,
    command=train_command,
)
