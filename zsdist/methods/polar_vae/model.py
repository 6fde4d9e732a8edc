"""The conv VAE of the polar study (M. Lin, "VAE zero-shot", 2021), as a plain nn.Module.

Encoder: conv3x3 + ReLU + 2x2 max-pool blocks (64, 64, 128, 128 channels as in the original), a
linear layer to the latent mean (and, with learned sigma, the log-variance). Decoder: a linear layer
to a (C, H/8, W/8) map, three upsample + transposed-conv + batch-norm blocks, a final conv to one
channel. Outputs are logits; images are sigmoid(logits). At 256 px this is the original's ~550k
parameter budget. Loss: Bernoulli cross-entropy summed over pixels + beta * KL, plus an optional
decorrelation penalty on the latent means (experiment 2 of the original).

No distributed code here: methods/polar_vae/training.py wraps it for Ray Train.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from zsdist.base.errors import ConfigError


@dataclass(kw_only=True)
class PolarVAEConfig:
    latent_dim: int = 3  # size of the latent space
    encoder_channels: tuple[int, ...] = (64, 64, 128, 128)  # channels of the encoder's conv blocks, one per pooling
    decoder_channels: tuple[int, int, int] = (64, 32, 16)  # channels of the decoder's three up-sampling convs
    decoder_start_channels: int = 16  # the original's dense -> 32x32x16 at 256 px
    sigma: Literal["fixed", "learned"] = "fixed"  # posterior std: fixed (fixed_sigma) or learned by the encoder
    fixed_sigma: float = 0.1  # the original's constant posterior std

    def __post_init__(self) -> None:
        if self.latent_dim < 1:
            raise ConfigError(f"model.latent_dim must be >= 1 (got {self.latent_dim})")
        if not self.encoder_channels or min(self.encoder_channels) < 1:
            raise ConfigError(f"model.encoder_channels must be positive integers (got {self.encoder_channels})")
        if min(self.decoder_channels) < 1 or self.decoder_start_channels < 1:
            raise ConfigError("model.decoder_channels and model.decoder_start_channels must be positive")
        if self.sigma == "fixed" and self.fixed_sigma <= 0:
            raise ConfigError(f"model.fixed_sigma must be > 0 (got {self.fixed_sigma})")

    def check_resolution(self, resolution: int) -> None:
        """Raise if `resolution` cannot pass through the pooling and upsampling stages."""
        pools = 2 ** len(self.encoder_channels)
        if resolution % pools or resolution % 8:
            raise ConfigError(
                f"image resolution {resolution} must be divisible by {max(pools, 8)} for "
                f"{len(self.encoder_channels)} pooling stages: regenerate the data at 32, 64, 128 or 256 px"
            )


class PolarVAE(nn.Module):
    def __init__(self, config: PolarVAEConfig, resolution: int) -> None:
        super().__init__()
        config.check_resolution(resolution)
        self.config, self.resolution = config, resolution
        blocks, c_in = [], 1
        for c_out in config.encoder_channels:
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c_out
        self.encoder = nn.Sequential(*blocks, nn.Flatten())
        enc_side = resolution // 2 ** len(config.encoder_channels)
        enc_features = c_in * enc_side * enc_side
        self.to_mu = nn.Linear(enc_features, config.latent_dim)
        self.to_logvar = nn.Linear(enc_features, config.latent_dim) if config.sigma == "learned" else None

        self.dec_side = resolution // 8
        self.from_latent = nn.Linear(config.latent_dim, config.decoder_start_channels * self.dec_side**2)
        layers, c_in = [], config.decoder_start_channels
        for c_out in config.decoder_channels:
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.ConvTranspose2d(c_in, c_out, 3, padding=1),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]
            c_in = c_out
        self.decoder = nn.Sequential(*layers, nn.Conv2d(c_in, 1, 3, padding=1))

    def forward_encoder(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # x: (B, 1, R, R) in [0, 1] -> mu, logvar: (B, latent_dim)
        h = self.encoder(x)  # (B, C * (R/16)^2)
        mu = self.to_mu(h)
        if self.to_logvar is None:
            logvar = torch.full_like(mu, 2 * math.log(self.config.fixed_sigma))
        else:
            logvar = self.to_logvar(h)
        return mu, logvar

    def forward_decoder(self, z: torch.Tensor) -> torch.Tensor:
        # z: (B, latent_dim) -> logits: (B, 1, R, R)
        h = self.from_latent(z).view(-1, self.config.decoder_start_channels, self.dec_side, self.dec_side)
        return self.decoder(F.relu(h))

    def forward(
        self, x: torch.Tensor, *, generator: torch.Generator | None = None, sample: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (logits, mu, logvar); `sample=False` decodes the mean (no encoder noise)."""
        mu, logvar = self.forward_encoder(x)
        z = mu
        if sample:
            noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu + noise * torch.exp(0.5 * logvar)
        return self.forward_decoder(z), mu, logvar

    @staticmethod
    def forward_loss(
        x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
        *, decorrelation: Literal["none", "abs", "cov"] = "none",
    ) -> dict[str, torch.Tensor]:
        """Per-term losses, each averaged over the batch (the caller weights and sums them)."""
        # Summed over pixels as in the original (BCE of a 256x256 image), mean over the batch.
        recon = F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="sum") / x.shape[0]
        mu, logvar = mu.float(), logvar.float()
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1).mean()
        terms = {"recon": recon, "kl": kl}
        if decorrelation != "none":
            terms["decorrelation"] = decorrelation_penalty(mu, decorrelation)
        return terms


def decorrelation_penalty(mu: torch.Tensor, form: Literal["abs", "cov"]) -> torch.Tensor:
    """Penalty on dependence between latent means within a batch.

    "abs": the original's batch mean of |mu_i * mu_j| summed over pairs i < j (it also penalises
    the means' magnitude, not only their correlation). "cov": squared off-diagonal entries of the
    batch covariance matrix, which is zero exactly when the batch's latent means are uncorrelated.
    """
    d = mu.shape[1]
    off_diagonal = ~torch.eye(d, dtype=torch.bool, device=mu.device)
    if form == "abs":
        products = (mu.unsqueeze(2) * mu.unsqueeze(1)).abs().mean(dim=0)  # (d, d)
        return products[off_diagonal].sum() / 2
    centred = mu - mu.mean(dim=0, keepdim=True)
    cov = centred.T @ centred / max(mu.shape[0] - 1, 1)
    return cov[off_diagonal].pow(2).sum() / 2
