"""GZS-Net evaluation parts on small hand-made data: image metrics, co-prediction probes, PNG writers (no Ray)."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from zsdist.base.errors import ConfigError
from zsdist.eval.image_metrics import image_quality, per_image_mse, per_image_ssim, psnr_from_mse, to_unit
from zsdist.methods.gzsnet.coprediction import ProbeConfig, coprediction_matrix, diagonal_summary, normalised_accuracy
from zsdist.methods.gzsnet.plots import coprediction_heatmap_png, image_grid_png, to_uint8


def _images(n: int, c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# --- image metrics -------------------------------------------------------------------------------


def test_identical_images_score_perfectly():
    images = _images(3, 3, 32, 32)
    scores = image_quality(images, images.clone())
    assert set(scores) == {"mse", "psnr", "ssim"}
    assert all(value.shape == (3,) and value.dtype == torch.float64 for value in scores.values())
    torch.testing.assert_close(scores["mse"], torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(scores["psnr"], torch.full((3,), 100.0, dtype=torch.float64))
    torch.testing.assert_close(scores["ssim"], torch.ones(3, dtype=torch.float64))


def test_constant_offset_gives_hand_computed_mse_and_psnr():
    target = _images(2, 3, 8, 8) * 0.9 - 0.1  # in [-1, 0.8], so +0.2 is not clamped
    mse = per_image_mse(target + 0.2, target)  # 0.2 on [-1, 1] is 0.1 on [0, 1]
    torch.testing.assert_close(mse, torch.full((2,), 0.01, dtype=torch.float64))
    torch.testing.assert_close(psnr_from_mse(mse), torch.full((2,), 20.0, dtype=torch.float64))
    assert psnr_from_mse(torch.tensor([0.25]), max_value=0.5).item() == pytest.approx(0.0)


def test_values_outside_the_range_are_clamped():
    assert to_unit(torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0])).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert per_image_mse(torch.full((1, 1, 4, 4), 3.0), torch.ones(1, 1, 4, 4)).item() == 0.0


def test_ssim_of_two_flat_images_matches_the_formula():
    # No variance, so only the luminance term is left: (2ab + C1) / (a² + b² + C1).
    a, b, c1 = 0.25, 0.75, 0.01**2
    ssim = per_image_ssim(torch.full((1, 3, 16, 16), 2 * a - 1), torch.full((1, 3, 16, 16), 2 * b - 1))
    assert ssim.item() == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-9)


def test_ssim_falls_with_noise_and_is_symmetric():
    clean = _images(4, 3, 32, 32)
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    slightly, badly = clean + 0.05 * noise, clean + 0.5 * noise
    high, low = per_image_ssim(slightly, clean), per_image_ssim(badly, clean)
    assert bool((high < 1).all()) and bool((low < high).all())
    torch.testing.assert_close(per_image_ssim(clean, badly), low)


@pytest.mark.parametrize("size", [32, 8, 5, 1])
def test_ssim_handles_images_smaller_than_the_window(size):
    images = _images(2, 1, size, size)
    noisy = images + 0.3 * torch.randn(images.shape, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(per_image_ssim(images, images), torch.ones(2, dtype=torch.float64))
    scores = per_image_ssim(noisy, images)
    assert scores.shape == (2,) and bool(torch.isfinite(scores).all()) and bool((scores < 1).all())


def test_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        per_image_mse(_images(2, 3, 8, 8), _images(2, 3, 8, 9))
    with pytest.raises(ValueError, match="shape"):
        per_image_ssim(_images(2, 3, 8, 8)[0], _images(2, 3, 8, 8)[0])


# --- co-prediction -------------------------------------------------------------------------------

NUM_VALUES = {"shape": 3, "colour": 5, "size": 4}
CHUNKS = {"shape": slice(0, 4), "colour": slice(4, 8), "size": slice(8, 12)}


def _latents(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Chunk i holds a fixed code of attribute i's label plus noise, and nothing of the others."""
    codes = [np.random.default_rng(100 + j).normal(size=(k, 4)) for j, k in enumerate(NUM_VALUES.values())]
    rng = np.random.default_rng(seed)
    labels = np.stack([rng.integers(0, k, rows) for k in NUM_VALUES.values()], axis=1)
    z = np.concatenate([codes[j][labels[:, j]] for j in range(len(codes))], axis=1)
    return (z + 0.1 * rng.normal(size=z.shape)).astype(np.float32), labels


def _matrix(config: ProbeConfig) -> np.ndarray:
    (train_z, train_labels), (test_z, test_labels) = _latents(1500, seed=0), _latents(600, seed=1)
    return coprediction_matrix(train_z, train_labels, test_z, test_labels, CHUNKS, NUM_VALUES, config)


def test_coprediction_finds_each_attribute_in_its_own_chunk_only():
    matrix = _matrix(ProbeConfig(epochs=100))
    assert matrix.shape == (3, 3)
    assert np.diag(matrix).min() > 0.95
    chance = np.array([1 / k for k in NUM_VALUES.values()])
    off_diagonal = ~np.eye(3, dtype=bool)
    assert np.abs(matrix - chance)[off_diagonal].max() < 0.12
    summary = diagonal_summary(normalised_accuracy(matrix, NUM_VALUES))
    assert summary["diagonal_mean"] > 0.9 and summary["off_diagonal_mean"] < 0.2


def test_coprediction_is_deterministic_for_one_seed():
    config = ProbeConfig(epochs=20, seed=3)
    np.testing.assert_array_equal(_matrix(config), _matrix(config))


def test_coprediction_rejects_labels_out_of_range():
    z, labels = _latents(50, seed=0)
    labels[0, 1] = NUM_VALUES["colour"]
    with pytest.raises(ValueError, match="outside"):
        coprediction_matrix(z, labels, z, labels, CHUNKS, NUM_VALUES, ProbeConfig(epochs=1))


@pytest.mark.parametrize("field, value", [("epochs", 0), ("lr", 0.0), ("weight_decay", -1e-3)])
def test_probe_config_rejects_impossible_values(field, value):
    with pytest.raises(ConfigError, match=field):
        ProbeConfig(**{field: value})


def test_normalised_accuracy_and_diagonal_summary_by_hand():
    matrix = np.array([[0.5, 1.0], [0.75, 0.25]])
    normalised = normalised_accuracy(matrix, {"a": 2, "b": 4})
    np.testing.assert_allclose(normalised, [[0.0, 1.0], [0.5, 0.0]])
    assert diagonal_summary(normalised) == {"diagonal_mean": 0.0, "off_diagonal_mean": 0.75}
    with pytest.raises(ValueError, match="square"):
        diagonal_summary(np.zeros((2, 3)))


# --- PNG writers ---------------------------------------------------------------------------------


def test_coprediction_heatmap_is_a_png_that_grows_with_the_matrix(tmp_path):
    small = coprediction_heatmap_png(tmp_path / "small.png", np.eye(2), ["c0", "c1"], ["a0", "a1"], "small")
    wide = coprediction_heatmap_png(
        tmp_path / "sub" / "wide.png", np.full((2, 5), 0.3), ["c0", "c1"], [f"a{j}" for j in range(5)], "wide"
    )
    with Image.open(small) as a, Image.open(wide) as b:
        assert a.format == b.format == "PNG"
        assert b.width > a.width and b.height == a.height
    with pytest.raises(ValueError, match="chunks, attributes"):
        coprediction_heatmap_png(tmp_path / "bad.png", np.eye(2), ["c0"], ["a0", "a1"], "bad")


def test_to_uint8_maps_the_range_and_moves_channels_last():
    images = torch.tensor([-1.0, 0.0, 1.0, 2.0]).reshape(1, 1, 2, 2).expand(1, 3, 2, 2)
    pixels = to_uint8(images)
    assert pixels.dtype == np.uint8 and pixels.shape == (1, 2, 2, 3)
    assert pixels[0, :, :, 2].tolist() == [[0, 128], [255, 255]]
    np.testing.assert_array_equal(to_uint8(images.numpy()), pixels)


def _rows(count: int, n: int, h: int, w: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8) for _ in range(count)]


def test_image_grid_is_exact_pixels_scaled_by_a_whole_factor(tmp_path):
    rows, scale = _rows(2, 3, 32, 24), math.ceil(96 / 32)
    path = image_grid_png(tmp_path / "grid.png", rows, ["input", "swap"], ["a", "b", "c"], "swap grid")
    with Image.open(path) as picture:
        assert picture.text["Title"] == "swap grid"
        pixels = np.asarray(picture.convert("RGB"))
    cell_h, cell_w = 32 * scale, 24 * scale
    # The grid sits in the bottom-right corner, right of the row titles and below the column titles.
    assert pixels.shape[0] > 2 * cell_h + 2 and pixels.shape[1] > 3 * cell_w + 2 * 2
    expected = rows[1][2].repeat(scale, axis=0).repeat(scale, axis=1)
    np.testing.assert_array_equal(pixels[-cell_h:, -cell_w:], expected)
    separator = pixels[-cell_h:, -cell_w - 2 : -cell_w]
    assert (separator == 128).all()
    np.testing.assert_array_equal(pixels[-cell_h:, -2 * cell_w - 2 : -cell_w - 2], rows[1][1].repeat(3, 0).repeat(3, 1))

    untitled = image_grid_png(tmp_path / "plain.png", rows, ["input", "swap"], None, "plain")
    with Image.open(untitled) as plain:
        assert plain.width == pixels.shape[1] and plain.height < pixels.shape[0]


def test_large_images_are_not_scaled(tmp_path):
    path = image_grid_png(tmp_path / "big.png", _rows(1, 2, 100, 100), ["only"], None, "big")
    with Image.open(path) as picture:
        assert picture.height < 2 * 100 and picture.width > 2 * 100 + 2


@pytest.mark.parametrize(
    "rows, row_titles, column_titles",
    [
        ([], [], None),  # nothing to draw
        (_rows(2, 3, 8, 8), ["one"], None),  # a row without a title
        (_rows(1, 3, 8, 8) + _rows(1, 3, 8, 9), ["a", "b"], None),  # rows of different shapes
        ([_rows(1, 3, 8, 8)[0][..., :1]], ["a"], None),  # not RGB
        ([_rows(1, 3, 8, 8)[0].astype(np.float32)], ["a"], None),  # not uint8
        (_rows(1, 3, 8, 8), ["a"], ["x", "y"]),  # column titles do not match the columns
    ],
)
def test_image_grid_rejects_bad_shapes(tmp_path, rows, row_titles, column_titles):
    with pytest.raises(ValueError):
        image_grid_png(tmp_path / "bad.png", rows, row_titles, column_titles, "bad")
    assert not (tmp_path / "bad.png").exists()
