"""beta-VAE + ES: the GZS-Net paper's beta-VAE baseline with exhaustive search, on GZS-Net's data and model.

    zsdist datagen fonts --config configs/fonts_cpu32.yaml --out DIR
    zsdist train beta-vae-es --data DIR --config configs/beta_vae_es_cpu.yaml
    zsdist eval beta-vae-es --run_name beta-vae-es-cpu --beside gzsnet-cpu   # + comparison.md

Files: config.py, model.py (a VAE on GZS-Net's encoder and decoder), objective.py (beta-VAE's loss),
training.py (one worker's epoch on GZS-Net's groups, flattened), es.py (the exhaustive search),
evaluation.py (GZS-Net's held-out targets and scores) and beside.py (one table with GZS-Net's run).
beta-TCVAE + ES (zsdist/methods/beta_tcvae/) reuses all of it with its own objective.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from datagen.spec.fonts import ATTRIBUTES
from zsdist.base.errors import DataError
from zsdist.methods.beta_vae.config import BetaVAEEvalConfig, BetaVAETrainConfig
from zsdist.methods.beta_vae.evaluation import evaluate_checkpoint, headline
from zsdist.methods.beta_vae.model import ConvVAE
from zsdist.methods.beta_vae.training import VAEWorker
from zsdist.methods.gzsnet import fonts_description, held_out_record
from zsdist.methods.gzsnet.model import with_attributes
from zsdist.methods.gzsnet.synthesis import selected_rows
from zsdist.methods.method import Checkpointed, Evaluation, Method, Search, TrainingPlan

PREFIX = "beta_vae_es"


def plan(cfg: BetaVAETrainConfig) -> TrainingPlan:
    """GZS-Net's checks of the dataset, and the count of training images (beta-TCVAE's dataset size)."""
    description, spec = fonts_description(cfg)
    cfg = replace(cfg, model=with_attributes(cfg.model, ATTRIBUTES))  # the same model config as GZS-Net's run
    held_out = held_out_record(cfg, description)
    _, _, held = selected_rows(cfg.data, cfg.selection, cfg.held_out, description)
    if held.all():
        raise DataError(f"{cfg.data} has no training image in the selection: widen --selection")
    parameters = sum(p.numel() for p in ConvVAE(cfg.model).parameters())
    return TrainingPlan(
        cfg=cfg, params={"dataset.resolution": spec.resolution, "dataset.training_images": int((~held).sum()),
                         "model.parameters": parameters, "held_out.count": held_out["count"]},
        artifacts={"held_out.json": held_out})  # no datasets: each worker reads its own shards (training.py)


def evaluate(cfg: BetaVAEEvalConfig, checkpoint: Checkpointed) -> Evaluation:
    return evaluate_checkpoint(cfg, checkpoint, train_config=BetaVAETrainConfig, prefix=PREFIX)


def search_space(cfg: Any) -> dict[str, Any]:
    """lr and the latent size (every chunk alike), at the base config's objective weights.

    Trials are compared by their training loss, so the weights stay fixed: a smaller beta always lowers
    the loss, which says nothing about how well the exhaustive search's swaps then synthesise.
    """
    return {"lr": {"loguniform": [1e-4, 2e-3]}, "model.chunk_sizes": {"choice": [2, 4, 8]}}


METHOD = Method(
    name="beta-vae-es",
    train_help="train the beta-VAE baseline of GZS-Net on Fonts (DDP on Ray Train)",
    eval_help="zero-shot synthesis of held-out Fonts combinations by beta-VAE + exhaustive search",
    dataset_kind="fonts",
    train_config=BetaVAETrainConfig,
    eval_config=BetaVAEEvalConfig,
    plan=plan,
    worker=VAEWorker,
    validation=None,
    evaluate_checkpoint=evaluate,
    headline=headline(PREFIX),
    search=Search(metric="loss", mode="min", space=search_space),  # validate_every=1 is harmless: no validation
)
