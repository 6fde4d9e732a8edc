"""Calibrated stacking and the seen-unseen curve: the exact sweep against brute force, AUSUC by hand, gamma
chosen on validation roles only, and the lift in H it gives on a CUB-shaped problem with a seen-class bias."""

from dataclasses import dataclass, replace

import numpy as np
import pytest
from cub_shaped import CUB, cub_shaped

from zsdist.data.zsl_roles import roles
from zsdist.eval.calibration import ClassScores, calibrated
from zsdist.eval.eszsl import ESZSLConfig
from zsdist.methods.cadavae import evaluation as cadavae


@dataclass
class SplitSettings:
    seed: int
    pseudo_unseen_fraction: float


def random_scores(seed: int, seen_classes: int = 4, unseen_classes: int = 3, images: int = 40) -> ClassScores:
    rng = np.random.default_rng(seed)
    classes = seen_classes + unseen_classes
    seen_labels = rng.integers(0, seen_classes, images)
    unseen_labels = rng.integers(seen_classes, classes, images)
    # Scores that favour the true class a little and the seen classes a lot: a biased classifier.
    seen, unseen = (rng.normal(size=(images, classes)) + np.eye(classes)[labels] for labels in (seen_labels,
                                                                                               unseen_labels))
    seen[:, :seen_classes] += 1.0
    unseen[:, :seen_classes] += 1.0
    return ClassScores(seen=seen, seen_labels=seen_labels, unseen=unseen, unseen_labels=unseen_labels,
                       num_seen=seen_classes)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_point_of_the_curve_is_the_argmax_at_a_gamma_in_its_interval(seed):
    scored = random_scores(seed)
    curve = scored.curve()
    assert len(curve.seen) == len(curve.edges) + 1 == len(curve.unseen)
    for interval in range(len(curve.seen)):
        at = scored.scores(curve.gamma_of(interval))
        assert (at["S"], at["U"]) == pytest.approx((curve.seen[interval], curve.unseen[interval]))
    # From every image predicted seen (U = 0) to every image predicted unseen (S = 0), monotone between.
    assert curve.unseen[0] == 0 and curve.seen[-1] == 0
    assert (np.diff(curve.seen) <= 1e-12).all() and (np.diff(curve.unseen) >= -1e-12).all()
    assert curve.seen[0] == pytest.approx(scored.scores(-1e9)["S"]) and curve.unseen[-1] == pytest.approx(
        scored.scores(1e9)["U"])
    assert 0 < curve.ausuc < 1


def test_ausuc_by_hand():
    def two_images(seen_image, unseen_image):
        return ClassScores(seen=np.array([seen_image]), seen_labels=np.array([0]), unseen=np.array([unseen_image]),
                           unseen_labels=np.array([1]), num_seen=1)

    # The seen image is right while gamma <= 2, the unseen one from gamma > 1 on: both right in (1, 2].
    both = two_images([2.0, 0.0], [1.0, 0.0])
    assert both.curve().ausuc == 1.0 and both.curve().edges.tolist() == [1.0, 2.0]
    assert both.scores(both.curve().best_gamma())["H"] == 1.0 and 1 < both.curve().best_gamma() <= 2
    # Here the seen image is lost (gamma > -1) before the unseen one is won (gamma > 1): no area.
    assert two_images([0.0, 1.0], [1.0, 0.0]).curve().ausuc == 0.0


@pytest.mark.parametrize("seed", [0, 1])
def test_chosen_gamma_gives_the_best_validation_h_and_reads_no_test_score(seed):
    validation, test = random_scores(seed), random_scores(seed + 10)
    found = calibrated(test, validation)
    assert found["calibrated/validation_H"] == pytest.approx(validation.curve().harmonic.max())
    assert validation.scores(found["calibrated/gamma"])["H"] == found["calibrated/validation_H"]
    assert {k: found[f"calibrated/{k}"] for k in "SUH"} == test.scores(found["calibrated/gamma"])
    # Other test scores, the same gamma: nothing of the test set takes part in choosing it.
    other = calibrated(random_scores(seed + 20), validation)
    assert other["calibrated/gamma"] == found["calibrated/gamma"]


def test_scores_of_different_widths_are_refused():
    with pytest.raises(ValueError, match="same C"):
        ClassScores(seen=np.zeros((2, 3)), seen_labels=np.zeros(2, int), unseen=np.zeros((2, 4)),
                    unseen_labels=np.ones(2, int), num_seen=1)


@pytest.mark.slow
def test_calibration_lifts_h_on_a_cub_shaped_problem_with_gamma_from_validation_only():
    data = cub_shaped()
    settings = SplitSettings(seed=0, pseudo_unseen_fraction=0.2)
    test, validation = roles(data, settings, validation=False), roles(data, settings, validation=True)
    assert (len(test.seen), len(test.unseen), len(validation.unseen)) == (CUB["seen"], CUB["unseen"], 30)
    config = ESZSLConfig(choose="fixed", feature_reg=10.0, attribute_reg=1.0)
    metrics, _ = cadavae.baseline_scores(data, test, config, validation=validation)
    # The seen-class bias: seen images are recognised, unseen ones mostly taken by seen classes.
    assert metrics["S"] > 0.9 and metrics["U"] < 0.8, metrics
    assert metrics["calibrated/gamma"] > 0 and metrics["calibrated/H"] >= metrics["H"] + 0.05, metrics
    assert metrics["calibrated/U"] > metrics["U"] and metrics["ausuc"] > 0
    # Test rows made into other numbers: the same gamma (chosen on validation rows alone), other test scores.
    rng = np.random.default_rng(1)
    test_rows = data.splits != "trainval"
    scrambled = replace(data, features=np.where(test_rows[:, None], rng.random(data.features.shape, np.float32),
                                                data.features))
    again, _ = cadavae.baseline_scores(scrambled, test, config, validation=validation)
    assert again["calibrated/gamma"] == metrics["calibrated/gamma"]
    assert again["calibrated/validation_H"] == metrics["calibrated/validation_H"]
    assert again["H"] != metrics["H"]
