"""ESZSL, the closed-form baseline beside CADA-VAE: the formula by hand, recovery of unseen classes on a
problem where attributes linearly determine features, and its place in the evaluation's class roles."""

import math
from dataclasses import replace

import numpy as np
import pytest
from cadavae_synthetic import CLASSES, SEEN, synthetic_arrays, tiny_config

from zsdist.base.errors import ConfigError
from zsdist.data.features import FeatureDataset
from zsdist.eval.eszsl import ESZSLConfig, eszsl_scores, fit_eszsl, fit_eszsl_grid, predict_eszsl
from zsdist.methods.cadavae import evaluation as cadavae


def test_closed_form_by_hand():
    # X = diag(1, 2), one image per class, S = I, gamma = lambda = 1; Y in the +1 / -1 coding:
    # X^T X + I = diag(2, 5); X^T Y S = [[1, -1], [-2, 2]]; S^T S + I = 2 I, so V = diag(1/2, 1/5) X^T Y / 2.
    v = fit_eszsl(np.diag([1.0, 2.0]), np.array([0, 1]), np.eye(2), ESZSLConfig(feature_reg=1, attribute_reg=1))
    assert np.allclose(v, [[0.25, -0.25], [-0.2, 0.2]])
    assert list(predict_eszsl(v, np.diag([1.0, 2.0]), np.eye(2))) == [0, 1]


def test_closed_form_matches_the_paper_formula():
    rng = np.random.default_rng(1)
    x, labels, s = rng.normal(size=(12, 5)), np.array([0, 1, 2] * 4), rng.normal(size=(3, 4))
    y = np.where(np.eye(3)[labels] == 1, 1.0, -1.0)
    expected = np.linalg.inv(x.T @ x + 0.5 * np.eye(5)) @ x.T @ y @ s @ np.linalg.inv(s.T @ s + 2.0 * np.eye(4))
    assert np.allclose(fit_eszsl(x, labels, s, ESZSLConfig(feature_reg=0.5, attribute_reg=2.0)), expected)


def test_grid_fits_equal_the_closed_form():
    rng = np.random.default_rng(2)
    x, labels, s = rng.normal(size=(20, 6)), np.arange(20) % 4, rng.normal(size=(4, 5))
    fits = list(fit_eszsl_grid(x, labels, s, (0.01, 3.0)))
    assert [(g, l) for g, l, _ in fits] == [(0.01, 0.01), (0.01, 3.0), (3.0, 0.01), (3.0, 3.0)]
    for g, l, v in fits:
        assert np.allclose(v, fit_eszsl(x, labels, s, ESZSLConfig(feature_reg=g, attribute_reg=l)))


def test_recovers_unseen_classes_far_above_chance():
    d = synthetic_arrays()
    part = {split: (d["features"][d["splits"] == split], d["labels"][d["splits"] == split])
            for split in ("trainval", "test_seen", "test_unseen")}
    metrics = eszsl_scores(train=part["trainval"], seen_test=part["test_seen"], unseen_test=part["test_unseen"],
                           attributes=d["attributes"], num_seen=SEEN, config=ESZSLConfig())
    # Chance: ZSL 1/3 (3 unseen classes), GZSL U about 1/10 (argmax over all 10 classes).
    assert metrics["zsl_accuracy"] > 0.9 and metrics["U"] > 0.6 and metrics["H"] > 0.5, metrics


def synthetic_dataset() -> FeatureDataset:
    d = synthetic_arrays()
    return FeatureDataset(features=d["features"], labels=d["labels"], splits=d["splits"],
                          class_names=[f"class{c}" for c in range(CLASSES)], attributes=d["attributes"],
                          seen=np.arange(CLASSES) < SEEN, description={})


def test_validation_roles_never_read_test_rows():
    data = synthetic_dataset()
    split = cadavae.roles(data, tiny_config("", validation="pseudo_unseen", pseudo_unseen_fraction=0.3),
                          validation=True)
    metrics, _ = cadavae.baseline_scores(data, split, ESZSLConfig(), validation=split, calibrate=False)
    # Test features made NaN: any test row reaching the fit or the scores would change (or break) them.
    hidden = replace(data, features=np.where((data.splits == "trainval")[:, None], data.features, np.nan))
    assert cadavae.baseline_scores(hidden, split, ESZSLConfig(), validation=split, calibrate=False)[0] == metrics
    assert set(metrics) == {"S", "U", "H", "zsl_accuracy", "feature_reg", "attribute_reg", "validation_H", "ausuc"}
    assert all(0 <= metrics[k] <= 1 for k in ("S", "U", "H", "zsl_accuracy")), metrics


def test_regularisers_chosen_on_validation_without_test_rows():
    data = synthetic_dataset()
    cfg = tiny_config("", pseudo_unseen_fraction=0.3)
    test, validation = cadavae.roles(data, cfg, validation=False), cadavae.roles(data, cfg, validation=True)
    grid = (1e-3, 1.0, 1e3)
    chosen, _ = cadavae.baseline_scores(data, test, ESZSLConfig(grid=grid), validation=validation)

    def fixed(roles, feature_reg, attribute_reg):
        config = ESZSLConfig(choose="fixed", feature_reg=feature_reg, attribute_reg=attribute_reg)
        return cadavae.baseline_scores(data, roles, config, validation=validation)[0]

    # The pick is the grid's best validation H, and the test scores are those of that pair.
    by_pair = {(g, l): fixed(validation, g, l)["H"] for g in grid for l in grid}
    assert chosen["validation_H"] == max(by_pair.values()) == by_pair[chosen["feature_reg"], chosen["attribute_reg"]]
    again = fixed(test, chosen["feature_reg"], chosen["attribute_reg"])
    scored = ("S", "U", "H", "zsl_accuracy", "calibrated/H", "ausuc")
    assert {k: chosen[k] for k in scored} == {k: again[k] for k in scored}
    # The choice reads no test row: with test features made NaN it is the same.
    hidden = replace(data, features=np.where((data.splits == "trainval")[:, None], data.features, np.nan))
    picked, _ = cadavae.baseline_scores(hidden, validation, ESZSLConfig(grid=grid), validation=validation,
                                        calibrate=False)
    assert (picked["feature_reg"], picked["attribute_reg"]) == (chosen["feature_reg"], chosen["attribute_reg"])


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf])
def test_regularisers_must_be_positive(value):
    with pytest.raises(ConfigError, match="eszsl.feature_reg"):
        ESZSLConfig(feature_reg=value)
    with pytest.raises(ConfigError, match="eszsl.attribute_reg"):
        ESZSLConfig(attribute_reg=value)
    with pytest.raises(ConfigError, match="eszsl.grid"):
        ESZSLConfig(grid=(1.0, value))


def test_centred_attributes_ignore_what_every_class_shares():
    # ESZSL has no intercept: with centring, a vector added to every class's attributes changes nothing;
    # without it, that shared part becomes a per-class bonus and moves the predictions.
    data = synthetic_dataset()
    cfg = tiny_config("", pseudo_unseen_fraction=0.3)
    test, validation = cadavae.roles(data, cfg, validation=False), cadavae.roles(data, cfg, validation=True)
    shifted = replace(data, attributes=data.attributes + 5.0 * np.random.default_rng(3).random(data.attributes.shape[1]))
    scored = ("S", "U", "H", "zsl_accuracy")
    for centre, same in ((True, True), (False, False)):
        config = ESZSLConfig(choose="fixed", centre=centre)
        plain, _ = cadavae.baseline_scores(data, test, config, validation=validation)
        moved, _ = cadavae.baseline_scores(shifted, test, config, validation=validation)
        assert ({k: plain[k] for k in scored} == pytest.approx({k: moved[k] for k in scored})) is same, centre
