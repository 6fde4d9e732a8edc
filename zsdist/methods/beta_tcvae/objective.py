"""The beta-TCVAE objective (Chen et al., NeurIPS 2018): the KL split into three weighted terms.

    loss = reconstruction + alpha * MI + beta * TC + gamma * DWKL
    MI   = E[log q(z|x) - log q(z)]                 index-code mutual information
    TC   = E[log q(z) - sum_d log q(z_d)]           total correlation of the aggregate posterior
    DWKL = E[sum_d log q(z_d) - log p(z)]           dimension-wise KL to the prior N(0, I)

Expectations are over the batch, one z ~ q(z|x_i) per image. The reconstruction is beta-VAE's
(zsdist/methods/beta_vae/objective.py: per-image summed squared error on [-1, 1]), so the two baselines
differ in the prior term alone. The three terms telescope: whatever q(z) estimate is used, they sum to
log q(z|x) - log p(z), a one-sample estimate of the KL, and alpha = beta = gamma = 1 is the plain VAE.

q(z) and q(z_d) are estimated by minibatch-weighted sampling (MWS) over the batch of M images, for a
dataset of N training images:  log q(z_i) ~ logsumexp_j log q(z_i | x_j) - log(N M), and the same per
dimension. N enters only through constants: the gradients do not depend on it, and the estimates sit
log N above (MI), (D - 1) log N above (TC) and D log N below (DWKL) the batch's own kernel estimate
(weights 1/M). So the TC of a factorised aggregate posterior is reported as about (D - 1) log N, not 0.
On a worker the batch is its own (the DDP gradient is the mean of the workers' estimates); its images
come in GZS-Net's groups, so they are not independent draws, which MWS assumes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from zsdist.methods.beta_vae.objective import gaussian_kl, reconstruction

LOG_2PI = math.log(2 * math.pi)


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(z; mu, exp(logvar)) (broadcast)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * (-logvar).exp())


def kl_decomposition(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                     dataset_size: int) -> dict[str, torch.Tensor]:
    """MI, TC and DWKL (batch means) of samples z (M, D) from the posteriors N(mu, exp(logvar)) (M, D)."""
    m = z.shape[0]
    log_q_given_x = log_normal(z, mu, logvar).sum(dim=1)  # (M,) log q(z_i | x_i)
    log_prior = log_normal(z, torch.zeros_like(z), torch.zeros_like(z)).sum(dim=1)  # (M,)
    pairs = log_normal(z[:, None, :], mu[None, :, :], logvar[None, :, :])  # (M, M, D): log q(z_id | x_j)
    log_nm = math.log(dataset_size * m)
    log_q = torch.logsumexp(pairs.sum(dim=2), dim=1) - log_nm  # (M,) log q(z_i)
    log_q_dims = (torch.logsumexp(pairs, dim=1) - log_nm).sum(dim=1)  # (M,) sum_d log q(z_id)
    return {"mi": (log_q_given_x - log_q).mean(), "tc": (log_q - log_q_dims).mean(),
            "dwkl": (log_q_dims - log_prior).mean()}


@dataclass(frozen=True)
class BetaTCVAELoss:
    alpha: float
    beta: float
    gamma: float
    dataset_size: int
    terms: tuple[str, ...] = ("loss", "reconstruction", "mi", "tc", "dwkl", "kl")

    def __call__(self, x: torch.Tensor, x_hat: torch.Tensor, z: torch.Tensor, mu: torch.Tensor,
                 logvar: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = {"reconstruction": reconstruction(x, x_hat), **kl_decomposition(z, mu, logvar, self.dataset_size)}
        terms["loss"] = (terms["reconstruction"] + self.alpha * terms["mi"] + self.beta * terms["tc"]
                         + self.gamma * terms["dwkl"])
        terms["kl"] = gaussian_kl(mu, logvar).detach()  # the closed-form KL, for reference only
        return terms
