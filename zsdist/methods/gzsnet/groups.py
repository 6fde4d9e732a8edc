"""GZS-Net groups from the Fonts dataset, formed inside each shard by Ray Data workers.

A group is a centre image plus, per attribute k (ATTRIBUTES order), a partner that shares exactly
attribute k's value with the centre and differs from it in all four others.

Guarantee: every group is formed from the rows of ONE shard. The dataset's shards are sub-grids
built so that, inside each, every non-blank image has such a partner for every attribute
(datagen/spec/fonts.py, partner_guarantee_holds). So no global index or cross-shard lookup is
needed: group_dataset hands each Ray Data transform call exactly one shard file, read whole. With the full shard available, every non-blank row becomes a centre exactly
once per epoch. Rows removed before grouping (held-out combinations, a selection's row filter) may
remove a centre's only partners; such centres are skipped, so a group never contains them and
skipped = eligible rows - groups.

Blank images and held-out combinations are dropped first: they are never centres or partners.
Randomness comes from (seed, epoch, the block's first global index), so a block's groups do not
depend on which worker ran it or in which order. Only the PNGs the groups use are decoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pyarrow.parquet as pq
import ray.data

from datagen.png import decode_image_column
from datagen.shards import read_spec
from datagen.spec.fonts import ATTRIBUTES
from zsdist.base.errors import DataError
from zsdist.data.fonts import FontsSelection, box_downscale, downscale_factor, selected_files
from zsdist.data.heldout import HeldOutConfig, held_out_pairs, is_held_out

# Random draws per centre before the exact search: each is accepted with probability ~0.2-0.5 in a
# full shard, so after 24 rounds about 1% of centres are left for the (per-centre) exact search.
_REJECTION_ROUNDS = 24
# Each output batch holds at most this many bytes of images: a whole 128 px shard would be 6.4 GB of
# float32 groups, so a block's groups leave the worker in several batches instead.
MAX_BATCH_BYTES = 64 * 2**20
_EVERYTHING = FontsSelection()
_COLUMNS = ["image", "index", *ATTRIBUTES, "blank"]


def _partners(attrs: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Per row, a random row sharing exactly attribute k with it, or -1 where there is none."""
    others = [m for m in range(attrs.shape[1]) if m != k]
    order = np.argsort(attrs[:, k], kind="stable")  # rows grouped by their value of attribute k
    sorted_values = attrs[order, k]
    starts = np.searchsorted(sorted_values, attrs[:, k], side="left")
    counts = np.searchsorted(sorted_values, attrs[:, k], side="right") - starts
    partner = np.full(len(attrs), -1, np.int64)
    pending = np.arange(len(attrs))
    # Rejection sampling: draw uniformly among rows with the same value of k, keep draws that
    # differ in all other attributes; accepted draws are uniform over the true candidates.
    for _ in range(_REJECTION_ROUNDS):
        if not pending.size:
            break
        draws = order[starts[pending] + (rng.random(len(pending)) * counts[pending]).astype(np.int64)]
        ok = np.all(attrs[draws][:, others] != attrs[pending][:, others], axis=1)
        partner[pending[ok]] = draws[ok]
        pending = pending[~ok]
    # The rest (few, or centres without any partner): search their candidates exactly.
    for row in pending:
        same = order[starts[row]:starts[row] + counts[row]]
        candidates = same[np.all(attrs[same][:, others] != attrs[row, others], axis=1)]
        if candidates.size:
            partner[row] = candidates[rng.integers(candidates.size)]
    return partner


def form_groups(attrs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """int64 (G, 1 + A) row positions: [centre, partner for attribute 0, ..., partner for A - 1].

    attrs is (N, A) attribute values. Every row is a centre once, in random order; partner k shares
    exactly attribute k with the centre, drawn at random among the candidates. Centres lacking a
    partner for some attribute are skipped: N - G of them.
    """
    attrs = np.asarray(attrs)
    centres = rng.permutation(len(attrs))
    partners = np.stack([_partners(attrs, k, rng) for k in range(attrs.shape[1])], axis=1)
    groups = np.concatenate([centres[:, None], partners[centres]], axis=1)
    return groups[np.all(groups >= 0, axis=1)]


def groups_from_block(batch: pa.Table, *, seed: int, epoch: int, row_filter: pds.Expression | None = None,
                      held_out: np.ndarray | None = None, held_out_attributes: tuple[str, str] = HeldOutConfig.pairs,
                      image_dtype: type = np.float32, downscale: int = 1, max_batch_bytes: int = MAX_BATCH_BYTES,
                      ) -> Iterator[dict[str, np.ndarray]]:
    """Ray Data transform of one shard's block: its groups, in batches of at most max_batch_bytes.

    Yields {"images": (g, 1 + A, 3, H, W) image_dtype in [-1, 1], "labels": int16 (g, 1 + A, A),
    "index": int64 (g, 1 + A)}; nothing for a block without groups. held_out is the (M, 2) array of
    held_out_pairs over held_out_attributes; row_filter is a selection's (selected_files); downscale
    box-averages the stored images by that factor per side (H = resolution / downscale).
    """
    if not batch.num_rows:
        return
    # Before any filtering, so the seed is a property of the shard alone.
    rng = np.random.default_rng([seed, epoch, pc.min(batch.column("index")).as_py()])
    keep = ~batch.column("blank").to_numpy(zero_copy_only=False)
    if held_out is not None and len(held_out):
        keep &= ~is_held_out(batch, held_out, held_out_attributes)
    batch = batch.filter(pa.array(keep))
    if row_filter is not None:
        batch = batch.filter(row_filter)
    attrs = np.stack([batch.column(name).to_numpy() for name in ATTRIBUTES], axis=1)
    index = batch.column("index").to_numpy()
    groups = form_groups(attrs, rng)
    if not len(groups):
        return
    # Decode each used image once (uint8, a quarter of float32), then cut float batches from it.
    used, positions = np.unique(groups, return_inverse=True)
    pixels = decode_image_column(batch.column("image"), pa.array(used)).transpose(0, 3, 1, 2)  # (U, 3, R, R)
    pixels = box_downscale(pixels, downscale)  # (U, 3, H, W) float32 in [0, 255]
    positions = positions.reshape(groups.shape)
    per_batch = max(1, max_batch_bytes // (groups.shape[1] * pixels[0].size * np.dtype(image_dtype).itemsize))
    for start in range(0, len(groups), per_batch):
        chunk = slice(start, start + per_batch)
        images = pixels[positions[chunk]].astype(image_dtype) / image_dtype(127.5) - image_dtype(1)
        yield {"images": images, "labels": attrs[groups[chunk]].astype(np.int16), "index": index[groups[chunk]]}


def group_dataset(data_dir: str | Path, *, selection: FontsSelection = _EVERYTHING,
                  held_out: HeldOutConfig | None = None, seed: int, epoch: int = 0,
                  image_dtype: type = np.float32, image_size: int | None = None,
                  worker: tuple[int, int] = (0, 1)) -> ray.data.Dataset:
    """A Ray Dataset of GZS-Net groups (rows of groups_from_block's arrays) over the selected shards.

    Blank rows are dropped whatever selection.include_blank says: they are never in a group.
    worker = (rank, world size) takes every world-size-th shard of a seeded per-epoch shuffle of the
    selected shards, so data-parallel workers split the shards between them, each reads only its own,
    and the shards visit the workers in a new order every epoch. image_size reads them downscaled.
    """
    files, row_filter = selected_files(data_dir, selection)
    rank, world = worker
    if not 0 <= rank < world:
        raise ValueError(f"worker rank {rank} outside a world of {world}")
    if len(files) < world:
        raise DataError(f"the selection {selection} touches {len(files)} shard(s) of {data_dir}, fewer than the "
                        f"{world} worker(s): select more fonts or letters, or use fewer workers")
    files = [files[i] for i in np.random.default_rng([seed, epoch]).permutation(len(files))][rank::world]
    description = read_spec(data_dir)
    resolution = description["spec"]["resolution"]
    downscale = downscale_factor(resolution, image_size or resolution)
    held = held_out_pairs(held_out, description) if held_out is not None else None
    # One row per shard file, one block per row: each transform call reads and groups exactly one shard.
    # (Reading the files here instead of with ray.data.read_parquet also skips its per-dataset size
    # sampling, a few seconds per epoch and worker.)
    paths = ray.data.from_items([{"path": str(f)} for f in files], override_num_blocks=len(files))
    return paths.map_batches(
        _groups_of_shards,
        fn_kwargs={"seed": seed, "epoch": epoch, "row_filter": row_filter, "held_out": held,
                   "held_out_attributes": held_out.pairs if held_out is not None else HeldOutConfig.pairs,
                   "image_dtype": image_dtype, "downscale": downscale},
        batch_size=1,
        batch_format="pyarrow",
    )


def _groups_of_shards(paths: pa.Table, **kwargs) -> Iterator[dict[str, np.ndarray]]:
    for path in paths.column("path").to_pylist():
        yield from groups_from_block(pq.read_table(str(path), columns=_COLUMNS), **kwargs)

