"""Held-out attribute combinations for zero-shot evaluation, chosen from a seed.

Zero-shot synthesis asks a model to draw combinations it never saw, from values it did see: e.g.
letter "g" in font 17, having seen "g" in other fonts and font 17 with other letters. So what we hold
out are *pairs* of values of two attributes (letter x font by default), never single values:
holding out a single value (all of font 17) would remove it from training altogether, its latent
chunk could not learn it, and synthesising it would be extrapolation, not recombination. The
choice below also refuses any pair that would take the last training pair of a value, so every
value of both attributes stays in training with at least one partner value.

Everything is deterministic from HeldOutConfig (seed included), and the config and the chosen pairs
are plain JSON for MLflow (`config.to_dict()`, `pairs.tolist()`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from datagen.spec.fonts import ATTRIBUTES, FontsSpec
from zsdist.base.errors import ConfigError

_COLOURS = {"font_colour", "background_colour"}


@dataclass(frozen=True, kw_only=True)
class HeldOutConfig:
    """Which two attributes' value combinations are held out, what fraction of them, from which seed."""

    # the two attributes whose value combinations are held out, e.g. letter,font
    pairs: tuple[str, str] = ("letter", "font")
    fraction: float = 0.05  # share of those combinations never shown in training
    seed: int = 0  # draws the held-out combinations

    def __post_init__(self) -> None:
        object.__setattr__(self, "pairs", tuple(self.pairs))  # JSON gives a list
        if len(self.pairs) != 2 or len(set(self.pairs)) != 2 or set(self.pairs) - set(ATTRIBUTES):
            raise ConfigError(f"held-out pairs must be two different attributes of {ATTRIBUTES} (got {self.pairs!r})")
        if not 0 <= self.fraction < 1:
            raise ConfigError(f"held-out fraction must be in [0, 1) (got {self.fraction!r}): e.g. 0.05")

    def to_dict(self) -> dict:
        return {**asdict(self), "pairs": list(self.pairs)}

    @classmethod
    def from_dict(cls, data: Mapping) -> HeldOutConfig:
        return cls(**data)


def _spec(spec_description: FontsSpec | Mapping) -> FontsSpec:
    """A FontsSpec, or the dataset description `datagen.shards.read_spec` returns ({"spec": ...})."""
    return spec_description if isinstance(spec_description, FontsSpec) else FontsSpec.from_dict(
        spec_description["spec"])


def held_out_pairs(config: HeldOutConfig, spec_description: FontsSpec | Mapping) -> np.ndarray:
    """int64 (M, 2): the held-out (value_a, value_b) positions of config.pairs, sorted.

    M = round(fraction x candidate pairs). Candidates are all value pairs, except equal colours when
    the pair is font colour x background colour (those rows are blank and never train anyway). Pairs are
    taken in a seeded random order, skipping any that would hold out a value's last candidate pair.
    """
    shape = dict(zip(ATTRIBUTES, _spec(spec_description).shape))
    count_a, count_b = shape[config.pairs[0]], shape[config.pairs[1]]
    a, b = (grid.ravel() for grid in np.meshgrid(np.arange(count_a), np.arange(count_b), indexing="ij"))
    if set(config.pairs) == _COLOURS:
        a, b = a[a != b], b[a != b]
    target = round(config.fraction * len(a))
    # Per value: candidate pairs still in training; a value must keep at least one.
    left_a = np.bincount(a, minlength=count_a)
    left_b = np.bincount(b, minlength=count_b)
    chosen = []
    for i in np.random.default_rng(config.seed).permutation(len(a)):
        if len(chosen) == target:
            break
        if left_a[a[i]] > 1 and left_b[b[i]] > 1:
            left_a[a[i]] -= 1
            left_b[b[i]] -= 1
            chosen.append(i)
    if len(chosen) < target:
        raise ConfigError(
            f"holding out {config.fraction:.0%} of {config.pairs[0]} x {config.pairs[1]} pairs ({target}) would "
            f"leave some value without training pairs (at most {len(chosen)} possible here): lower the fraction"
        )
    held = np.stack([a[chosen], b[chosen]], axis=1).astype(np.int64)
    return held[np.lexsort((held[:, 1], held[:, 0]))].reshape(-1, 2)


def _pair_codes(values_a: np.ndarray, values_b: np.ndarray) -> np.ndarray:
    # Positions are small non-negative ints: one int64 per pair makes membership a single np.isin.
    return (np.asarray(values_a, np.int64) << 32) | np.asarray(values_b, np.int64)


def is_held_out(table_or_arrays: pa.Table | Mapping[str, np.ndarray], held: np.ndarray,
                pairs: tuple[str, str] = HeldOutConfig.pairs) -> np.ndarray:
    """Bool mask: which rows (a table, or a mapping of attribute columns) are held-out combinations."""
    columns = []
    for name in pairs:
        column = table_or_arrays[name]
        columns.append(column.to_numpy() if isinstance(column, pa.ChunkedArray | pa.Array) else np.asarray(column))
    held = np.asarray(held, np.int64).reshape(-1, 2)
    return np.isin(_pair_codes(*columns), _pair_codes(held[:, 0], held[:, 1]))
