"""beta-TCVAE + ES: the GZS-Net paper's beta-TCVAE baseline with exhaustive search.

    zsdist train beta-tcvae-es --data DIR --config configs/beta_tcvae_es_cpu.yaml
    zsdist eval beta-tcvae-es --run_name beta-tcvae-es-cpu --beside gzsnet-cpu,beta-vae-es/beta-vae-es-cpu

Only the objective (objective.py: the KL split into MI, TC and dimension-wise KL, by minibatch-weighted
sampling) and its weights (config.py) are its own. Model, worker, data, exhaustive search and evaluation
are beta-VAE + ES's (zsdist/methods/beta_vae/): the worker minimises what the config's objective() gives.
"""

from __future__ import annotations

from dataclasses import replace

from zsdist.methods import beta_vae
from zsdist.methods.beta_tcvae.config import BetaTCVAEEvalConfig, BetaTCVAETrainConfig
from zsdist.methods.beta_vae.evaluation import evaluate_checkpoint, headline
from zsdist.methods.beta_vae.training import VAEWorker
from zsdist.methods.method import Checkpointed, Evaluation, Method, Search, TrainingPlan

PREFIX = "beta_tcvae_es"


def plan(cfg: BetaTCVAETrainConfig) -> TrainingPlan:
    """beta-VAE + ES's plan, with the dataset size of the MWS estimate counted from the data when unset."""
    planned = beta_vae.plan(cfg)
    size = planned.cfg.dataset_size or planned.params["dataset.training_images"]
    return replace(planned, cfg=replace(planned.cfg, dataset_size=size))


def evaluate(cfg: BetaTCVAEEvalConfig, checkpoint: Checkpointed) -> Evaluation:
    return evaluate_checkpoint(cfg, checkpoint, train_config=BetaTCVAETrainConfig, prefix=PREFIX)


METHOD = Method(
    name="beta-tcvae-es",
    train_help="train the beta-TCVAE baseline of GZS-Net on Fonts (DDP on Ray Train)",
    eval_help="zero-shot synthesis of held-out Fonts combinations by beta-TCVAE + exhaustive search",
    dataset_kind="fonts",
    train_config=BetaTCVAETrainConfig,
    eval_config=BetaTCVAEEvalConfig,
    plan=plan,
    worker=VAEWorker,
    validation=None,
    evaluate_checkpoint=evaluate,
    headline=headline(PREFIX),
    search=Search(metric="loss", mode="min", space=beta_vae.search_space),
)
