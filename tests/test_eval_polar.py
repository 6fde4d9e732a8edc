"""Polar hole metrics and plots on small hand-made arrays (no Ray, no torch)."""

import math

import numpy as np
import pytest
from PIL import Image

from zsdist.eval.figures import DPI
from zsdist.methods.polar_vae.metrics import (
    KNOWN_SPLITS,
    binned,
    default_distance_edges,
    dice,
    latent_r2,
    nearest_neighbour,
    pixel_mse,
    summarise_polar,
)
from zsdist.methods.polar_vae.plots import (
    FIGSIZE_IN,
    SCATTER_FIGSIZE_IN,
    error_by_distance_png,
    latent_scatter_png,
    transect_strip_png,
)


def _curve(h: int, w: int, rows: slice) -> np.ndarray:
    image = np.zeros((h, w))
    image[rows, 1] = 1.0
    return image


def test_pixel_mse_exact_on_hand_made_images():
    images = np.zeros((2, 2, 2))
    recons = np.zeros((2, 2, 2))
    recons[0, 0, 0] = 1.0  # one wrong pixel out of 4
    recons[1] = 0.5  # every pixel off by 0.5
    np.testing.assert_allclose(pixel_mse(images, recons), [0.25, 0.25])
    with pytest.raises(ValueError):
        pixel_mse(images, recons[:1])


def test_dice_identical_disjoint_partial_and_empty():
    a = _curve(4, 4, slice(0, 2))  # 2 pixels
    b = _curve(4, 4, slice(2, 4))  # 2 other pixels
    c = _curve(4, 4, slice(0, 4))  # 4 pixels, containing a
    empty = np.zeros((4, 4))
    images = np.stack([a, a, a, empty, empty])
    recons = np.stack([a, b, c, empty, a])
    np.testing.assert_allclose(dice(images, recons), [1.0, 0.0, 2 * 2 / 6, 1.0, 0.0])


def test_dice_threshold_is_strict():
    image = np.full((1, 1, 2), 0.5)
    assert dice(image, np.zeros_like(image))[0] == 1.0  # 0.5 is not strictly above 0.5: both empty
    assert dice(image, image, threshold=0.4)[0] == 1.0
    assert dice(image, np.zeros_like(image), threshold=0.4)[0] == 0.0


@pytest.mark.parametrize("chunk", [1, 7, 10, 256])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nearest_neighbour_matches_brute_force(chunk, dtype):
    rng = np.random.default_rng(1)
    train = rng.random((23, 5, 6)).astype(dtype)
    queries = rng.random((20, 5, 6)).astype(dtype)  # 20 rows: chunk 7 leaves a short last chunk
    diff = queries[:, None].astype(np.float64) - train[None].astype(np.float64)
    brute = (diff**2).mean(axis=(2, 3))
    indices, mse = nearest_neighbour(queries, train, chunk=chunk)
    np.testing.assert_array_equal(indices, brute.argmin(axis=1))
    np.testing.assert_allclose(mse, brute.min(axis=1), rtol=0, atol=1e-12)


def test_nearest_neighbour_finds_planted_copy():
    rng = np.random.default_rng(2)
    train = rng.random((50, 8, 8))
    queries = train[[41, 3, 17]] + 1e-3
    indices, mse = nearest_neighbour(queries, train, chunk=2)
    np.testing.assert_array_equal(indices, [41, 3, 17])
    np.testing.assert_allclose(mse, 1e-6, rtol=1e-9)
    with pytest.raises(ValueError):
        nearest_neighbour(queries, train[:0])


def test_binned_counts_add_up_and_empty_bins_are_nan():
    values = np.array([1.0, 3.0, 10.0, 5.0, 7.0])
    distances = np.array([0.0, 0.05, 0.5, 0.95, 1.0])
    bins = binned(values, distances, [0.0, 0.1, 0.2, 1.0])
    assert [b["n"] for b in bins] == [2, 0, 3]  # last bin closed: 1.0 counts
    assert sum(b["n"] for b in bins) == len(values)
    assert bins[0]["mean"] == 2.0 and bins[0]["std"] == 1.0
    assert math.isnan(bins[1]["mean"]) and math.isnan(bins[1]["std"])
    assert (bins[2]["lo"], bins[2]["hi"]) == (0.2, 1.0)
    with pytest.raises(ValueError):
        binned(values, distances, [0.0, 0.0, 1.0])


def test_default_distance_edges_put_the_radius_on_an_edge():
    edges = default_distance_edges(0.3)
    assert edges[0] == 0.0 and edges[-1] == math.inf and np.all(np.diff(edges) > 0)
    assert 0.3 in edges
    assert sum(edges < 0.3) == 3  # three bins inside the hole


def test_latent_r2_linear_map_is_one_and_noise_is_not():
    rng = np.random.default_rng(3)
    train_mu = rng.normal(size=(200, 3))
    mix = np.array([[0.5, -1.0], [2.0, 0.3], [-0.7, 0.1]])
    train_ab = train_mu @ mix + [1.25, 1.0]
    test_mu = rng.normal(size=(50, 3))
    noise_mu = rng.normal(size=(50, 3))
    noise_ab = rng.uniform(size=(50, 2))
    eval_sets = {
        "inside": (test_mu, test_mu @ mix + [1.25, 1.0]),
        "outside": (noise_mu, noise_ab),
        "one": (test_mu[:1], train_ab[:1]),
    }
    scores = latent_r2(train_mu, train_ab, eval_sets)
    assert scores["inside"]["r2_a"] == pytest.approx(1.0)
    assert scores["inside"]["r2_mean"] == pytest.approx(1.0)
    assert scores["inside"]["n"] == 50
    assert scores["outside"]["r2_a"] < 0.1 and scores["outside"]["r2_b"] < 0.1
    assert all(math.isnan(scores["one"][k]) for k in ("r2_a", "r2_b", "r2_mean"))


def test_latent_r2_constant_target_is_nan_and_mean_uses_the_rest():
    mu = np.linspace(0, 1, 10)[:, None]
    ab = np.column_stack([np.full(10, 1.25), 2 * mu[:, 0]])  # like transect P1: a is constant
    scores = latent_r2(mu, ab, {"P1": (mu, ab)})["P1"]
    assert math.isnan(scores["r2_a"])
    assert scores["r2_b"] == pytest.approx(1.0) and scores["r2_mean"] == pytest.approx(1.0)


def _small_case():
    # rows: train, hole x2, test (outside the hole) x2, P1 in the hole, P1 outside it
    return {
        "mse": np.array([0.0, 0.2, 0.4, 0.1, 0.3, 0.6, 0.9]),
        "dice": np.array([1.0, 0.5, 0.7, 0.9, 0.8, 0.3, 0.2]),
        "nn_mse": np.array([0.0, 0.3, 0.3, 0.2, 0.2, 0.5, 1.0]),
        "nn_dice": np.array([1.0, 0.4, 0.4, 0.6, 0.6, 0.1, 0.1]),
        "in_hole": np.array([False, True, True, False, False, True, False]),
        "hole_distance": np.array([0.8, 0.05, 0.25, 0.5, 1.0, 0.15, 0.45]),
        "split": np.array(["train", "hole", "hole", "test", "test", "P1", "P1"]),
    }


def test_summarise_polar_inside_outside_means():
    m = summarise_polar(**_small_case())
    assert m["n_inside"] == 3  # two hole rows + the P1 row in the hole
    assert m["mse_inside"] == pytest.approx(0.4)  # (0.2 + 0.4 + 0.6) / 3
    assert m["dice_inside"] == pytest.approx(0.5)  # (0.5 + 0.7 + 0.3) / 3
    assert m["nn_mse_inside"] == pytest.approx(1.1 / 3)
    assert m["mse_inside_minus_nn"] == pytest.approx(0.4 - 1.1 / 3)
    assert m["mse_beats_nn_frac_inside"] == pytest.approx(1 / 3)  # only 0.2 < 0.3
    assert m["n_outside"] == 2  # the test rows; neither train nor the P1 row outside
    assert m["mse_outside"] == pytest.approx(0.2)
    assert m["dice_outside"] == pytest.approx(0.85)
    assert m["nn_dice_outside"] == pytest.approx(0.6)
    assert m["mse_ratio_inside_outside"] == pytest.approx(2.0)
    assert m["mse_P1"] == pytest.approx(0.75) and m["n_train"] == 1
    assert m["n_P3"] == 0 and math.isnan(m["mse_P3"])


def test_summarise_polar_bins_and_names():
    m = summarise_polar(**_small_case(), hole_radius=0.3)
    n_bins = len(default_distance_edges(0.3)) - 1
    assert sum(m[f"n_bin{k}"] for k in range(n_bins)) == m["n_inside"] + m["n_outside"]
    assert m["n_bin0"] == 1 and m["mse_bin0"] == pytest.approx(0.2)  # distance 0.05 < 0.1
    assert m["n_bin1"] == 1 and m["mse_bin1"] == pytest.approx(0.6)  # 0.15
    assert m["n_bin2"] == 1 and m["mse_bin2"] == pytest.approx(0.4)  # 0.25
    scores = ("mse", "dice", "nn_mse", "nn_dice", "n")
    per_split = [f"{s}_{split}" for s in scores for split in KNOWN_SPLITS]
    assert set(per_split) <= set(m)
    assert all(isinstance(v, float) for v in m.values())
    assert all(all(c.isalnum() or c in "_-./" for c in name) for name in m)


def test_summarise_polar_latent_and_bad_names():
    latent = {"inside": {"r2_a": 0.5, "r2_b": 0.7, "r2_mean": 0.6, "n": 3.0}}
    m = summarise_polar(**_small_case(), latent_r2_by_set=latent)
    assert m["latent_r2_a_inside"] == 0.5 and m["latent_r2_mean_inside"] == 0.6
    case = _small_case()
    case["split"] = case["split"].copy()
    case["split"][3] = "bad split"
    with pytest.raises(ValueError, match="MLflow"):
        summarise_polar(**case)
    with pytest.raises(ValueError, match="length"):
        summarise_polar(**{**_small_case(), "mse": np.zeros(3)})


def _no_temp_files(directory):
    return sorted(p.name for p in directory.iterdir())


def test_transect_strip_exact_pixels(tmp_path):
    rng = np.random.default_rng(4)
    inputs = rng.random((15, 8, 6))
    recons = rng.random((15, 8, 6))
    path = transect_strip_png(tmp_path / "p1.png", inputs, recons, "P1 (1.25,0)->(1.25,2)")
    assert path == tmp_path / "p1.png"
    with Image.open(path) as image:
        assert image.size == (15 * 6 + 14, 2 * 8 + 1)
        assert image.mode == "L"
        assert image.text["Title"] == "P1 (1.25,0)->(1.25,2)"
        pixels = np.asarray(image)
    np.testing.assert_array_equal(pixels[:8, :6], np.round(inputs[0] * 255))
    np.testing.assert_array_equal(pixels[9:, 7:13], np.round(recons[1] * 255))
    assert (pixels[8] == 128).all() and (pixels[:, 6] == 128).all()
    assert _no_temp_files(tmp_path) == ["p1.png"]


@pytest.mark.parametrize("dim", [1, 2, 3, 5])
def test_latent_scatter_png(tmp_path, dim):
    rng = np.random.default_rng(5)
    mu = rng.normal(size=(30, dim))
    in_hole = np.arange(30) % 3 == 0
    split = np.array(["train", "hole", "P1"] * 10)
    split_or_none = None if dim == 2 else split  # both legend styles
    path = latent_scatter_png(tmp_path / "latent.png", mu, in_hole, split=split_or_none)
    with Image.open(path) as image:
        assert image.size == (int(SCATTER_FIGSIZE_IN[0] * DPI), int(SCATTER_FIGSIZE_IN[1] * DPI))
    assert _no_temp_files(tmp_path) == ["latent.png"]


def test_error_by_distance_png(tmp_path):
    edges = default_distance_edges(0.3)
    distances = np.linspace(0, 1.2, 40)
    bins_model = binned(distances**2, distances, edges)
    bins_nn = binned(distances, distances, edges)
    path = error_by_distance_png(tmp_path / "sub" / "err.png", bins_model, bins_nn, "mse")
    with Image.open(path) as image:
        image.load()
        assert image.size == (int(FIGSIZE_IN[0] * DPI), int(FIGSIZE_IN[1] * DPI))
    assert _no_temp_files(tmp_path / "sub") == ["err.png"]
    with pytest.raises(ValueError):
        error_by_distance_png(tmp_path / "x.png", bins_model, bins_nn[:-1], "mse")
    assert not (tmp_path / "x.png").exists()
