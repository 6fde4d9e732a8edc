"""GZS-Net's chunk-swapping synthesis as parts: the rows it draws from, their images, encode, draw.

Shared by the zero-shot evaluation (methods/gzsnet/evaluation.py: held-out targets) and the training's
validation score (methods/gzsnet/validation.py: training targets), so both draw a target the same way:
each attribute's latent chunk from the encoding of its own source image (methods/gzsnet/targets.py picks
the sources), concatenated (GZSNet.combine) and decoded. Models run where their weights are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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
from zsdist.methods.gzsnet.targets import NO_ROW, choose_targets, nearest_neighbours, pick_bases


def selected_rows(data_dir: Path | str, selection: FontsSelection, held_out: HeldOutConfig,
                  description: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of every selected, non-blank row: value positions (N, A), global indices (N,), held-out mask (N,).

    Training rows are those not held out. description is the dataset's (datagen.shards.read_spec).
    """
    table = read_fonts_table(data_dir, selection, columns=["index", *ATTRIBUTES])
    attrs = np.stack([table.column(a).to_numpy() for a in ATTRIBUTES], axis=1)
    held = is_held_out(table, held_out_pairs(held_out, description), held_out.pairs)
    return attrs, table.column("index").to_numpy(), held


@dataclass(frozen=True, kw_only=True)
class HeldOutDraws:
    """What a zero-shot evaluation scores, drawn from its seed: every method that draws with the same
    data, selection, held-out split, seed and max_targets scores the very same targets."""

    attrs: np.ndarray  # (N, A) value positions of every selected, non-blank row
    index: np.ndarray  # (N,) their global indices
    train_rows: np.ndarray  # rows not held out
    target_rows: np.ndarray  # (T,) held-out rows scored, sorted
    sources: np.ndarray  # (T, A) per target and attribute, a position in train_rows (targets.pick_sources)
    bases: np.ndarray  # (T, A) single-attribute edit bases, positions in train_rows or NO_ROW
    nn: np.ndarray  # (T,) nearest neighbours, positions in train_rows
    rng: np.random.Generator  # the stream after these draws (GZS-Net draws its probe images from it)


def draw_held_out(data_dir: Path | str, selection: FontsSelection, held_out: HeldOutConfig, description: dict,
                  *, seed: int, max_targets: int) -> HeldOutDraws:
    """Targets, their sources, edit bases and nearest neighbours, in this order from one seeded stream;
    a one-line DataError when the run holds nothing out or a held-out value has no training image."""
    attrs, index, held = selected_rows(data_dir, selection, held_out, description)
    if not held.any():
        raise DataError("the run holds out no combination in its selection: train with held_out.fraction > 0")
    train_rows = np.flatnonzero(~held)
    rng = np.random.default_rng(seed)
    target_rows, sources = choose_targets(attrs, train_rows, np.flatnonzero(held), max_targets, rng)
    train, targets = attrs[train_rows], attrs[target_rows]
    bases = pick_bases(train, targets, rng)
    nn = nearest_neighbours(train, targets, rng)
    if (sources == NO_ROW).any():
        raise DataError("some held-out value has no training image in the selection: widen the selection")
    return HeldOutDraws(attrs=attrs, index=index, train_rows=train_rows, target_rows=target_rows, sources=sources,
                        bases=bases, nn=nn, rng=rng)


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


def single_attribute_edits(bases: np.ndarray, sources: np.ndarray, train_rows: np.ndarray,
                           ) -> Iterator[tuple[int, str, np.ndarray, np.ndarray, np.ndarray]]:
    """Per attribute k that some target can be reached in by one edit: (k, its name, those targets'
    positions, the bases' rows, the donors' rows). An attribute is skipped when no training image
    differs from a target in it alone (it is not held out)."""
    for k, attribute in enumerate(ATTRIBUTES):
        ok = np.flatnonzero(bases[:, k] != NO_ROW)
        if len(ok):
            yield k, attribute, ok, train_rows[bases[ok, k]], train_rows[sources[ok, k]]
