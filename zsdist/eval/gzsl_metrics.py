"""Generalized zero-shot metrics: mean per-class top-1 accuracy on seen (S) and unseen (U) classes and their harmonic mean (H).

GZSL benchmarks (Xian et al.'s proposed splits, CADA-VAE) average accuracy per class, not per image,
so a class with one test image weighs as much as one with a hundred and a frequent class cannot hide
a rare one. S is that mean over the seen classes of test_seen, U over the unseen classes of
test_unseen, and H = 2SU / (S + U) rewards a model only when it does well on both. Every score is a
fraction in [0, 1], not a percentage.

Predictions must range over ALL classes (seen and unseen together): that is what makes the setting
"generalized", since a test image of an unseen class predicted as a seen one counts as wrong. Building
such predictions is the caller's job; these functions only count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ClassList = Sequence[int] | np.ndarray


def _class_ids(classes: ClassList, name: str) -> np.ndarray:
    ids = np.asarray(classes)
    if ids.ndim != 1 or len(ids) == 0 or not np.issubdtype(ids.dtype, np.integer) or int(ids.min()) < 0:
        raise ValueError(f"{name} must be a non-empty 1-D list of class indices >= 0, got {classes!r}")
    return ids.astype(np.int64)


def _labels(values: np.ndarray | Sequence[int], name: str) -> np.ndarray:
    labels = np.asarray(values)
    if labels.ndim != 1 or (len(labels) and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f"{name} must be a 1-D array of integer class indices, got shape {labels.shape}")
    if len(labels) and int(labels.min()) < 0:
        raise ValueError(f"{name} holds negative class indices: labels must be in [0, num_classes)")
    return labels.astype(np.int64)


def _mean_accuracy(correct: np.ndarray, total: np.ndarray, classes: np.ndarray) -> float:
    """Mean of correct[c] / total[c] over the given classes, skipping those with total[c] == 0."""
    in_range = classes[classes < len(total)]
    present = in_range[total[in_range] > 0]
    if len(present) == 0:
        raise ValueError(f"none of the classes {classes.tolist()} has a test sample: cannot average accuracy")
    return float(np.mean(correct[present] / total[present]))


def _harmonic(seen: float, unseen: float) -> dict[str, float]:
    h = 0.0 if seen + unseen == 0 else 2.0 * seen * unseen / (seen + unseen)
    return {"S": seen, "U": unseen, "H": h}


def _check_disjoint(seen: np.ndarray, unseen: np.ndarray) -> None:
    shared = np.intersect1d(seen, unseen)
    if len(shared):
        raise ValueError(f"classes {shared.tolist()} are both seen and unseen: the two lists must be disjoint")


def per_class_accuracy(
    y_true: np.ndarray | Sequence[int], y_pred: np.ndarray | Sequence[int], classes: ClassList
) -> float:
    """Mean over `classes` of each class's top-1 accuracy (fraction of its samples predicted as itself).

    Classes of `classes` without any sample in y_true are left out of the mean; a ValueError is
    raised when none has a sample. Samples whose true class is not in `classes` are ignored.
    """
    truth, predicted = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if truth.shape != predicted.shape:
        raise ValueError(f"y_true has {len(truth)} labels but y_pred has {len(predicted)}: need one per sample")
    ids = _class_ids(classes, "classes")
    size = int(max(ids.max(), truth.max(initial=0))) + 1
    total = np.bincount(truth, minlength=size)
    correct = np.bincount(truth[truth == predicted], minlength=size)
    return _mean_accuracy(correct, total, ids)


def gzsl_scores(
    y_true_seen: np.ndarray | Sequence[int],
    y_pred_seen: np.ndarray | Sequence[int],
    y_true_unseen: np.ndarray | Sequence[int],
    y_pred_unseen: np.ndarray | Sequence[int],
    seen_classes: ClassList,
    unseen_classes: ClassList,
) -> dict[str, float]:
    """S, U and H from the predictions on test_seen and test_unseen: {"S": ..., "U": ..., "H": ...}.

    y_pred_* must be argmaxes over ALL classes (seen and unseen), see the module docstring.
    S is the per-class accuracy of test_seen over seen_classes, U of test_unseen over unseen_classes,
    and H = 2SU / (S + U), 0 when both are 0.
    """
    seen, unseen = _class_ids(seen_classes, "seen_classes"), _class_ids(unseen_classes, "unseen_classes")
    _check_disjoint(seen, unseen)
    return _harmonic(
        per_class_accuracy(y_true_seen, y_pred_seen, seen),
        per_class_accuracy(y_true_unseen, y_pred_unseen, unseen),
    )


def confusion_scores(confusion: np.ndarray, seen_classes: ClassList, unseen_classes: ClassList) -> dict[str, float]:
    """S, U and H from a (C, C) confusion matrix of counts over all classes: rows true, columns predicted.

    Class c's accuracy is confusion[c, c] / confusion[c].sum(); rows without samples are left out.
    Gives the same numbers as gzsl_scores on the predictions the matrix counts.
    """
    counts = np.asarray(confusion, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or (counts < 0).any():
        raise ValueError(f"confusion of shape {counts.shape}: need a square matrix of non-negative counts")
    seen, unseen = _class_ids(seen_classes, "seen_classes"), _class_ids(unseen_classes, "unseen_classes")
    _check_disjoint(seen, unseen)
    largest = int(max(seen.max(), unseen.max()))
    if largest >= len(counts):
        raise ValueError(f"class {largest} is outside the {len(counts)}x{len(counts)} confusion matrix")
    correct, total = np.diag(counts), counts.sum(axis=1)
    return _harmonic(_mean_accuracy(correct, total, seen), _mean_accuracy(correct, total, unseen))
