"""Per-image quality scores (MSE, PSNR, SSIM) for reconstructions and zero-shot syntheses.

Images are torch tensors in [-1, 1] (the models' output range) of shape (N, C, H, W). Every score
is computed on the [0, 1] scale, so PSNR and SSIM use a peak value L = 1 and are comparable with
numbers reported for 8-bit images divided by 255. Scores come back per image, shape (N,), float64;
the overall PSNR a run reports is the mean of the per-image PSNRs (not the PSNR of the mean MSE),
so one badly reconstructed image cannot hide behind many good ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MSE_FLOOR = 1e-10  # caps PSNR at 100 dB for identical images instead of returning +inf
SSIM_K1 = 0.01  # constants of Wang et al. 2004, with dynamic range L = 1
SSIM_K2 = 0.03
SSIM_BATCH = 256  # images per SSIM step: bounds the five float64 filter maps held in memory at once


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Map [-1, 1] to [0, 1], clamping values the model put outside the range."""
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.ndim != 4 or pred.shape != target.shape or pred.shape[0] == 0:
        raise ValueError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)}: need one non-empty (N, C, H, W) shape"
        )


def per_image_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image on the [0, 1] scale, shape (N,), float64."""
    _check_pair(pred, target)
    diff = to_unit(pred).double() - to_unit(target).double()
    return diff.pow(2).flatten(1).mean(dim=1)


def psnr_from_mse(mse: torch.Tensor, max_value: float = 1.0) -> torch.Tensor:
    """PSNR in dB, 10 log10(max² / mse), with mse floored at 1e-10 so it stays finite (≤ 100 dB at max 1)."""
    mse = torch.as_tensor(mse, dtype=torch.float64)
    return 10.0 * torch.log10(max_value**2 / mse.clamp_min(MSE_FLOOR))


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    profile = torch.exp(-(coords**2) / (2.0 * sigma**2))
    profile = profile / profile.sum()
    return torch.outer(profile, profile)


def per_image_ssim(pred: torch.Tensor, target: torch.Tensor, window: int = 7, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity per image on the [0, 1] scale, shape (N,), float64.

    SSIM of Wang et al. 2004 with a Gaussian window (K1 = 0.01, K2 = 0.03, L = 1), each channel
    filtered on its own by a depthwise conv2d. Only the 'valid' region is scored: no padding, so no
    invented border pixels pull the score towards the padding value; the SSIM map is then averaged
    over channels and pixels. The default 7x7 window (rather than the paper's 11x11) keeps most
    pixels of the small 32-64 px images this project uses. When an image is smaller than the window,
    the window shrinks to min(window, H, W) with the same sigma, so even 1x1 images get a score.
    """
    _check_pair(pred, target)
    if window < 1 or sigma <= 0:
        raise ValueError(f"window={window}, sigma={sigma}: need window >= 1 and sigma > 0")
    _, channels, height, width = pred.shape
    size = min(window, height, width)
    kernel = _gaussian_window(size, sigma).expand(channels, 1, size, size).contiguous()
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    scores = []
    for start in range(0, pred.shape[0], SSIM_BATCH):
        x = to_unit(pred[start : start + SSIM_BATCH]).double()
        y = to_unit(target[start : start + SSIM_BATCH]).double()
        # One convolution pass for all five local statistics.
        stats = F.conv2d(torch.cat([x, y, x * x, y * y, x * y]), kernel, groups=channels)
        mu_x, mu_y, xx, yy, xy = stats.chunk(5)
        var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
        ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
        scores.append(ssim_map.flatten(1).mean(dim=1))
    return torch.cat(scores)


def image_quality(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image {"mse", "psnr", "ssim"}, each shape (N,) float64; report PSNR as the mean of "psnr"."""
    mse = per_image_mse(pred, target)
    return {"mse": mse, "psnr": psnr_from_mse(mse), "ssim": per_image_ssim(pred, target)}
