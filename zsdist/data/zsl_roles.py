"""Which classes play the seen and unseen roles of a zero-shot evaluation, and which rows each part uses.

Test roles: the seen classes train (trainval) and are scored on test_seen; the unseen classes are
scored on test_unseen. Validation roles, which never touch a test row: a seeded fraction of the seen
classes becomes pseudo-unseen (scored on their trainval images) and a seeded 20% of each remaining
class's trainval images is held out as validation-seen. The original xlsa17 train_loc / val_loc
overlap test_seen_loc, hence this split of trainval alone. Training and evaluation both call `roles`
with the same settings, so they agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from zsdist.base.errors import ConfigError
from zsdist.data.features import FeatureDataset

VALIDATION_SEEN_FRACTION = 0.2  # of each training class's trainval images, held out with validation


class SplitSettings(Protocol):
    seed: int
    pseudo_unseen_fraction: float


@dataclass(frozen=True)
class Roles:
    """Global class ids in the seen and unseen roles, and the row indices each part of the data uses."""

    seen: np.ndarray
    unseen: np.ndarray
    train_rows: np.ndarray  # seen-role images the VAE and the classifier train on
    seen_test_rows: np.ndarray
    unseen_test_rows: np.ndarray


def roles(data: FeatureDataset, cfg: SplitSettings, *, validation: bool) -> Roles:
    """The test roles, or the validation split seeded by cfg.seed and cfg.pseudo_unseen_fraction."""
    trainval = np.flatnonzero(data.splits == "trainval")
    seen = np.flatnonzero(data.seen)
    if not validation:
        return Roles(seen, np.flatnonzero(~data.seen), trainval, np.flatnonzero(data.splits == "test_seen"),
                     np.flatnonzero(data.splits == "test_unseen"))
    rng = np.random.default_rng(cfg.seed)
    count = max(1, round(cfg.pseudo_unseen_fraction * len(seen)))
    if count >= len(seen):
        raise ConfigError(f"pseudo_unseen_fraction={cfg.pseudo_unseen_fraction} leaves none of the "
                          f"{len(seen)} seen classes to train on: lower it")
    pseudo = np.sort(rng.choice(seen, count, replace=False))
    train_rows, held = [], []
    for label in np.setdiff1d(seen, pseudo):
        rows = rng.permutation(trainval[data.labels[trainval] == label])
        cut = max(1, round(VALIDATION_SEEN_FRACTION * len(rows))) if len(rows) > 1 else 0
        held.append(rows[:cut])
        train_rows.append(rows[cut:])
    return Roles(np.setdiff1d(seen, pseudo), pseudo, np.sort(np.concatenate(train_rows)),
                 np.sort(np.concatenate(held)), trainval[np.isin(data.labels[trainval], pseudo)])


def local_class_ids(data: FeatureDataset, split: Roles) -> np.ndarray:
    """Global class id -> its index among the roles' classes, seen role first (-1: no role)."""
    local = np.full(len(data.class_names), -1)
    local[np.concatenate([split.seen, split.unseen])] = np.arange(len(split.seen) + len(split.unseen))
    return local
