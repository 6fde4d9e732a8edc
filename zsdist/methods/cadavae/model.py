"""CADA-VAE (Schonfeld et al., "Generalized Zero- and Few-Shot Learning via Aligned VAEs", CVPR 2019).

Two VAEs of one hidden layer each, one for image features (ResNet-101, 2048-d) and one for class
attributes, that share a latent space: the losses in objective.py cross-decode each modality's
latent with the other modality's decoder and pull the two posteriors together. After training, a
classifier is trained on latents sampled from both encoders (`sample_latents`) and tested on image
latents taken at the mean (`encode_image_means`). The defaults are the paper's CUB configuration,
7,796,471 parameters; only attribute_dim changes per dataset (SUN 102, AWA1/2 85, aPY 64).

`faithful=True` reproduces the official code's sampling, which differs from the paper's equations:
see CADAVAE.reparameterize. No distributed code here: a Ray Train wrapper builds on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import nn

from zsdist.base.errors import ConfigError


@dataclass(kw_only=True)
class CADAVAEConfig:
    feature_dim: int = 2048  # image feature size (set from the dataset)
    attribute_dim: int = 312  # class attribute size (set from the dataset; 312 is CUB's)
    latent_dim: int = 64  # size of the shared latent space
    image_encoder_hidden: int = 1560  # hidden units of the image feature encoder
    image_decoder_hidden: int = 1660  # hidden units of the image feature decoder
    attribute_encoder_hidden: int = 1450  # hidden units of the class attribute encoder
    attribute_decoder_hidden: int = 665  # hidden units of the class attribute decoder
    faithful: bool = False  # sample as the official code does (see CADAVAE.reparameterize)
    init_gain: float = 0.5  # xavier_uniform gain of every Linear weight, as the official code

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"model.{f.name} must be an integer >= 1 (got {value!r})")
        if not isinstance(self.faithful, bool):
            raise ConfigError(f"model.faithful must be true or false (got {self.faithful!r})")
        if not math.isfinite(self.init_gain) or self.init_gain <= 0:
            raise ConfigError(f"model.init_gain must be a finite number > 0 (got {self.init_gain})")


class VAE(nn.Module):
    """One modality: in -> hidden (ReLU) -> (mu, logvar) heads; latent -> hidden (ReLU) -> out."""

    def __init__(self, in_dim: int, encoder_hidden: int, decoder_hidden: int, latent_dim: int,
                 init_gain: float) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(in_dim, encoder_hidden), nn.ReLU())
        self.mu = nn.Linear(encoder_hidden, latent_dim)
        self.logvar = nn.Linear(encoder_hidden, latent_dim)
        # No activation on the output: features and attributes are matched with an L1 loss, not a likelihood.
        self.decoder = nn.Sequential(nn.Linear(latent_dim, decoder_hidden), nn.ReLU(),
                                     nn.Linear(decoder_hidden, in_dim))
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight, gain=init_gain)
                nn.init.zeros_(module.bias)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # x: (B, in_dim) -> h: (B, encoder_hidden) -> mu, logvar: (B, latent_dim)
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        # z: (B, latent_dim) -> (B, decoder_hidden) -> (B, in_dim)
        return self.decoder(z)


class CADAVAE(nn.Module):
    def __init__(self, config: CADAVAEConfig) -> None:
        super().__init__()
        self.config = c = config
        self.image = VAE(c.feature_dim, c.image_encoder_hidden, c.image_decoder_hidden, c.latent_dim, c.init_gain)
        self.attribute = VAE(c.attribute_dim, c.attribute_encoder_hidden, c.attribute_decoder_hidden,
                             c.latent_dim, c.init_gain)

    def forward_encoder(
        self, x: torch.Tensor, a: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        # x: (B, feature_dim), a: (B, attribute_dim) -> mu_x, logvar_x, mu_a, logvar_a: (B, latent_dim)
        return *self.image.encode(x), *self.attribute.encode(a)

    def forward_decoder(
        self, z_x: torch.Tensor, z_a: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Both latents through both decoders: (x from z_x, x from z_a, a from z_a, a from z_x).

        z_x, z_a: (B, latent_dim) -> (B, feature_dim) twice, then (B, attribute_dim) twice.
        """
        # One pass per decoder over both latents (2B rows), where the official code makes four calls of B rows:
        # each weight is read once, not twice (a float32 CUB step on a CPU core: 1.3-1.45x faster).
        x_from_x, x_from_a = self.image.decode(torch.cat([z_x, z_a])).chunk(2)
        a_from_a, a_from_x = self.attribute.decode(torch.cat([z_a, z_x])).chunk(2)
        return x_from_x, x_from_a, a_from_a, a_from_x

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A differentiable draw z = mu + sigma * eps, both (B, latent_dim); eps comes from `generator`.

        Default: sigma = exp(0.5 * logvar) and one eps per dimension, i.e. z ~ N(mu, exp(logvar)) as in
        the paper. faithful=True: sigma = exp(logvar) and ONE eps per sample broadcast over all latent
        dimensions, as the official code samples; every dimension then moves along the same direction.
        eps is drawn on the generator's device, so a CPU generator gives the same draws on any device.
        """
        if self.config.faithful:
            sigma = torch.exp(logvar)
            eps = torch.randn(mu.shape[0], 1, generator=generator, device=generator.device, dtype=mu.dtype)
        else:
            sigma = torch.exp(0.5 * logvar)
            eps = torch.randn(mu.shape, generator=generator, device=generator.device, dtype=mu.dtype)
        return mu + sigma * eps.to(mu.device)

    @torch.no_grad()
    def sample_latents(self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Noisy latents (B, latent_dim) without a graph: the final classifier's training inputs.

        The same sampling as training (reparameterize, faithful or not), as the official code uses.
        """
        return self.reparameterize(mu, logvar, generator)

    @torch.no_grad()
    def encode_image_means(self, x: torch.Tensor) -> torch.Tensor:
        """Test images as the classifier sees them: the encoder mean, no noise. (B, feature_dim) -> (B, latent_dim)."""
        return self.image.encode(x)[0]
