"""The one on-disk format for zero-shot classification on precomputed features (CADA-VAE and others).

A dataset directory holds
- shard-{i:05d}-of-{n:05d}.parquet: one row per image, `feature` (fixed-size list<float32>[D]),
  `label` (int64 position in classes.parquet) and `split` ("trainval", "test_seen", "test_unseen");
- classes.parquet: one row per class, `name`, `attribute` (fixed-size list<float32>[d]) and `seen`
  (the class has trainval images);
- _manifest.json: the description (name, dims, counts, scaling, source, content hash) and the files;
  written last, so its presence means the dataset is complete.
Parquet readers of the whole directory would also pick up classes.parquet, so row readers take the
shard list from the manifest (as `read_feature_dataset` and `ray_feature_dataset` do).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from datagen.shards import (
    MANIFEST_NAME,
    SHARD_NAME,
    atomic_write,
    ensure_writable_dir,
    remove_stale_temp_files,
    visible_parquet_files,
    write_shard,
)
from zsdist.base.errors import DataError
from zsdist.base.storage import RemotePath, location

FORMAT = "zsdist.features/1"
SPLITS = ("trainval", "test_seen", "test_unseen")
CLASSES_NAME = "classes.parquet"
REGENERATE = "zsdist datagen xlsa17"


@dataclass(frozen=True)
class FeatureDataset:
    """A whole feature dataset in memory: rows, classes and the manifest it was described by."""

    features: np.ndarray  # (N, D) float32
    labels: np.ndarray  # (N,) int64 class positions
    splits: np.ndarray  # (N,) str, one of SPLITS
    class_names: list[str]
    attributes: np.ndarray  # (C, d) float32
    seen: np.ndarray  # (C,) bool
    description: dict

    def split_rows(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Features and labels of the rows of one split."""
        mask = self.splits == split
        return self.features[mask], self.labels[mask]


def write_feature_dataset(
    out_dir: Path | RemotePath | str,
    *,
    name: str,
    features: np.ndarray,
    labels: np.ndarray,
    splits: np.ndarray,
    class_names: list[str],
    attributes: np.ndarray,
    source: str,
    scaling: dict,
    rows_per_shard: int = 50_000,
) -> Path | RemotePath:
    """Write the dataset atomically file by file; a complete dataset with the same description is kept as is.

    `scaling` (JSON-able) and `source` (where the data came from) go into the manifest as given.
    """
    features = np.ascontiguousarray(features, dtype=np.float32)
    labels, splits = np.asarray(labels).astype(np.int64), np.asarray(splits).astype(str)
    attributes = np.ascontiguousarray(attributes, dtype=np.float32)
    class_names = [str(class_name) for class_name in class_names]
    seen = _check_rows(features, labels, splits, class_names, attributes)
    content = hashlib.sha256()  # makes "same description" mean "same data", not only same shapes
    for part in (features, labels, attributes, json.dumps([splits.tolist(), class_names]).encode()):
        content.update(part)
    description = {
        "format": FORMAT,
        "name": name,
        "source": source,
        "feature_dim": features.shape[1],
        "attribute_dim": attributes.shape[1],
        "rows": len(labels),
        "counts": {split: int(np.count_nonzero(splits == split)) for split in SPLITS},
        "classes": len(class_names),
        "seen_classes": int(seen.sum()),
        "unseen_classes": int((~seen).sum()),
        "scaling": scaling,
        "rows_per_shard": rows_per_shard,
        "content_sha256": content.hexdigest(),
    }
    spec_json = json.dumps(description, sort_keys=True)
    description = json.loads(spec_json)  # normalised, so it compares equal to a reread manifest

    out_dir = ensure_writable_dir(out_dir)
    remove_stale_temp_files(out_dir)  # shards and manifest; classes.parquet's are ours to name too
    for temp in out_dir.glob(f".{CLASSES_NAME}.*.tmp"):
        temp.unlink()
    if _is_complete(out_dir, description):
        return out_dir
    old_shards = _own_old_shards(out_dir)
    # Until the new manifest lands the directory reads as unfinished, never as the old dataset.
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)

    fingerprint = hashlib.sha256(spec_json.encode()).hexdigest()
    shard_args = {"spec_json": spec_json, "fingerprint": fingerprint,
                  "features": _hf_features(features.shape[1], class_names)}
    count, shards = -(-len(labels) // rows_per_shard), []
    for index, start in enumerate(range(0, len(labels), rows_per_shard)):
        rows = slice(start, start + rows_per_shard)
        table = pa.table({"feature": _lists(features[rows]), "label": labels[rows], "split": splits[rows]})
        shards.append(write_shard(table, out_dir, index, count, **shard_args))
    for stale in old_shards - {shard.name for shard in shards}:
        (out_dir / stale).unlink()

    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"name": class_names, "attribute": _lists(attributes), "seen": seen}), sink)
    classes_bytes = sink.getvalue().to_pybytes()
    atomic_write(out_dir / CLASSES_NAME, classes_bytes)
    manifest = {
        **description,
        "shards": [asdict(shard) for shard in shards],
        "classes_file": {"name": CLASSES_NAME, "bytes": len(classes_bytes)},
    }
    atomic_write(out_dir / MANIFEST_NAME, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return out_dir


def read_feature_dataset(data_dir: Path | RemotePath | str) -> FeatureDataset:
    """Read and validate a whole feature dataset with pyarrow (no Ray)."""
    data_dir = location(data_dir)
    manifest = _read_manifest(data_dir)
    hint = f"regenerate it with `{REGENERATE} ... --out {data_dir}` (source: {manifest.get('source')})"
    classes_count = manifest["classes"]

    tables = []
    for shard in manifest["shards"]:
        table = _read_table(data_dir / shard["name"], shard, {"feature": manifest["feature_dim"]}, hint)
        tables.append(table.select(["feature", "label", "split"]))
    rows = pa.concat_tables(tables).combine_chunks()
    # Writable copies: zero-copy views of Arrow buffers are read-only, which torch.from_numpy warns about.
    features = _floats(rows.column("feature")).reshape(len(rows), -1)
    labels = rows.column("label").to_numpy().astype(np.int64)
    splits = rows.column("split").to_numpy(zero_copy_only=False).astype(str)
    counts = {split: int(np.count_nonzero(splits == split)) for split in SPLITS}
    if counts != manifest["counts"]:
        raise DataError(f"{data_dir} has split counts {counts}, the manifest says {manifest['counts']}: {hint}")
    if labels.min() < 0 or labels.max() >= classes_count:
        raise DataError(f"{data_dir} has labels outside 0..{classes_count - 1}: {hint}")

    path = data_dir / CLASSES_NAME
    file = {**manifest["classes_file"], "rows": classes_count}
    classes = _read_table(path, file, {"attribute": manifest["attribute_dim"], "name": None, "seen": None}, hint)
    seen = classes.column("seen").to_numpy().astype(bool)
    if not np.array_equal(seen, _seen_mask(labels, splits, classes_count)):
        raise DataError(f"{path} marks other classes as seen than those with trainval rows: {hint}")
    return FeatureDataset(
        features=features,
        labels=labels,
        splits=splits,
        class_names=[str(class_name) for class_name in classes.column("name").to_pylist()],
        attributes=_floats(classes.column("attribute")).reshape(classes_count, -1),
        seen=seen,
        description=manifest,
    )


def ray_feature_dataset(data_dir: Path | RemotePath | str, split: str):
    """The rows of one split as a Ray Dataset (columns feature, label, split), read from the manifest's shards."""
    import ray.data
    from ray.data.expressions import col, lit

    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    data_dir = location(data_dir)
    manifest = _read_manifest(data_dir)
    paths = [str(data_dir / shard["name"]) for shard in manifest["shards"]]
    return ray.data.read_parquet(paths).filter(expr=col("split") == lit(split))


def _check_rows(features, labels, splits, class_names, attributes) -> np.ndarray:
    """Raise DataError on inconsistent arrays; return the seen mask (classes with trainval rows)."""
    rows = len(labels)
    if features.ndim != 2 or features.shape[0] != rows or splits.shape != (rows,):
        raise DataError(f"features {features.shape}, labels ({rows},) and splits {splits.shape} do not match")
    if attributes.ndim != 2 or attributes.shape[0] != len(class_names):
        raise DataError(f"attributes {attributes.shape} do not match {len(class_names)} class names")
    if unknown := sorted(set(np.unique(splits)) - set(SPLITS)):
        raise DataError(f"unknown split names {unknown}: use {', '.join(SPLITS)}")
    if not np.any(splits == "trainval"):
        raise DataError("no trainval rows: a zero-shot dataset needs seen classes to train on")
    if labels.min() < 0 or labels.max() >= len(class_names):
        raise DataError(f"labels must lie in 0..{len(class_names) - 1}, found {labels.min()}..{labels.max()}")
    return _seen_mask(labels, splits, len(class_names))


def _is_complete(out_dir: Path | RemotePath, description: dict) -> bool:
    try:
        manifest = json.loads((out_dir / MANIFEST_NAME).read_text())
        files = [*manifest["shards"], manifest["classes_file"]]
        sizes_match = all((out_dir / file["name"]).stat().st_size == file["bytes"] for file in files)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return sizes_match and {key: manifest.get(key) for key in description} == description


def _own_old_shards(out_dir: Path | RemotePath) -> set[str]:
    """Names of shards an earlier feature-dataset write left; DataError on any other visible Parquet file."""
    own = set()
    for path in visible_parquet_files(out_dir):
        if path == out_dir / CLASSES_NAME:
            continue
        try:
            spec = json.loads((pq.read_metadata(str(path)).metadata or {}).get(b"zsdist.spec", b"{}"))
        except (pa.ArrowException, OSError, ValueError):
            spec = {}  # shards appear only when complete, so an unreadable one is not ours
        if path.parent != out_dir or not SHARD_NAME.fullmatch(path.name) or spec.get("format") != FORMAT:
            raise DataError(f"{path} is not part of a feature dataset: move it elsewhere or choose another --out")
        own.add(path.name)
    return own


def _read_manifest(data_dir: Path | RemotePath) -> dict:
    fix = f"make it with `{REGENERATE} ... --out {data_dir}`"
    try:
        manifest = json.loads((data_dir / MANIFEST_NAME).read_text())
    except FileNotFoundError:
        raise DataError(f"{data_dir} holds no complete feature dataset (no {MANIFEST_NAME}): {fix}") from None
    except (OSError, ValueError) as error:
        raise DataError(f"{data_dir / MANIFEST_NAME} is unreadable ({error}): {fix}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(f"{data_dir / MANIFEST_NAME} does not describe a feature dataset ({FORMAT}): {fix}")
    return manifest


def _read_table(path: Path | RemotePath, file: dict, columns: dict[str, int | None], hint: str) -> pa.Table:
    """Read one Parquet file the manifest lists; `columns` maps each required column to its float-list length."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path} is missing: {hint}") from None
    if len(data) != file["bytes"]:
        raise DataError(f"{path} has {len(data)} bytes, the manifest says {file['bytes']}: {hint}")
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError):
        raise DataError(f"{path} is not readable Parquet: {hint}") from None
    if table.num_rows != file["rows"]:
        raise DataError(f"{path} has {table.num_rows} rows, the manifest says {file['rows']}: {hint}")
    if missing := [column for column in columns if column not in table.column_names]:
        raise DataError(f"{path} lacks the column(s) {', '.join(missing)}: {hint}")
    for column, length in columns.items():
        if length is not None and (kind := table.schema.field(column).type) != pa.list_(pa.float32(), length):
            raise DataError(f"{path} has column {column} of type {kind}, expected lists of {length} floats: {hint}")
    return table


def _hf_features(dim: int, class_names: list[str]) -> dict:
    """The rows' Hugging Face features (`datasets` reads them; "Sequence" is understood by datasets 3 to 5).

    `label` is a ClassLabel of the class names, which `datasets` keeps only on an int64 column (its
    storage type; any other integer column loads as a bare Value). `split` stays a string Value: a
    ClassLabel there would be dropped the same way on the stored string column, and the string
    already names its split.
    """
    item = {"dtype": "float32", "_type": "Value"}
    return {
        "feature": {"feature": item, "length": dim, "_type": "Sequence"},
        "label": {"names": class_names, "_type": "ClassLabel"},
        "split": {"dtype": "string", "_type": "Value"},
    }


def _seen_mask(labels: np.ndarray, splits: np.ndarray, classes: int) -> np.ndarray:
    return np.isin(np.arange(classes), labels[splits == "trainval"])


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return column.combine_chunks().flatten().to_numpy(zero_copy_only=False, writable=True)


def _lists(matrix: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(matrix.reshape(-1), matrix.shape[1])
