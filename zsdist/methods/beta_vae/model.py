"""A VAE on GZS-Net's convolutional encoder and decoder: the beta-VAE and beta-TCVAE baselines' model.

The same conv stacks, residual blocks and FC layers as GZSNet (zsdist/methods/gzsnet/model.py), so the
baselines differ from GZS-Net in their objective and their latent's use, not in capacity. The one change:
the encoder's last FC layer outputs 2 * latent_dim values, the mean and log-variance of a diagonal
Gaussian posterior q(z|x). Training decodes a reparameterised sample; evaluation and the exhaustive
search use the mean (forward_encoder). The latent has model.latent_dim = sum(model.chunk_sizes)
dimensions, GZS-Net's latent size; the VAE has no chunks, so GZSNet's chunk helpers are not used.

No distributed code here: training.py wraps the objective (objective.py) for DDP.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from zsdist.methods.gzsnet.model import GZSNet, GZSNetConfig

# (x, x_hat, z, mu, logvar) -> loss terms, "loss" among them (objective.py)
Loss = Callable[..., dict[str, torch.Tensor]]


class ConvVAE(GZSNet):
    def __init__(self, config: GZSNetConfig) -> None:
        super().__init__(config)
        features = self.map_shape[0] * self.side**2
        self.encoder_fc = self._fc(features, 2 * config.latent_dim)  # mu and logvar instead of z

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # x: (B, C, S, S) in [-1, 1] -> mu, logvar: (B, latent_dim) each
        return self.encoder_fc(self.encoder_conv(x)).chunk(2, dim=1)

    def forward_encoder(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean (B, latent_dim): the code the evaluation encodes, swaps and decodes."""
        return self.posterior(x)[0]

    # forward_decoder is GZSNet's: z (B, latent_dim) -> x_hat (B, C, S, S) in [-1, 1]

    def forward_loss(self, x: torch.Tensor, loss: Loss, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """x (B, C, S, S) in [-1, 1] -> the loss terms of one reparameterised sample z ~ q(z|x) per image."""
        mu, logvar = self.posterior(x)  # (B, D) each
        noise = torch.randn(mu.shape, generator=generator, device=generator.device).to(mu)
        z = mu + noise * (0.5 * logvar).exp()  # (B, D)
        x_hat = self.forward_decoder(z)  # (B, C, S, S)
        # The terms in float32 whatever the autocast: sums over thousands of pixels and log-densities.
        return loss(x.float(), x_hat.float(), z.float(), mu.float(), logvar.float())
