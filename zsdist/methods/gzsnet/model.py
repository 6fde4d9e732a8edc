"""GZS-Net (Ge et al., "Zero-shot Synthesis with Group-Supervised Learning", ICLR 2021), as a plain nn.Module.

An autoencoder whose latent vector is cut into one chunk per attribute. Encoder: conv7x7 s1, then
stride-2 conv4x4 down-samplings that double the width up to 4x the base, each with InstanceNorm + ReLU,
residual blocks, flatten, an optional hidden FC layer + ReLU, and an FC layer to z (no activation, no
KL: the chunks are shaped only by the swap losses in gzsnet_losses.py). The decoder mirrors it and
ends in tanh, so images live in [-1, 1]. The `paper` preset is the released Fonts configuration
(~143M parameters, 94% of them in the four FC layers).

No distributed code here: a Ray Train wrapper builds on it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Literal

import torch
from torch import nn

from zsdist.base.errors import ConfigError

FONTS_ATTRIBUTES = ("letter", "size", "font_colour", "background_colour", "font")


@dataclass(kw_only=True)
class GZSNetConfig:
    image_size: int = 128  # side of the images the model sees; a larger dataset is box-downscaled to it
    channels: int = 3  # image channels (3: RGB)
    base_width: int = 64  # width after the first conv7x7; each down-sampling doubles it up to 4x
    downsamplings: int = 4  # stride-2 convs: 128 px -> 8x8 in the paper
    residual_blocks: int = 1  # residual blocks at the bottleneck, in the encoder and the decoder
    fc_hidden: int = 4096  # 0 = flatten straight to z (and z straight back)
    # one latent chunk per attribute, in this order (set from the dataset)
    attributes: tuple[str, ...] = FONTS_ATTRIBUTES
    chunk_sizes: tuple[int, ...] = (20, 20, 20, 20, 20)  # latent dimensions of each attribute's chunk
    norm: Literal["instance", "none"] = "instance"  # normalisation in the conv blocks: instance or none

    def __post_init__(self) -> None:
        if self.image_size not in (32, 64, 128):
            raise ConfigError(f"model.image_size must be 32, 64 or 128 (got {self.image_size})")
        if self.channels < 1 or self.base_width < 1 or self.residual_blocks < 0 or self.fc_hidden < 0:
            raise ConfigError("model.channels and model.base_width must be >= 1, residual_blocks and fc_hidden >= 0")
        if self.downsamplings < 0 or self.image_size % 2**self.downsamplings:
            raise ConfigError(
                f"model.image_size {self.image_size} must be divisible by 2**downsamplings "
                f"(downsamplings={self.downsamplings})"
            )
        if not self.attributes or len(self.attributes) != len(self.chunk_sizes):
            raise ConfigError(
                f"model.attributes and model.chunk_sizes must be non-empty and of equal length "
                f"(got {len(self.attributes)} and {len(self.chunk_sizes)})"
            )
        if len(set(self.attributes)) != len(self.attributes):
            raise ConfigError(f"model.attributes must be distinct (got {self.attributes})")
        if min(self.chunk_sizes) < 1:
            raise ConfigError(f"model.chunk_sizes must be >= 1 (got {self.chunk_sizes})")
        if self.norm not in ("instance", "none"):
            raise ConfigError(f"model.norm must be 'instance' or 'none' (got {self.norm!r})")

    @property
    def latent_dim(self) -> int:
        return sum(self.chunk_sizes)

    @property
    def widths(self) -> list[int]:
        """Feature widths after the stem and after each down-sampling (paper: 64, 128, 256, 256, 256)."""
        widths = [self.base_width]
        for _ in range(self.downsamplings):
            widths.append(min(widths[-1] * 2, 4 * self.base_width))
        return widths


PRESETS: dict[str, GZSNetConfig] = {
    "paper": GZSNetConfig(),
    # 64 px on CPU: 3 down-samplings still end at 8x8, at half the width and an eighth of the FC size.
    "cpu64": GZSNetConfig(image_size=64, base_width=32, downsamplings=3, fc_hidden=512, chunk_sizes=(16,) * 5),
    "cpu32": GZSNetConfig(image_size=32, base_width=16, downsamplings=2, fc_hidden=256, chunk_sizes=(8,) * 5),
    # For tests: 32 px down to 16x4x4, no hidden FC layer, 2 dimensions per attribute.
    "tiny": GZSNetConfig(image_size=32, base_width=4, downsamplings=3, fc_hidden=0, chunk_sizes=(2,) * 5),
}


def preset(
    name: str, *, attributes: tuple[str, ...] | None = None, chunk_sizes: tuple[int, ...] | None = None
) -> GZSNetConfig:
    """A preset, optionally with the chunk layout of a dataset's attributes (see with_attributes)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown GZS-Net preset {name!r}: choose one of {', '.join(PRESETS)}")
    return with_attributes(PRESETS[name], attributes, chunk_sizes)


def with_attributes(
    config: GZSNetConfig, attributes: tuple[str, ...] | list[str] | None, chunk_sizes: tuple[int, ...] | None = None
) -> GZSNetConfig:
    """The config with one latent chunk per attribute, e.g. the attributes a dataset's metadata lists.

    Without chunk_sizes, the same attribute list keeps its sizes; another list gets the config's first
    chunk size for every attribute.
    """
    attributes = config.attributes if attributes is None else tuple(attributes)
    if chunk_sizes is None:
        same_count = len(attributes) == len(config.chunk_sizes)
        chunk_sizes = config.chunk_sizes if same_count else (config.chunk_sizes[0],) * len(attributes)
    # replace() reruns __post_init__, so a bad layout fails here with a one-line message.
    return replace(config, attributes=attributes, chunk_sizes=tuple(chunk_sizes))


def _norm(config: GZSNetConfig, width: int) -> nn.Module:
    # As the released code: affine, and running statistics that are tracked but (since it never calls
    # .eval()) never used; in train mode every image is normalised on its own, so batching is harmless.
    if config.norm == "instance":
        return nn.InstanceNorm2d(width, affine=True, track_running_stats=True)
    return nn.Identity()


class ResidualBlock(nn.Module):
    def __init__(self, config: GZSNetConfig, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False), _norm(config, width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, bias=False), _norm(config, width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class GZSNet(nn.Module):
    def __init__(self, config: GZSNetConfig) -> None:
        super().__init__()
        self.config = config
        widths, c = config.widths, config.channels
        self.side = config.image_size // 2**config.downsamplings
        self.map_shape = (widths[-1], self.side, self.side)
        flat = widths[-1] * self.side**2
        # Convs carry no bias: the affine InstanceNorm after each one has its own.
        enc: list[nn.Module] = [nn.Conv2d(c, widths[0], 7, padding=3, bias=False), _norm(config, widths[0]), nn.ReLU()]
        for w_in, w_out in pairwise(widths):
            enc += [nn.Conv2d(w_in, w_out, 4, stride=2, padding=1, bias=False), _norm(config, w_out), nn.ReLU()]
        enc += [ResidualBlock(config, widths[-1]) for _ in range(config.residual_blocks)]
        self.encoder_conv = nn.Sequential(*enc, nn.Flatten())
        self.encoder_fc = self._fc(flat, config.latent_dim)

        self.decoder_fc = self._fc(config.latent_dim, flat)
        dec: list[nn.Module] = [ResidualBlock(config, widths[-1]) for _ in range(config.residual_blocks)]
        for w_in, w_out in pairwise(reversed(widths)):
            up = nn.ConvTranspose2d(w_in, w_out, 4, stride=2, padding=1, bias=False)
            dec += [up, _norm(config, w_out), nn.ReLU()]
        dec += [nn.Conv2d(widths[0], c, 7, padding=3, bias=False), nn.Tanh()]
        self.decoder_conv = nn.Sequential(*dec)

        offsets = torch.tensor((0, *config.chunk_sizes)).cumsum(0).tolist()
        self._chunks = {a: slice(lo, hi) for a, lo, hi in zip(config.attributes, offsets, offsets[1:])}

    def _fc(self, n_in: int, n_out: int) -> nn.Sequential:
        hidden = self.config.fc_hidden
        if hidden == 0:
            return nn.Sequential(nn.Linear(n_in, n_out))
        return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))

    def forward_encoder(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, S, S) in [-1, 1] -> h: (B, W * s * s), s = S / 2**downsamplings -> z: (B, latent_dim)
        return self.encoder_fc(self.encoder_conv(x))

    def forward_decoder(self, z: torch.Tensor) -> torch.Tensor:
        # z: (B, latent_dim) -> h: (B, W, s, s) -> x_hat: (B, C, S, S) in [-1, 1]
        # The FC output enters the residual block as is: the reference architecture lists no activation there.
        h = self.decoder_fc(z).view(-1, *self.map_shape)
        return self.decoder_conv(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Plain autoencoding: x -> x_hat."""
        return self.forward_decoder(self.forward_encoder(x))

    def chunk(self, name: str) -> slice:
        """The latent dimensions of attribute `name`."""
        if name not in self._chunks:
            raise KeyError(f"no latent chunk {name!r}: the model's attributes are {self.config.attributes}")
        return self._chunks[name]

    def chunk_mask(self, names: tuple[str, ...] | list[str]) -> torch.Tensor:
        """(latent_dim,) bool, True on the named chunks."""
        mask = torch.zeros(self.config.latent_dim, dtype=torch.bool)
        for name in names:
            mask[self.chunk(name)] = True
        return mask

    def swap(
        self, z_a: torch.Tensor, z_b: torch.Tensor, names: tuple[str, ...] | list[str]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Exchange the named chunks between z_a and z_b, both (B, latent_dim); new tensors, differentiable."""
        mask = self.chunk_mask(names).to(z_a.device)
        return torch.where(mask, z_b, z_a), torch.where(mask, z_a, z_b)

    def combine(self, z_sources: dict[str, torch.Tensor]) -> torch.Tensor:
        """Zero-shot synthesis: each attribute's chunk from its own source latent (B, latent_dim).

        Every attribute of the model must have a source; extra keys are an error, not ignored.
        """
        if set(z_sources) != set(self.config.attributes):
            raise KeyError(f"combine needs exactly the attributes {self.config.attributes} (got {tuple(z_sources)})")
        return torch.cat([z_sources[a][:, self.chunk(a)] for a in self.config.attributes], dim=1)
