"""Which images a zero-shot synthesis evaluation uses: targets, chunk sources, bases and nearest neighbours.

All functions work on attribute arrays (rows x A value positions) and return row positions, so they
are pure numpy and seeded by the caller's Generator.

- Targets: a seeded sample of candidate rows, each with a ground-truth image in Fonts: held-out
  combinations (never trained on) for the evaluation, training rows for the training's validation.
- Sources (full synthesis): for target t and attribute k, a training image with t's value of k that
  differs from t in every other attribute where such an image exists, so chunk k is the only thing
  it can contribute; otherwise any training image with that value.
- Bases (single-attribute edit k): a training image equal to t in every attribute but k. The edit
  keeps the base's latent and takes chunk k from t's source for k. A base exists only when changing k
  leaves the held-out combination, i.e. for k among the held-out pair's attributes.
- Nearest neighbour (baseline): the training image that matches the most of t's values, ties broken
  at random.
"""

from __future__ import annotations

import numpy as np

NO_ROW = -1
_CANDIDATE_DRAWS = 64  # random draws per source before falling back to any image with the value


def _rows_by_value(train: np.ndarray, k: int) -> dict[int, np.ndarray]:
    order = np.argsort(train[:, k], kind="stable")
    values, starts = np.unique(train[order, k], return_index=True)
    return dict(zip(values.tolist(), np.split(order, starts[1:])))


def choose_targets(attrs: np.ndarray, train_rows: np.ndarray, candidates: np.ndarray, count: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A seeded sample of at most `count` candidate rows (sorted) and their sources (pick_sources).

    attrs is (N, A) over all rows; candidates and train_rows are row positions in it. The sources
    come back as positions in train_rows, int64 (T, A).
    """
    targets = np.sort(rng.choice(candidates, min(count, len(candidates)), replace=False))
    return targets, pick_sources(attrs[train_rows], attrs[targets], rng)


def pick_sources(train: np.ndarray, targets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """int64 (T, A): per target and attribute, a training row with the target's value of that attribute.

    NO_ROW where the training set lacks the value (the held-out split keeps every value, so only a
    selection that removes a value entirely can cause it).
    """
    sources = np.full(targets.shape, NO_ROW, np.int64)
    for k in range(train.shape[1]):
        by_value = _rows_by_value(train, k)
        others = [m for m in range(train.shape[1]) if m != k]
        for t, target in enumerate(targets):
            rows = by_value.get(int(target[k]))
            if rows is None:
                continue
            draws = rows[rng.integers(len(rows), size=min(_CANDIDATE_DRAWS, len(rows)))]
            differ = np.all(train[draws][:, others] != target[others], axis=1)
            sources[t, k] = draws[np.argmax(differ)] if differ.any() else draws[0]
    return sources


def pick_bases(train: np.ndarray, targets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """int64 (T, A): per target and attribute k, a training row equal to the target except in k (or NO_ROW)."""
    bases = np.full(targets.shape, NO_ROW, np.int64)
    for k in range(train.shape[1]):
        others = [m for m in range(train.shape[1]) if m != k]
        # Rows keyed by their values of every attribute but k: a base has the target's key.
        keys = _row_keys(train[:, others])
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        target_keys = _row_keys(targets[:, others])
        lo = np.searchsorted(sorted_keys, target_keys, side="left")
        hi = np.searchsorted(sorted_keys, target_keys, side="right")
        for t in np.flatnonzero(hi > lo):
            bases[t, k] = order[lo[t] + rng.integers(hi[t] - lo[t])]
    return bases


def nearest_neighbours(train: np.ndarray, targets: np.ndarray, rng: np.random.Generator,
                       chunk_rows: int = 64) -> np.ndarray:
    """int64 (T,): per target, a training row matching the most of its values (ties at random)."""
    chosen = np.empty(len(targets), np.int64)
    for start in range(0, len(targets), chunk_rows):
        block = targets[start:start + chunk_rows]
        matches = (train[None, :, :] == block[:, None, :]).sum(axis=2)  # (t, N)
        for i, row in enumerate(matches):
            best = np.flatnonzero(row == row.max())
            chosen[start + i] = best[rng.integers(len(best))]
    return chosen


def _row_keys(values: np.ndarray) -> np.ndarray:
    # Value positions below 2**12 (52 letters, 100 fonts here): up to 5 of them pack into one int64.
    if values.size and (values.max() >= 2**12 or values.shape[1] > 5):
        raise ValueError("row keys pack at most 5 attributes of at most 4096 values each")
    keys = np.zeros(len(values), np.int64)
    for column in values.T:
        keys = (keys << 12) | column.astype(np.int64)
    return keys
