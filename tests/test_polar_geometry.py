"""The polar dataset's geometry and bookkeeping: curve pixels, hole, splits, transects, seeds."""

import itertools

import numpy as np
import pytest
from scipy.spatial import cKDTree

from datagen.render.polar import curve_xy, render_curve, render_rows, to_pixel
from datagen.spec.polar import PolarSpec, rows, sample_points, shard_ranges, transects

SMALL = PolarSpec(n_points=200, n_test=20, shard_rows=64)


def _curve_pixels(a: float, b: float, spec: PolarSpec) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of the pixel each sampled curve point falls in."""
    column, row = to_pixel(*curve_xy(a, b, spec), spec.resolution, spec.axis_limit)
    return np.floor(row).astype(int), np.floor(column).astype(int)


@pytest.mark.parametrize("resolution", [64, 128, 256])
def test_pixels_on_the_curve_are_lit_and_far_pixels_are_dark(resolution):
    spec = PolarSpec(n_points=6, n_test=0, resolution=resolution)
    # The smallest circle, petals through the origin, and petals reaching almost to the border (r <= 3.9).
    corners = [(0.5, 0.0), (0.5, 2.0), (2.0, 1.9)]
    for a, b in [*zip(*sample_points(spec)), *corners]:
        image = render_curve(a, b, spec)
        assert image.shape == (resolution, resolution) and image.dtype == np.uint8
        row, column = _curve_pixels(a, b, spec)
        # Every sampled point's pixel is clearly lit (the line is >= 1.5 px wide, anti-aliased).
        assert image[row, column].min() >= 32, (a, b)
        assert np.median(image[row, column]) >= 64, (a, b)
        # Pixels whose centre is clearly beyond the line's half-width stay black.
        half_width = spec.line_width * resolution / 64 / 2
        assert image[_distance_to_curve(a, b, spec) > half_width + 1.0].max() == 0, (a, b)


def _distance_to_curve(a: float, b: float, spec: PolarSpec) -> np.ndarray:
    """Distance in pixels from each pixel centre to the curve (densely sampled)."""
    theta = np.linspace(0, 2 * np.pi, 20_000, endpoint=False)
    radius = b * np.cos(5 * theta) + a
    column, row = to_pixel(radius * np.cos(theta), radius * np.sin(theta), spec.resolution, spec.axis_limit)
    centres = np.arange(spec.resolution) + 0.5
    grid_column, grid_row = np.meshgrid(centres, centres)
    tree = cKDTree(np.column_stack([column, row]))
    distance, _ = tree.query(np.column_stack([grid_column.ravel(), grid_row.ravel()]))
    return distance.reshape(spec.resolution, spec.resolution)


def test_curve_geometry_known_shapes():
    spec = PolarSpec(n_points=10, n_test=0, resolution=64)
    # b = 0: a circle of radius a; its centre (origin) is dark, its rightmost point lit.
    circle = render_curve(1.0, 0.0, spec)
    assert circle[31:33, 31:33].max() == 0
    assert circle[31:33, 40].min() > 64  # x = 1.0 -> column 40 at 8 px per unit.
    # Negative radius goes through the origin: a = 0.5, b = 2 has petals crossing the centre.
    assert render_curve(0.5, 2.0, spec)[31:33, 31:33].max() > 64
    # The curve is mirror-symmetric in y but not in x: theta = 0 gives r = a + b (x = +2 -> column 48),
    # theta = 180 deg gives r = a - b (x = -1 -> column 24), and nothing reaches x = -2 (column 16).
    petals = render_curve(1.5, 0.5, spec)
    assert petals[31:33, 47:49].max() > 64 and petals[31:33, 23:25].max() > 64
    assert petals[28:36, 14:18].max() == 0


def test_rendering_is_deterministic():
    assert np.array_equal(render_curve(1.1, 0.7, SMALL), render_curve(1.1, 0.7, SMALL))
    assert render_rows(SMALL, 0, 10).equals(render_rows(SMALL, 0, 10))


def test_hole_membership_matches_distance_to_centre():
    table = rows(PolarSpec())
    a, b = table["a"].to_numpy(), table["b"].to_numpy()
    distance = np.hypot(a - 1.25, b - 1.0)
    assert np.allclose(table["hole_distance"].to_numpy(), distance)
    assert np.array_equal(table["in_hole"].to_numpy(zero_copy_only=False), distance < 0.3)
    split = np.array(table["split"].to_pylist())
    assert (distance[split == "hole"] < 0.3).all() and (distance[split == "train"] >= 0.3).all()
    # The hole is ~9.4% of the domain: the 4500 non-test points put a few hundred in it.
    assert 300 < (split == "hole").sum() < 550


@pytest.mark.parametrize("spec", [PolarSpec(), SMALL, PolarSpec(n_points=50, n_test=50, transect_points=2)])
def test_split_counts(spec):
    table = rows(spec)
    split = np.array(table["split"].to_pylist())
    assert table.num_rows == spec.n_points + 3 * spec.transect_points
    assert table["index"].to_pylist() == list(range(table.num_rows))
    assert (split == "test").sum() == spec.n_test
    assert (split[spec.n_points - spec.n_test : spec.n_points] == "test").all()
    assert (split == "train").sum() + (split == "hole").sum() == spec.n_points - spec.n_test
    for name in ("P1", "P2", "P3"):
        assert (split == name).sum() == spec.transect_points
    assert split[spec.n_points :].tolist() == [p for p in ("P1", "P2", "P3") for _ in range(spec.transect_points)]


def test_transects_are_the_original_chords_through_the_hole_centre():
    expected = {"P1": ((1.25, 0.0), (1.25, 2.0)), "P2": ((0.5, 1.0), (2.0, 1.0)), "P3": ((0.5, 2.0), (2.0, 0.0))}
    for name, a, b in transects(PolarSpec()):
        assert len(a) == len(b) == 15
        assert (a[0], b[0]) == pytest.approx(expected[name][0]) and (a[-1], b[-1]) == pytest.approx(expected[name][1])
        assert np.allclose(np.diff(a), np.diff(a)[0]) and np.allclose(np.diff(b), np.diff(b)[0])
        assert (a[7], b[7]) == pytest.approx((1.25, 1.0))  # The middle point is the hole centre.


def test_transects_follow_an_off_centre_hole():
    spec = PolarSpec(hole_center=(0.9, 0.5), hole_radius=0.2)
    for name, a, b in transects(spec):
        # Collinear with the centre, and the centre lies between the endpoints.
        cross = (a[-1] - a[0]) * (0.5 - b[0]) - (b[-1] - b[0]) * (0.9 - a[0])
        assert cross == pytest.approx(0.0, abs=1e-12), name
        assert min(a) <= 0.9 <= max(a) and min(b) <= 0.5 <= max(b), name
        assert (0.5 <= a).all() and (a <= 2.0).all() and (0.0 <= b).all() and (b <= 2.0).all(), name


def test_same_seed_same_points_other_seed_other_points():
    first, again = sample_points(SMALL), sample_points(PolarSpec(n_points=200, n_test=20, shard_rows=64))
    other = sample_points(PolarSpec(n_points=200, n_test=20, seed=1))
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.allclose(first[0], other[0]) and not np.allclose(first[1], other[1])
    a, b = first
    assert a.dtype == np.float64 and (0.5 <= a).all() and (a <= 2.0).all() and (0.0 <= b).all() and (b <= 2.0).all()


def test_shard_ranges_cover_every_row_once():
    ranges = shard_ranges(SMALL)
    assert ranges[0][0] == 0 and ranges[-1][1] == SMALL.total_rows == 245
    assert all(stop == next_start for (_, stop), (next_start, _) in itertools.pairwise(ranges))
    assert [stop - start for start, stop in ranges] == [64, 64, 64, 53]


def test_spec_round_trips_and_fingerprints():
    spec = PolarSpec(seed=3, resolution=128)
    assert PolarSpec.from_dict(spec.to_dict()) == spec
    assert spec.to_dict()["a_range"] == [0.5, 2.0]
    assert spec.fingerprint() == PolarSpec.from_dict(spec.to_dict()).fingerprint()
    assert spec.fingerprint() != PolarSpec(seed=4, resolution=128).fingerprint()
    assert PolarSpec(hole_radius=1).fingerprint() == PolarSpec(hole_radius=1.0).fingerprint()
