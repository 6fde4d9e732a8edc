"""Parquet shards of a generated dataset: atomic writes, resume states and the manifest.

Dataset-agnostic: callers pass the Arrow table, the spec as canonical JSON, its fingerprint and the
Hugging Face features of their columns. An output directory holds
- shard-{i:05d}-of-{n:05d}.parquet: zstd, deterministic bytes, spec and shard facts in the metadata;
- _manifest.json: written last, so its presence means the generation finished;
- .<name>.<random>.tmp while a write is in flight (readers skip "." and "_" names).
"""

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq

from datagen import GENERATOR_VERSION
from zsdist.base.errors import DataError
from zsdist.base.storage import RemotePath, atomic_write, is_local, location

MANIFEST_NAME = "_manifest.json"
SHARD_NAME = re.compile(r"shard-(\d{5})-of-(\d{5})\.parquet")
# zstd level 3 is zstd's own default; fixed here because it is part of the output bytes.
ZSTD_LEVEL = 3

ShardState = Literal["missing", "complete", "partial"]


@dataclass(frozen=True)
class ShardInfo:
    """One written shard as the manifest lists it."""

    name: str
    rows: int
    sha256: str
    bytes: int


def shard_name(index: int, count: int) -> str:
    """File name of shard `index` of `count`."""
    return f"shard-{index:05d}-of-{count:05d}.parquet"


def ensure_writable_dir(out_dir: Path | RemotePath | str) -> Path | RemotePath:
    """Create out_dir if needed and prove a file can be written there, before any work starts."""
    out_dir = location(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if is_local(out_dir):
            with tempfile.TemporaryFile(dir=out_dir):
                pass
        else:
            probe = out_dir / f".write-probe-{os.getpid()}.tmp"
            probe.write_bytes(b"")
            probe.unlink(missing_ok=True)
    except OSError as error:
        raise DataError(f"cannot write to {out_dir}: {error.strerror or error}: choose a writable --out") from None
    return out_dir


def write_shard(
    table: pa.Table, out_dir: Path | str, index: int, count: int, *, spec_json: str, fingerprint: str, features: dict
) -> ShardInfo:
    """Write shard `index` of `count` atomically and return what the manifest records of it.

    The file appears under its final name only once complete (temp file, fsync, os.replace), so a
    crash leaves at most a dot-prefixed temp file. `features` is the Hugging Face features dict of
    the table's columns (e.g. {"image": {"_type": "Image"}, "a": {"dtype": "float64", "_type": "Value"}}).
    """
    name = shard_name(index, count)
    metadata = {
        "zsdist.spec": spec_json,
        "zsdist.fingerprint": fingerprint,
        "zsdist.generator": GENERATOR_VERSION,
        "zsdist.shard": json.dumps({"index": index, "count": count, "rows": table.num_rows}, sort_keys=True),
        "huggingface": json.dumps({"info": {"features": features}}, sort_keys=True),
    }
    sink = pa.BufferOutputStream()
    # One row group per shard: one read unit per file for Ray Data and `datasets`. One data page per
    # column chunk lets zstd see every repeat in a shard (the Fonts images share glyph streams across
    # 100 palettes: ~3x smaller than 1 MiB pages); images skip the dictionary, which would not pay.
    pq.write_table(
        table.replace_schema_metadata(metadata),
        sink,
        compression="zstd",
        compression_level=ZSTD_LEVEL,
        row_group_size=max(1, table.num_rows),
        data_page_size=max(1 << 20, table.nbytes),
        use_dictionary=[name for name in table.column_names if name != "image"],
    )
    data = sink.getvalue().to_pybytes()
    atomic_write(location(out_dir) / name, data)
    return ShardInfo(name=name, rows=table.num_rows, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))


def remove_stale_temp_files(out_dir: Path | RemotePath) -> None:
    """Delete temp files that an interrupted run of ours left behind (only our own naming)."""
    for path in out_dir.glob(".*.tmp"):
        stem = path.name[1:].rsplit(".", 2)[0]
        if SHARD_NAME.fullmatch(stem) or stem == MANIFEST_NAME:
            path.unlink(missing_ok=True)


def shard_state(path: Path | str, fingerprint: str, rows: int, *, spec_json: str | None = None) -> ShardState:
    """Whether the shard at path is missing, complete (our spec, right shard and rows) or partial.

    Unreadable Parquet (e.g. truncated) is "partial" and will be rewritten. A readable file written for
    another spec, or not by zsdist, raises DataError and is left alone; `spec_json` (this run's spec)
    only makes that message name the differing parameters.
    """
    path = location(path)
    if not path.exists():
        return "missing"
    try:
        metadata = pq.read_metadata(str(path))
    except (pa.ArrowException, OSError):
        return "partial"
    _check_same_spec(path, metadata.metadata or {}, fingerprint, spec_json)
    match = SHARD_NAME.fullmatch(path.name)
    expected = {"index": int(match[1]), "count": int(match[2]), "rows": rows} if match else None
    shard = json.loads(metadata.metadata.get(b"zsdist.shard", b"null"))
    return "complete" if shard == expected and metadata.num_rows == rows else "partial"


def _check_same_spec(path: Path | RemotePath, metadata: dict, fingerprint: str, spec_json: str | None) -> None:
    stored = metadata.get(b"zsdist.fingerprint")
    if stored is None:
        raise DataError(
            f"{path.parent} holds {path.name}, which zsdist did not write: use a new --out directory or remove it"
        )
    if stored.decode() != fingerprint:
        differences = _spec_differences(metadata, spec_json)
        raise DataError(
            f"{path.parent} holds {path.name} written for a different spec ({differences}): "
            "use a new --out directory or remove it"
        )


def _spec_differences(metadata: dict, spec_json: str | None) -> str:
    stored = json.loads(metadata.get(b"zsdist.spec", b"{}"))
    if spec_json is None:
        return ", ".join(f"{key}={value}" for key, value in sorted(stored.items()))
    current = json.loads(spec_json)
    differing = [
        f"{key}={stored.get(key)}, this run {current.get(key)}"
        for key in sorted(set(stored) | set(current))
        if stored.get(key) != current.get(key)
    ]
    generator = metadata.get(b"zsdist.generator", b"unknown").decode()
    return "; ".join(differing) or f"generator {generator}, this run {GENERATOR_VERSION}"


def check_foreign_files(out_dir: Path | RemotePath, expected_names: list[str], fingerprint: str, spec_json: str) -> None:
    """Raise DataError on any Parquet file a reader of out_dir would see that is not a planned shard.

    Nothing is deleted: a file that is not ours, or ours for another spec, is the user's to move.
    """
    expected = set(expected_names)
    for path in visible_parquet_files(out_dir):
        if path.parent == out_dir and path.name in expected:
            continue
        try:
            metadata = pq.read_metadata(str(path)).metadata or {}
        except (pa.ArrowException, OSError):
            metadata = {}
        if b"zsdist.fingerprint" in metadata:
            _check_same_spec(path, metadata, fingerprint, spec_json)
        raise DataError(
            f"{path} is not a shard of this dataset (a Parquet reader of {out_dir} would read it too): "
            "move it elsewhere or choose another --out"
        )


def visible_parquet_files(out_dir: Path | RemotePath) -> list[Path | RemotePath]:
    """Every *.parquet under out_dir that Parquet readers see (none of its path parts start with . or _)."""
    return sorted(
        path
        for path in out_dir.rglob("*.parquet")
        if not any(part.startswith((".", "_")) for part in path.relative_to(out_dir).parts)
    )


def shard_info(path: Path | RemotePath) -> ShardInfo:
    """What the manifest records of an existing shard (hashes the file)."""
    data = path.read_bytes()
    rows = pq.read_metadata(pa.BufferReader(data)).num_rows
    return ShardInfo(name=path.name, rows=rows, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))


def write_manifest(
    out_dir: Path | RemotePath, *, dataset: str, spec_json: str, fingerprint: str, shards: list[ShardInfo]
) -> None:
    """Write _manifest.json atomically; it marks the dataset as complete."""
    manifest = {
        "dataset": dataset,
        "generator": GENERATOR_VERSION,
        "fingerprint": fingerprint,
        "spec": json.loads(spec_json),
        "rows": sum(shard.rows for shard in shards),
        "shards": [asdict(shard) for shard in shards],
    }
    atomic_write(out_dir / MANIFEST_NAME, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


def read_manifest(out_dir: Path | RemotePath | str, *, dataset: str | None = None) -> dict:
    """The parsed manifest, or a DataError that tells how to (finish) generating the dataset.

    `dataset` (e.g. "polar") names the generator command in that message.
    """
    out_dir = location(out_dir)
    try:
        return json.loads((out_dir / MANIFEST_NAME).read_text())
    except FileNotFoundError:
        if not out_dir.is_dir() or not visible_parquet_files(out_dir):
            raise DataError(
                f"{out_dir} holds no generated dataset (no {MANIFEST_NAME}): pass the directory you generated, "
                f"or make one with `zsdist datagen {dataset or '<dataset>'} --out {out_dir}`"
            ) from None
        raise DataError(
            f"{out_dir} holds an unfinished dataset (no {MANIFEST_NAME}): {_rerun_hint(out_dir, dataset)}"
        ) from None
    except (OSError, ValueError) as error:
        raise DataError(f"{out_dir / MANIFEST_NAME} is unreadable ({error}): {_rerun_hint(out_dir, dataset)}") from None


def _rerun_hint(out_dir: Path | RemotePath | str, dataset: str | None) -> str:
    return f"rerun `zsdist datagen {dataset or '<dataset>'} --out {out_dir}` (it resumes)"


def read_spec(out_dir: Path | RemotePath | str, *, dataset: str | None = None) -> dict:
    """The spec (as a dict) the dataset in out_dir was generated from."""
    return read_manifest(out_dir, dataset=dataset)["spec"]


def dataset_files(out_dir: Path | RemotePath | str, *, dataset: str | None = None) -> list[Path | RemotePath]:
    """The shard paths of a finished dataset, after a quick check (sizes and footers, no hashing).

    `dataset` (e.g. "polar") names the generator command in the error message if the manifest is missing.
    """
    manifest = read_manifest(out_dir, dataset=dataset)
    hint = _rerun_hint(out_dir, manifest.get("dataset", dataset))
    paths, out_dir = [], location(out_dir)
    for shard in manifest["shards"]:
        path = out_dir / shard["name"]
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise DataError(f"{path} is missing: {hint}") from None
        if size != shard["bytes"]:
            raise DataError(f"{path} has {size} bytes, the manifest says {shard['bytes']}: {hint}")
        try:
            pq.read_metadata(str(path))
        except (pa.ArrowException, OSError):
            raise DataError(f"{path} is not readable Parquet: {hint}") from None
        paths.append(path)
    return paths
