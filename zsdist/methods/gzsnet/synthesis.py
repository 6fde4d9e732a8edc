"""GZS-Net's chunk-swapping synthesis as parts: the rows it draws from, their images, encode, draw.

Shared by the zero-shot evaluation (methods/gzsnet/evaluation.py: held-out targets) and the training's
validation score (methods/gzsnet/validation.py: training targets), so both draw a target the same way:
each attribute's latent chunk from the encoding of its own source image (methods/gzsnet/targets.py picks
the sources), concatenated (GZSNet.combine) and decoded. Models run where their weights are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.dataset as pds
import torch

from datagen.spec.fonts import ATTRIBUTES
from zsdist.base.errors import DataError
from zsdist.base.storage import parquet_dataset
from zsdist.data.fonts import FontsSelection, box_downscale, decode_rgb, read_fonts_table, selected_files
from zsdist.data.heldout import HeldOutConfig, held_out_pairs, is_held_out
from zsdist.methods.gzsnet.model import GZSNet


def selected_rows(data_dir: Path | str, selection: FontsSelection, held_out: HeldOutConfig,
                  description: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of every selected, non-blank row: value positions (N, A), global indices (N,), held-out mask (N,).

    Training rows are those not held out. description is the dataset's (datagen.shards.read_spec).
    """
    table = read_fonts_table(data_dir, selection, columns=["index", *ATTRIBUTES])
    attrs = np.stack([table.column(a).to_numpy() for a in ATTRIBUTES], axis=1)
    held = is_held_out(table, held_out_pairs(held_out, description), held_out.pairs)
    return attrs, table.column("index").to_numpy(), held


def read_images(data_dir: Path | str, selection: FontsSelection, wanted: np.ndarray, factor: int) -> torch.Tensor:
    """float32 (N, 3, H, W) in [-1, 1] of the rows with these (sorted) global indices, in that order."""
    files, _ = selected_files(data_dir, selection)
    table = parquet_dataset(files).to_table(
        columns=["index", "image"], filter=pds.field("index").isin(wanted))
    table = table.sort_by("index")
    if not np.array_equal(table.column("index").to_numpy(), wanted):
        raise DataError(f"{data_dir} lacks some of the rows the synthesis needs: run `zsdist datagen verify`")
    pixels = box_downscale(decode_rgb(table).transpose(0, 3, 1, 2), factor)
    return torch.from_numpy(pixels / 127.5 - 1.0)


@torch.no_grad()
def encode(model: GZSNet, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Latents (N, latent_dim) on the CPU; the model runs where its weights are (a GPU when there is one)."""
    device = next(model.parameters()).device
    return torch.cat([model.forward_encoder(images[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(images), batch_size)])


@torch.no_grad()
def decode(model: GZSNet, z: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Images (N, C, H, W) on the CPU from latents (N, latent_dim)."""
    device = next(model.parameters()).device
    return torch.cat([model.forward_decoder(z[i:i + batch_size].to(device)).cpu() for i in range(0, len(z), batch_size)])


def synthesise(model: GZSNet, source_latents: dict[str, torch.Tensor], batch_size: int) -> torch.Tensor:
    """Per target, the image decoded from chunk k of source_latents[attribute k] (T, latent_dim) each."""
    return decode(model, model.combine(source_latents), batch_size)
