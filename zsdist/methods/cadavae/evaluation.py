"""Evaluating CADA-VAE: GZSL S/U/H, ZSL accuracy and generalized few-shot, with the ESZSL baseline beside it.

    zsdist eval cadavae --run_name cadavae [--split validation]

Evaluation runs on the CPU in this process: it encodes every image once and trains small linear
classifiers (zsdist/eval/latent_classifier.py). ESZSL (zsdist/eval/eszsl.py), a closed-form linear
baseline, is scored beside it on the same classes and rows, logged under eval/baseline/eszsl/.

Class roles (zsdist/data/zsl_roles.py): split="test" scores the unseen classes on test_unseen and the
seen ones on test_seen; split="validation" (a run trained with validation="pseudo_unseen") scores
pseudo-unseen classes and held-out trainval images, and no test row is used. The scores themselves are
zsdist/methods/cadavae/scores.py.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from zsdist.base.errors import ConfigError
from zsdist.config import from_dict
from zsdist.data.features import FeatureDataset, read_feature_dataset
from zsdist.data.zsl_roles import Roles, local_class_ids, roles
from zsdist.eval.eszsl import ESZSLConfig, choose_regularisers, eszsl_scores
from zsdist.methods.cadavae.config import CADAVAEEvalConfig, CADAVAETrainConfig
from zsdist.methods.cadavae.model import CADAVAE
from zsdist.methods.cadavae.scores import scores
from zsdist.methods.method import EVAL_PREFIX, Checkpointed, Evaluation


def evaluate(cfg: CADAVAEEvalConfig, checkpoint: Checkpointed) -> Evaluation:
    """Score the run's latest checkpoint: S/U/H, ZSL accuracy and few-shot S/U/H, logged under eval/.

    ESZSL's S/U/H and ZSL accuracy on the same roles come with them as baseline/eszsl/<name>, with the
    regularisers it chose on the validation roles.
    split="validation" logs under eval/validation/ instead. The JSON document eval/<split>.json holds
    the metrics and the classes of each role.
    """
    state = checkpoint.state
    trained = from_dict(CADAVAETrainConfig, state["config"])
    if cfg.split == "validation" and trained.validation != "pseudo_unseen":
        raise ConfigError(f"run '{cfg.run_name}' was trained with validation={trained.validation}: "
                          "train with --validation pseudo_unseen to evaluate --split validation")
    data = read_feature_dataset(checkpoint.data_dir)
    model = CADAVAE(trained.model)
    model.load_state_dict(state["model"])
    model.eval()
    split = roles(data, trained, validation=cfg.split == "validation")
    metrics = scores(model, data, split, cfg.classifier, cfg.shots)
    # The validation roles pick ESZSL's regularisers (and are the scored roles too with split="validation").
    baseline = baseline_scores(data, split, cfg.eszsl, validation=roles(data, trained, validation=True))
    metrics |= {f"baseline/eszsl/{k}": v for k, v in baseline.items()}
    names = {role: [data.class_names[c] for c in getattr(split, role)] for role in ("seen", "unseen")}
    return Evaluation(metrics=metrics, prefix=eval_prefix(cfg.split),
                      documents={f"eval/{cfg.split}.json": {"metrics": metrics, "epoch": state["epoch"],
                                                            "classes": names}})


def eval_prefix(split: str) -> str:
    """Where a split's metrics go in the run: eval/H for test, eval/validation/H for validation."""
    return EVAL_PREFIX if split == "test" else f"{EVAL_PREFIX}validation/"


def baseline_scores(data: FeatureDataset, split: Roles, config: ESZSLConfig, *, validation: Roles) -> dict[str, float]:
    """ESZSL's GZSL S/U/H and ZSL accuracy, trained and scored on the same rows as `scores`.

    With config.choose="validation" its regularisers are first picked on the `validation` roles (no
    test row), and come back with the scores as feature_reg, attribute_reg and validation_H.
    """
    chosen = {}
    if config.choose == "validation":
        feature_reg, attribute_reg, picked = choose_regularisers(**eszsl_problem(data, validation), grid=config.grid)
        config = replace(config, choose="fixed", feature_reg=feature_reg, attribute_reg=attribute_reg)
        chosen = {"feature_reg": feature_reg, "attribute_reg": attribute_reg, "validation_H": picked["H"]}
    return eszsl_scores(**eszsl_problem(data, split), config=config) | chosen


def eszsl_problem(data: FeatureDataset, split: Roles) -> dict:
    """The arrays ESZSL fits and is scored on for these roles, classes indexed seen role first."""
    local = local_class_ids(data, split)

    def images(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return data.features[rows], local[data.labels[rows]]

    return {"train": images(split.train_rows), "seen_test": images(split.seen_test_rows),
            "unseen_test": images(split.unseen_test_rows),
            "attributes": data.attributes[np.concatenate([split.seen, split.unseen])], "num_seen": len(split.seen)}
