"""The CADA-VAE training loss and its per-epoch warm-up of the loss weights.

Per step, image features x and the attributes a of their classes are encoded once, one latent is drawn
per modality, and both latents go through both decoders. Terms (L1 distances, summed over dimensions):
- reconstruction: |D_img(z_img) - x| + |D_att(z_att) - a|;
- cross_reconstruction (CA): |D_img(z_att) - x| + |D_att(z_img) - a|;
- kl: KL of both posteriors against N(0, I);
- distribution_alignment (DA): per sample the 2-Wasserstein distance between the two diagonal Gaussians,
  sqrt(||mu_img - mu_att||^2 + ||sigma_img - sigma_att||^2);
- total = reconstruction + beta * kl + gamma * cross_reconstruction + delta * distribution_alignment.

Reduction over the batch. "sum" (the default, the official code's and so the paper's): every term summed
over the batch too. With N data-parallel workers each rank's gradient is then the sum over its own batch,
and DDP AVERAGES gradients across ranks, so the step follows the per-rank sum: the original scale is kept
only if each rank keeps a batch of 50. "mean": every term divided by the batch size (per-sample sums
averaged), so the loss scale, and what a learning rate means, does not depend on the batch size or on
the number of ranks. Both reductions scale all terms alike, so the weights keep their relative meaning;
and Adam's update is invariant to a constant loss scale (up to its eps), so with the paper's optimiser
the choice mostly changes the logged values, not training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from zsdist.base.errors import ConfigError
from zsdist.methods.cadavae.model import CADAVAE
from zsdist.train.schedules import linear_warmup

WEIGHTS = ("beta", "gamma", "delta")  # the factors of kl, cross_reconstruction, distribution_alignment


@dataclass(kw_only=True)
class WarmupConfig:
    # The paper's schedule, for every dataset; start and end are epochs.
    beta_factor: float = 0.25  # KL weight once warmed up
    beta_start: float = 0  # epoch the KL weight starts rising from 0
    beta_end: float = 93  # epoch the KL weight reaches beta_factor
    gamma_factor: float = 2.37  # cross-reconstruction weight once warmed up
    gamma_start: float = 21  # epoch the cross-reconstruction weight starts rising from 0
    gamma_end: float = 75  # epoch the cross-reconstruction weight reaches gamma_factor
    delta_factor: float = 8.13  # distribution-alignment weight once warmed up
    delta_start: float = 6  # epoch the distribution-alignment weight starts rising from 0
    delta_end: float = 22  # epoch the distribution-alignment weight reaches delta_factor

    def __post_init__(self) -> None:
        for f in fields(self):
            if not math.isfinite(getattr(self, f.name)):
                raise ConfigError(f"warmup.{f.name} must be a finite number (got {getattr(self, f.name)})")
        for name in WEIGHTS:
            factor, start, end = (getattr(self, f"{name}_{part}") for part in ("factor", "start", "end"))
            if factor < 0:
                raise ConfigError(f"warmup.{name}_factor must be >= 0 (got {factor})")
            if not 0 <= start <= end:
                raise ConfigError(f"warmup.{name}_start and {name}_end must satisfy 0 <= start <= end "
                                  f"(got {start} and {end})")


def loss_weights(epoch: float, warmup: WarmupConfig) -> dict[str, float]:
    """beta, gamma and delta at `epoch`, the 0-based index of the current epoch.

    Each weight is 0 up to its start, rises linearly to its factor at its end, and stays there. The
    official code computes f = (epoch - start) / (end - start) once per epoch and clips f * factor to
    [0, factor], which is the same ramp; it divides by zero when start == end, where this is a step:
    0 before start, the factor from start on. A fractional epoch gives a per-step ramp if wanted.
    """
    weights = {}
    for name in WEIGHTS:
        factor, start, end = (getattr(warmup, f"{name}_{part}") for part in ("factor", "start", "end"))
        # linear_warmup gives the full factor at every epoch when start == end; the step starts at `start`.
        weights[name] = 0.0 if epoch < start else linear_warmup(epoch, factor=factor, end_epoch=end,
                                                                 start_epoch=start)
    return weights


def cadavae_losses(
    model: CADAVAE,
    x: torch.Tensor,
    a: torch.Tensor,
    weights: dict[str, float],
    *,
    generator: torch.Generator,
    reduction: Literal["sum", "mean"] = "sum",
) -> dict[str, torch.Tensor]:
    """Per-term losses and their weighted sum under "total" (the one to backpropagate).

    x: (B, feature_dim) image features; a: (B, attribute_dim) the attributes of each image's class.
    weights: beta, gamma, delta, e.g. from loss_weights. generator: draws both latents, so equal seeds
    give equal losses. reduction: "sum" or "mean" over the batch (see the module docstring).
    """
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean' (got {reduction!r})")
    if set(weights) != set(WEIGHTS):
        raise KeyError(f"weights must have exactly the keys {WEIGHTS} (got {tuple(weights)})")
    # Under bf16 autocast the layers return bf16; every loss term is computed in float32 (a no-op
    # otherwise), since sums over 50 x 2048 L1 errors lose digits in bf16's 8-bit mantissa.
    mu_x, logvar_x, mu_a, logvar_a = (t.float() for t in model.forward_encoder(x, a))  # (B, L) each
    z_x = model.reparameterize(mu_x, logvar_x, generator)
    z_a = model.reparameterize(mu_a, logvar_a, generator)
    x_from_x, x_from_a, a_from_a, a_from_x = (t.float() for t in model.forward_decoder(z_x, z_a))

    def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(pred, target, reduction="sum")

    # The standard closed form, reading exp(logvar) as the variance, in both modes. With faithful=True the
    # latents are drawn with std exp(logvar) (variance exp(2 logvar)), so this KL is not that of the
    # distribution actually sampled; the official code has the same mismatch, and faithful keeps it.
    def kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())

    # sigma = exp(0.5 logvar) in both modes: the official code takes sqrt(exp(logvar)) here, not the
    # exp(logvar) it samples with, so faithful=True changes nothing in this term.
    sigma_x, sigma_a = torch.exp(0.5 * logvar_x), torch.exp(0.5 * logvar_a)
    squared = (mu_x - mu_a).pow(2).sum(dim=1) + (sigma_x - sigma_a).pow(2).sum(dim=1)  # (B,)

    terms = {
        "reconstruction": l1(x_from_x, x) + l1(a_from_a, a),
        "cross_reconstruction": l1(x_from_a, x) + l1(a_from_x, a),
        "kl": kl(mu_x, logvar_x) + kl(mu_a, logvar_a),
        "distribution_alignment": squared.sqrt().sum(),
    }
    if reduction == "mean":
        terms = {name: value / x.shape[0] for name, value in terms.items()}
    terms["total"] = (terms["reconstruction"] + weights["beta"] * terms["kl"]
                      + weights["gamma"] * terms["cross_reconstruction"]
                      + weights["delta"] * terms["distribution_alignment"])
    return terms


class CADAVAEObjective(nn.Module):
    """The model and its reduction as one module whose forward is cadavae_losses.

    Training wraps this (not CADAVAE) in DDP: DDP synchronises the gradients of whatever its forward
    ran, and the losses call both encoders and both decoders.
    """

    def __init__(self, model: CADAVAE, reduction: Literal["sum", "mean"]) -> None:
        super().__init__()
        self.model = model
        self.reduction = reduction

    def forward(self, x: torch.Tensor, a: torch.Tensor, weights: dict[str, float], *,
                generator: torch.Generator) -> dict[str, torch.Tensor]:
        return cadavae_losses(self.model, x, a, weights, generator=generator, reduction=self.reduction)
