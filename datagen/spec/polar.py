"""The polar-curve dataset as data: its parameters, its points, their splits and its shard plan.

Each image is the closed polar curve r(theta) = b*cos(5*theta) + a for one point (a, b) drawn
uniformly from a_range x b_range (see /work/shared/reference/polar.md for the original work).

Rows, in index order:
- 0 .. n_points-1: the random points, in the order the seeded generator drew them.
- n_points ..: the transects P1, P2, P3, transect_points rows each, endpoints included. All three
  are chords of the (a, b) domain through the hole centre: P1 along b (a = centre a), P2 along a
  (b = centre b) and P3 along the domain's falling diagonal direction; with the defaults they are
  the original (1.25, 0)->(1.25, 2), (0.5, 1)->(2, 1) and (0.5, 2)->(2, 0).

Split rule (the "split" column):
- "test": the LAST n_test random points, exactly n_test rows whether or not they fall in the hole
  (their in_hole flag tells), as the original kept the tail of its list for testing.
- "hole": among the first n_points - n_test random points, those closer than hole_radius to
  hole_center; they are withheld from training.
- "train": the rest of those first n_points - n_test random points.
- "P1", "P2", "P3": the transect rows.
"""

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from datagen.spec.serialise import SpecSerialisation
from zsdist.base.errors import ConfigError

TRANSECT_NAMES = ("P1", "P2", "P3")


@dataclass(frozen=True, kw_only=True)
class PolarSpec(SpecSerialisation):
    """Every parameter of one polar dataset; the same spec always generates the same bytes."""

    n_points: int = 5000  # points (a, b) drawn uniformly from a_range x b_range, one curve image each
    seed: int = 0  # draws the points: the same seed gives the same dataset
    a_range: tuple[float, float] = (0.5, 2.0)  # a (the radius offset of r = b cos(5 theta) + a): min,max
    b_range: tuple[float, float] = (0.0, 2.0)  # b (the petal amplitude): min,max
    hole_center: tuple[float, float] = (1.25, 1.0)  # (a, b) at the centre of the region cut out of the training set
    hole_radius: float = 0.3  # points within this distance of hole_center form the hole
    n_test: int = 500  # the last points drawn: the test split
    transect_points: int = 15  # points on each of the three transects P1-P3 through the hole centre
    resolution: int = 64  # image side in pixels (64, 128 or 256)
    # Curve width in pixels at resolution 64, scaled linearly with resolution (3 px at 128, 6 at
    # 256). The original's width 2 belonged to 256 px images (and a larger plotting figure), so kept
    # relative it would be < 1 px at 64 px and the anti-aliased curve would fade into broken grey
    # dots; 1.5 px keeps it continuous and clearly lit at every resolution.
    line_width: float = 1.5
    theta_samples: int = 500  # points along each curve when it is drawn
    supersample: int = 4  # drawn at this many times the resolution, then averaged down (anti-aliasing)
    axis_limit: float = 4.0  # the plot spans [-axis_limit, axis_limit] on both axes
    shard_rows: int = 512  # images per Parquet shard

    def __post_init__(self) -> None:
        # JSON gives lists and may give 1 for 1.0: normalise so equal specs have equal fingerprints.
        for name in ("a_range", "b_range", "hole_center"):
            object.__setattr__(self, name, _float_pair(name, getattr(self, name)))
        _validate(self)
        for name in ("hole_radius", "line_width", "axis_limit"):
            object.__setattr__(self, name, float(getattr(self, name)))

    @property
    def total_rows(self) -> int:
        """Random points plus the three transects."""
        return self.n_points + len(TRANSECT_NAMES) * self.transect_points


def _float_pair(name: str, value) -> tuple[float, float]:
    try:
        low, high = value
        return float(low), float(high)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{name} must be a pair of numbers (got {value!r}): pass two comma-separated values such as 0.5,2.0"
        ) from None


def _flag(name: str) -> str:
    """The CLI flag of a field (`zsdist datagen polar --n_points 200`)."""
    return "--" + name


# The smallest value each integer field accepts.
_INT_MINIMUMS = {"n_points": 1, "seed": 0, "n_test": 0, "transect_points": 2, "resolution": 16,
                 "theta_samples": 3, "supersample": 1, "shard_rows": 1}


def _validate(spec: PolarSpec) -> None:
    for name, minimum in _INT_MINIMUMS.items():
        value = getattr(spec, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer (got {value!r}): pass {_flag(name)} as a whole number")
        if value < minimum:
            raise ConfigError(f"{name} must be >= {minimum} (got {value}): pass {_flag(name)} {minimum} or more")
    if spec.n_test > spec.n_points:
        raise ConfigError(
            f"n_test ({spec.n_test}) exceeds n_points ({spec.n_points}): pass --n_test {spec.n_points} or less"
        )
    for name in ("hole_radius", "line_width", "axis_limit"):
        value = getattr(spec, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{name} must be a number > 0 (got {value!r}): pass a positive {_flag(name)}")
    for name in ("a_range", "b_range"):
        low, high = getattr(spec, name)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ConfigError(
                f"{name} low must be below high (got {low}, {high}): pass {_flag(name)} LOW,HIGH with LOW < HIGH"
            )
    (a_low, a_high), (b_low, b_high), (a, b) = spec.a_range, spec.b_range, spec.hole_center
    if not (a_low <= a <= a_high and b_low <= b <= b_high):
        raise ConfigError(
            f"hole_center ({a}, {b}) lies outside the domain a in [{a_low}, {a_high}], b in [{b_low}, {b_high}]: "
            "pass a --hole_center A,B inside it"
        )


def sample_points(spec: PolarSpec) -> tuple[np.ndarray, np.ndarray]:
    """The n_points random (a, b), uniform on the ranges, from np.random.default_rng(spec.seed)."""
    rng = np.random.default_rng(spec.seed)
    a = rng.uniform(*spec.a_range, size=spec.n_points)
    b = rng.uniform(*spec.b_range, size=spec.n_points)
    return a, b


def transects(spec: PolarSpec) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, a, b) of P1, P2, P3: transect_points evenly spaced points, endpoints included."""
    a_span = spec.a_range[1] - spec.a_range[0]
    b_span = spec.b_range[1] - spec.b_range[0]
    directions = {"P1": (0.0, 1.0), "P2": (1.0, 0.0), "P3": (a_span, -b_span)}
    result = []
    for name in TRANSECT_NAMES:
        (a0, b0), (a1, b1) = _chord_through_hole_center(spec, directions[name])
        points = spec.transect_points
        result.append((name, np.linspace(a0, a1, points), np.linspace(b0, b1, points)))
    return result


def _chord_through_hole_center(
    spec: PolarSpec, direction: tuple[float, float]
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Where the line through the hole centre along `direction` enters and leaves the domain box."""
    center = spec.hole_center
    t_low, t_high = -np.inf, np.inf
    for axis, (low, high) in enumerate((spec.a_range, spec.b_range)):
        if direction[axis] != 0:
            t_a, t_b = sorted(((low - center[axis]) / direction[axis], (high - center[axis]) / direction[axis]))
            t_low, t_high = max(t_low, t_a), min(t_high, t_b)
    return tuple(
        (float(center[0] + t * direction[0]), float(center[1] + t * direction[1])) for t in (t_low, t_high)
    )


def rows(spec: PolarSpec) -> pa.Table:
    """The attribute table of every row in index order: index, a, b, hole_distance, in_hole, split."""
    a, b = sample_points(spec)
    n_fit = spec.n_points - spec.n_test
    split = np.where(np.arange(spec.n_points) < n_fit, "train", "test").astype(object)
    for name, transect_a, transect_b in transects(spec):
        a = np.concatenate([a, transect_a])
        b = np.concatenate([b, transect_b])
        split = np.concatenate([split, np.full(spec.transect_points, name, dtype=object)])
    hole_distance = np.hypot(a - spec.hole_center[0], b - spec.hole_center[1])
    in_hole = hole_distance < spec.hole_radius
    split[:n_fit][in_hole[:n_fit]] = "hole"
    return pa.table(
        {
            "index": pa.array(np.arange(len(a), dtype=np.int64)),
            "a": pa.array(a, pa.float64()),
            "b": pa.array(b, pa.float64()),
            "hole_distance": pa.array(hole_distance, pa.float64()),
            "in_hole": pa.array(in_hole, pa.bool_()),
            "split": pa.array(split.tolist(), pa.string()),
        }
    )


def shard_ranges(spec: PolarSpec) -> list[tuple[int, int]]:
    """Contiguous [start, stop) blocks of shard_rows over all rows (random points, then transects)."""
    total = spec.total_rows
    return [(start, min(start + spec.shard_rows, total)) for start in range(0, total, spec.shard_rows)]
