"""Evaluating CADA-VAE: GZSL S/U/H, ZSL accuracy and generalized few-shot, with the ESZSL baseline beside it.

    zsdist eval cadavae --run_name cadavae [--split validation]

Evaluation runs on the CPU in this process: it encodes every image once and trains small linear
classifiers (zsdist/eval/latent_classifier.py). ESZSL (zsdist/eval/eszsl.py), a closed-form linear
baseline, is scored beside it on the same classes and rows, logged under eval/baseline/eszsl/.

Class roles (zsdist/data/zsl_roles.py): split="test" scores the unseen classes on test_unseen and the
seen ones on test_seen; split="validation" (a run trained with validation="pseudo_unseen") scores
pseudo-unseen classes and held-out trainval images, and no test row is used. The scores themselves are
zsdist/methods/cadavae/scores.py.

Calibration (zsdist/eval/calibration.py), on test only: both methods get AUSUC, the area under their
seen-unseen curve, and calibrated stacking's S / U / H (calibrated/...), with the seen-class penalty
gamma that gives the best H on the validation roles. ESZSL is refitted on the validation roles to
choose it. CADA-VAE scores the validation roles with the run's own VAE, which is fair only when that
VAE never trained on the pseudo-unseen classes: a run trained with validation="pseudo_unseen" gets
calibrated figures, a run trained on every seen class gets AUSUC alone (it would pick too small a gamma).
The curves are eval/seen_unseen_<split>.png, their points in eval/<split>.json.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from zsdist.base.errors import ConfigError
from zsdist.config import from_dict
from zsdist.data.features import FeatureDataset, read_feature_dataset
from zsdist.data.zsl_roles import Roles, local_class_ids, roles
from zsdist.eval.calibration import ClassScores, SeenUnseenCurve, calibrated
from zsdist.eval.eszsl import ESZSLConfig, choose_regularisers, class_scores, fit_eszsl, gzsl_and_zsl
from zsdist.eval.seen_unseen_plot import curve_points, seen_unseen_figure
from zsdist.methods.cadavae.config import CADAVAEEvalConfig, CADAVAETrainConfig
from zsdist.methods.cadavae.model import CADAVAE
from zsdist.methods.cadavae.scores import scores
from zsdist.methods.method import EVAL_PREFIX, Checkpointed, Evaluation


def evaluate(cfg: CADAVAEEvalConfig, checkpoint: Checkpointed) -> Evaluation:
    """Score the run's latest checkpoint: S/U/H, ZSL accuracy and few-shot S/U/H, logged under eval/.

    ESZSL's S/U/H and ZSL accuracy on the same roles come with them as baseline/eszsl/<name>, with the
    regularisers it chose on the validation roles. On test, both methods also get AUSUC and calibrated
    stacking's S/U/H (module docstring); CADA-VAE only when the run held its pseudo-unseen classes out.
    split="validation" logs under eval/validation/ instead. The JSON document eval/<split>.json holds
    the metrics and the classes of each role; the seen-unseen curves are a figure beside it.
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
    on_test = cfg.split == "test"
    split, validation = roles(data, trained, validation=not on_test), roles(data, trained, validation=True)
    metrics, logits = scores(model, data, split, cfg.classifier, cfg.shots)
    curves = {"CADA-VAE": logits.curve()}
    metrics["ausuc"] = curves["CADA-VAE"].ausuc
    if on_test and trained.validation == "pseudo_unseen":
        # The VAE never trained on the pseudo-unseen classes, so the validation roles are a fair stand-in
        # for test; a run trained on them would pick too small a gamma, so it gets none.
        _, validation_logits = scores(model, data, validation, cfg.classifier, (), zsl=False)
        metrics |= calibrated(logits, validation_logits)
    # The validation roles pick ESZSL's regularisers (and are the scored roles too with split="validation").
    baseline, curves["ESZSL"] = baseline_scores(data, split, cfg.eszsl, validation=validation, calibrate=on_test)
    metrics |= {f"baseline/eszsl/{k}": v for k, v in baseline.items()}
    names = {role: [data.class_names[c] for c in getattr(split, role)] for role in ("seen", "unseen")}
    figure = seen_unseen_figure(checkpoint.out_dir / f"seen_unseen_{cfg.split}.png", curves, metrics)
    return Evaluation(metrics=metrics, prefix=eval_prefix(cfg.split), artifacts=[figure],
                      documents={f"eval/{cfg.split}.json": {"metrics": metrics, "epoch": state["epoch"],
                                                            "classes": names,
                                                            "seen_unseen_curves": curve_points(curves)}})


def eval_prefix(split: str) -> str:
    """Where a split's metrics go in the run: eval/H for test, eval/validation/H for validation."""
    return EVAL_PREFIX if split == "test" else f"{EVAL_PREFIX}validation/"


def baseline_scores(data: FeatureDataset, split: Roles, config: ESZSLConfig, *, validation: Roles,
                    calibrate: bool = True) -> tuple[dict[str, float], SeenUnseenCurve]:
    """ESZSL's GZSL S/U/H, ZSL accuracy and AUSUC, trained and scored on the same rows as `scores`.

    With config.choose="validation" its regularisers are first picked on the `validation` roles (no
    test row), and come back with the scores as feature_reg, attribute_reg and validation_H. With
    calibrate, ESZSL is also fitted on the validation roles to choose calibrated stacking's gamma.
    Also returns the seen-unseen curve on `split`.
    """
    chosen = {}
    if config.choose == "validation":
        feature_reg, attribute_reg, picked = choose_regularisers(**eszsl_problem(data, validation, config), grid=config.grid)
        config = replace(config, choose="fixed", feature_reg=feature_reg, attribute_reg=attribute_reg)
        chosen = {"feature_reg": feature_reg, "attribute_reg": attribute_reg, "validation_H": picked["H"]}
    problem = eszsl_problem(data, split, config)
    fitted = eszsl_class_scores(problem, config)
    metrics = gzsl_and_zsl(fitted) | chosen | {"ausuc": fitted.curve().ausuc}
    if calibrate:
        metrics |= calibrated(fitted, eszsl_class_scores(eszsl_problem(data, validation, config), config))
    return metrics, fitted.curve()


def eszsl_class_scores(problem: dict, config: ESZSLConfig) -> ClassScores:
    """ESZSL fitted on a problem's training rows, scoring its seen and unseen test images."""
    v = fit_eszsl(*problem["train"], problem["attributes"][:problem["num_seen"]], config)
    return class_scores(v, problem["seen_test"], problem["unseen_test"], problem["attributes"], problem["num_seen"])


def eszsl_problem(data: FeatureDataset, split: Roles, config: ESZSLConfig) -> dict:
    """The arrays ESZSL fits and is scored on for these roles, classes indexed seen role first; with
    config.centre the attributes less the seen-role classes' mean (zsdist/eval/eszsl.py)."""
    local = local_class_ids(data, split)

    def images(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return data.features[rows], local[data.labels[rows]]

    attributes = data.attributes[np.concatenate([split.seen, split.unseen])]
    if config.centre:
        attributes = attributes - attributes[:len(split.seen)].mean(axis=0)
    return {"train": images(split.train_rows), "seen_test": images(split.seen_test_rows),
            "unseen_test": images(split.unseen_test_rows), "attributes": attributes, "num_seen": len(split.seen)}
