"""The beta-VAE objective (Higgins et al., ICLR 2017) and the module DDP wraps to train any VAE loss.

    loss = reconstruction + beta * KL(q(z|x) || N(0, I)),   both per image, averaged over the batch

Reconstruction is the per-image SUM of squared errors on the [-1, 1] images: the negative log-likelihood
of a Gaussian decoder with fixed variance 1/2, up to a constant. A sum over pixels (not a mean) keeps the
data term on the scale of the KL, which is also a sum (over latent dimensions): beta = 1 is then the
plain ELBO, and beta > 1 is the beta-VAE's stronger pull towards the factorised prior. A per-pixel mean
would weigh the KL 3 * H * W times more against the data and drive the posterior to the prior.

beta-TCVAE's objective (zsdist/methods/beta_tcvae/objective.py) is another Loss of the same signature.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from zsdist.methods.beta_vae.model import ConvVAE, Loss


def reconstruction(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of each image's summed squared error; x, x_hat (B, C, H, W) in [-1, 1]."""
    return (x_hat - x).pow(2).flatten(1).sum(dim=1).mean()


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) in closed form, summed over dimensions, mean over the batch (B, D)."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(dim=1).mean()


@dataclass(frozen=True)
class BetaVAELoss:
    beta: float
    terms: tuple[str, ...] = ("loss", "reconstruction", "kl")

    def __call__(self, x: torch.Tensor, x_hat: torch.Tensor, z: torch.Tensor, mu: torch.Tensor,
                 logvar: torch.Tensor) -> dict[str, torch.Tensor]:
        recon, kl = reconstruction(x, x_hat), gaussian_kl(mu, logvar)
        return {"loss": recon + self.beta * kl, "reconstruction": recon, "kl": kl}


class VAEObjective(nn.Module):
    """The model and its loss as one module, so that DDP's forward is the whole training pass."""

    def __init__(self, model: ConvVAE, loss: Loss) -> None:
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, x: torch.Tensor, *, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.model.forward_loss(x, self.loss, generator)
