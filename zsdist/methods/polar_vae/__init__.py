"""The polar VAE: does a VAE fill the hole cut out of its training space? (Polar curves r = b cos(5 theta) + a.)

    zsdist datagen polar --out DIR
    zsdist train polar-vae --data DIR [--epochs 5] [--model.latent_dim 3]
    zsdist eval polar-vae --run_name polar-vae
    zsdist tune polar-vae --data DIR --search.num_samples 8

Files: config.py (both configs), model.py (the VAE and its loss), data.py (the dataset's rows and
splits), training.py (one worker's epoch), validation.py (val/hole_mse), evaluation.py, metrics.py and
plots.py (inside vs outside the hole). This module says how the shared machinery uses them.
"""

from __future__ import annotations

from typing import Any

from zsdist.base.storage import location
from zsdist.data.polar import dataset_resolution, training_dataset
from zsdist.methods.method import Checkpointed, Evaluation, Method, Search, TrainingPlan
from zsdist.methods.polar_vae.config import PolarEvalConfig, PolarTrainConfig
from zsdist.methods.polar_vae.evaluation import HEADLINE, evaluate_checkpoint
from zsdist.methods.polar_vae.training import PolarWorker
from zsdist.methods.polar_vae.validation import HoleValidation


def plan(cfg: PolarTrainConfig) -> TrainingPlan:
    data_dir = location(cfg.data)
    resolution = dataset_resolution(data_dir)  # also checks that the shards are all there
    cfg.model.check_resolution(resolution)
    return TrainingPlan(cfg=cfg, payload={"resolution": resolution}, params={"resolution": resolution},
                        datasets=lambda: {"train": training_dataset(data_dir, cfg.train_on)})


def evaluate(cfg: PolarEvalConfig, checkpoint: Checkpointed) -> Evaluation:
    metrics, artifacts = evaluate_checkpoint(checkpoint.state, checkpoint.data_dir, checkpoint.out_dir)
    return Evaluation(metrics=metrics, artifacts=artifacts)


def search_space(cfg: Any) -> dict[str, Any]:
    """Beta warm-up, decorrelation weight, latent size."""
    return {
        "beta_warmup_epochs": {"randint": [0, cfg.epochs]},
        "decorrelation": "cov",
        "decorrelation_weight": {"loguniform": [1e-4, 1.0]},
        "model.latent_dim": {"choice": [2, 3, 4, 6]},
    }


METHOD = Method(
    name="polar-vae",
    train_help="train the polar VAE (DDP on Ray Train)",
    eval_help="score a polar VAE run inside vs outside the hole",
    dataset_kind="polar",
    train_config=PolarTrainConfig,
    eval_config=PolarEvalConfig,
    plan=plan,
    worker=PolarWorker,
    validation=HoleValidation,
    evaluate_checkpoint=evaluate,
    headline=HEADLINE,
    search=Search(metric="val/hole_mse", mode="min", space=search_space),
)
