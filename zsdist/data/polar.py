"""Reading the polar dataset: Ray Data for training, plain pyarrow for the (small) evaluation set.

Decoding happens where the data is: the training pipeline's `map_batches` turns PNG bytes into
float tensors inside Ray Data workers, so the training loop receives ready (B, 1, R, R) batches.
Ray ships that function to its processes by reference, so they import this module: it lives here,
importing neither torch nor a method (a method's package imports its model, plots and MLflow): each
Ray Data process of a training run then starts in a fraction of the time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray.data

from datagen.png import decode_image_column
from datagen.shards import dataset_files, read_spec

# Which splits each training regime sees: the punctured set (experiment 1) never sees the hole;
# the full set (experiment 2) does. Test and transect rows never reach training.
TRAINING_SPLITS = {"punctured": ("train",), "full": ("train", "hole")}


def dataset_resolution(data_dir: str | Path) -> int:
    """The dataset's image size, after checking that all its shards are there and readable."""
    dataset_files(data_dir, dataset="polar")
    return int(read_spec(data_dir)["resolution"])


def decode_images(table: pa.Table) -> np.ndarray:
    """PNG bytes of the `image` struct column -> float32 (N, R, R) in [0, 1]."""
    return decode_image_column(table.column("image")).astype(np.float32) / 255.0


def _decode_training_batch(batch: pa.Table, splits: tuple[str, ...], resolution: int) -> dict[str, np.ndarray]:
    keep = np.isin(batch.column("split").to_numpy(zero_copy_only=False), splits)
    batch = batch.filter(pa.array(keep))
    if batch.num_rows == 0:  # a shard of only test/transect rows: an empty batch of the right shape
        return {"image": np.zeros((0, 1, resolution, resolution), np.float32)}
    return {"image": decode_images(batch)[:, None]}


def training_dataset(data_dir: str | Path, train_on: Literal["punctured", "full"]) -> ray.data.Dataset:
    """A Ray Dataset of {"image": float32 (1, R, R)} rows for the chosen training regime."""
    files = [str(p) for p in dataset_files(data_dir, dataset="polar")]
    # Per-epoch progress bars from every worker's split drown the training log; metrics say more.
    ray.data.DataContext.get_current().enable_progress_bars = False
    ds = ray.data.read_parquet(files, columns=["image", "split"])
    return ds.map_batches(
        _decode_training_batch,
        fn_kwargs={"splits": TRAINING_SPLITS[train_on], "resolution": dataset_resolution(data_dir)},
        batch_format="pyarrow",
        batch_size=None,  # one block at a time: the filter keeps the read's block boundaries
    )


def read_all_rows(data_dir: str | Path) -> dict[str, np.ndarray]:
    """Every row with decoded images, for evaluation (5k small images: pyarrow beats Ray Data here)."""
    table = pa.concat_tables(pq.read_table(str(p)) for p in dataset_files(data_dir, dataset="polar"))
    rows = {name: table.column(name).to_numpy(zero_copy_only=False)
            for name in ("index", "a", "b", "hole_distance", "in_hole", "split")}
    rows["image"] = decode_images(table)
    return rows


def read_split_images(data_dir: str | Path, split: str) -> np.ndarray:
    """The decoded images (N, R, R) of one split's rows, in index order; no other row's PNG is decoded."""
    table = pa.concat_tables(pq.read_table(str(p), columns=["index", "image"], filters=[("split", "==", split)])
                             for p in dataset_files(data_dir, dataset="polar"))
    return decode_images(table.sort_by("index"))
