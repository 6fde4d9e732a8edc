"""GZS-Net: group-supervised zero-shot synthesis on Fonts, with the AE+DS baseline trained beside it.

    zsdist datagen fonts --config configs/fonts_cpu32.yaml --out DIR
    zsdist train gzsnet --data DIR --config configs/gzsnet_cpu.yaml
    zsdist eval gzsnet --run_name gzsnet-cpu    # zero-shot synthesis vs ground truth, baselines, probes

Files: config.py, model.py (one latent chunk per attribute), objective.py (the swap losses), ae_ds.py
(the baseline), groups.py (group sampling inside each shard), training.py (one worker's epoch),
validation.py (val/psnr), and the evaluation: evaluation.py, synthesis.py, targets.py,
coprediction.py, plots.py. This module says how the shared machinery uses them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from datagen.shards import dataset_files, read_spec
from datagen.spec.fonts import ATTRIBUTES, FontsSpec
from zsdist.base.errors import DataError
from zsdist.data.fonts import downscale_factor
from zsdist.data.heldout import held_out_pairs
from zsdist.methods.gzsnet.config import GZSNetEvalConfig, GZSNetTrainConfig
from zsdist.methods.gzsnet.evaluation import HEADLINE, evaluate_checkpoint
from zsdist.methods.gzsnet.model import GZSNet, with_attributes
from zsdist.methods.gzsnet.training import GZSNetWorker
from zsdist.methods.gzsnet.validation import SynthesisValidation
from zsdist.methods.method import Checkpointed, Evaluation, Method, Search, TrainingPlan


def fonts_description(cfg: Any) -> tuple[dict, FontsSpec]:
    """The dataset's description and spec, after checking that every shard is whole, that it has the Fonts
    attribute metadata and that cfg.model.image_size divides its resolution (one-line errors otherwise)."""
    dataset_files(cfg.data, dataset="fonts")
    description = read_spec(cfg.data, dataset="fonts")
    if set(description.get("attributes", ())) != set(ATTRIBUTES):
        raise DataError(f"{cfg.data} lacks the Fonts attribute metadata {ATTRIBUTES}: generate it with "
                        "`zsdist datagen fonts`")
    spec = FontsSpec.from_dict(description["spec"])
    downscale_factor(spec.resolution, cfg.model.image_size)
    return description, spec


def plan(cfg: GZSNetTrainConfig) -> TrainingPlan:
    description, spec = fonts_description(cfg)
    # One latent chunk per attribute of the dataset, in the order of the group's partner slots (the
    # dataset's column order; the metadata is a JSON mapping, whose key order is not to be relied on).
    cfg = replace(cfg, model=with_attributes(cfg.model, ATTRIBUTES))
    held_out = held_out_record(cfg, description)
    parameters = sum(p.numel() for p in GZSNet(cfg.model).parameters())
    return TrainingPlan(
        cfg=cfg, payload={"num_values": list(spec.shape)},
        params={"dataset.resolution": spec.resolution, "model.parameters": parameters,
                "held_out.count": held_out["count"]},
        artifacts={"held_out.json": held_out})  # no datasets: each worker reads its own shards (training.py)


def held_out_record(cfg: GZSNetTrainConfig, description: dict) -> dict:
    """The held-out split as MLflow gets it: its config and every held-out pair, by index and by name."""
    held = held_out_pairs(cfg.held_out, description)
    names = [[description["attributes"][attribute][value].get("name", value)
              for attribute, value in zip(cfg.held_out.pairs, pair)] for pair in held.tolist()]
    return {**cfg.held_out.to_dict(), "count": len(held), "values": held.tolist(), "names": names}


def evaluate(cfg: GZSNetEvalConfig, checkpoint: Checkpointed) -> Evaluation:
    metrics, artifacts = evaluate_checkpoint(checkpoint.state, checkpoint.path, checkpoint.data_dir, checkpoint.out_dir,
                                             cfg.synthesis)
    return Evaluation(metrics=metrics, artifacts=artifacts)


def search_space(cfg: Any) -> dict[str, Any]:
    """Loss weights, one chunk size for every attribute, lr."""
    return {
        "lr": {"loguniform": [1e-4, 2e-3]},
        "loss.swap": {"loguniform": [0.1, 10.0]},
        "loss.neighbour_decode": {"loguniform": [0.1, 10.0]},
        "loss.cycle": {"choice": [0.0, 0.1, 1.0]},
        "model.chunk_sizes": {"choice": [8, 16, 32]},
    }


METHOD = Method(
    name="gzsnet",
    train_help="train GZS-Net and its AE+DS baseline on Fonts (DDP on Ray Train)",
    eval_help="zero-shot synthesis of held-out Fonts combinations vs baselines",
    dataset_kind="fonts",
    train_config=GZSNetTrainConfig,
    eval_config=GZSNetEvalConfig,
    plan=plan,
    worker=GZSNetWorker,
    validation=SynthesisValidation,
    evaluate_checkpoint=evaluate,
    headline=HEADLINE,
    loss_metric="total",
    search=Search(metric="val/psnr", mode="max", space=search_space),
)
