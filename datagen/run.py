"""Running a generation: plan the shards, resume what is done, render and write the rest on Ray.

generate_shards is dataset-agnostic (it maps any `render(start, stop) -> pa.Table` over a shard
plan); generate_polar binds it to the polar spec and renderer.
"""

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import ray

from datagen.errors import ConfigError, DataError
from datagen.ray_setup import init_ray
from datagen.render.polar import POLAR_FEATURES, render_rows
from datagen.shards import (
    MANIFEST_NAME,
    ShardInfo,
    check_foreign_files,
    ensure_writable_dir,
    read_manifest,
    remove_stale_temp_files,
    shard_info,
    shard_name,
    shard_state,
    write_manifest,
    write_shard,
)
from datagen.spec.polar import PolarSpec, shard_ranges

# Rows [start, stop) of the dataset as an Arrow table; must pickle (a module function or a partial).
RenderShard = Callable[[int, int], pa.Table]

PROGRESS_INTERVAL_S = 2.0


@dataclass(frozen=True)
class GenerationReport:
    """What one run did: shard counts, time, images rendered, and each shard's fate by name."""

    written: int  # shards that did not exist
    skipped: int  # shards already complete
    rewritten: int  # partial or changed shards written again
    seconds: float
    images: int  # rendered by this run
    actions: dict[str, Literal["written", "skipped", "rewritten"]]


def generate_polar(
    spec: PolarSpec, out_dir: Path | str, *, num_workers: int = 2, progress: bool = True
) -> GenerationReport:
    """Generate (or finish) the polar dataset of `spec` in out_dir."""
    return generate_shards(
        dataset="polar",
        render=functools.partial(render_rows, spec),
        ranges=shard_ranges(spec),
        out_dir=out_dir,
        spec_json=spec.to_json(),
        fingerprint=spec.fingerprint(),
        features=POLAR_FEATURES,
        num_workers=num_workers,
        progress=progress,
    )


def generate_shards(
    *,
    dataset: str,
    render: RenderShard,
    ranges: list[tuple[int, int]],
    out_dir: Path | str,
    spec_json: str,
    fingerprint: str,
    features: dict,
    num_workers: int,
    progress: bool,
) -> GenerationReport:
    """Write one shard per [start, stop) range, skipping complete ones, then the manifest.

    Every check that can refuse the directory (unwritable, foreign or other-spec files) runs before
    anything is rendered or deleted.
    """
    if num_workers < 1:
        raise ConfigError(f"num_workers must be >= 1 (got {num_workers}): pass --num_workers 1 or more")
    started = time.perf_counter()
    out_dir = ensure_writable_dir(out_dir)
    names = [shard_name(index, len(ranges)) for index in range(len(ranges))]
    check_foreign_files(out_dir, names, fingerprint, spec_json)
    states = [
        shard_state(out_dir / name, fingerprint, stop - start, spec_json=spec_json)
        for name, (start, stop) in zip(names, ranges)
    ]
    previous_hashes = _previous_hashes(out_dir, fingerprint)
    complete = {}
    for index, state in enumerate(states):
        if state == "complete":
            info = shard_info(out_dir / names[index])
            # Readable but changed since the last finished run: deterministic output says redo it.
            if previous_hashes.get(info.name, info.sha256) == info.sha256:
                complete[index] = info
            else:
                states[index] = "partial"
    todo = [index for index in range(len(ranges)) if index not in complete]
    remove_stale_temp_files(out_dir)
    if todo:
        (out_dir / MANIFEST_NAME).unlink(missing_ok=True)  # The dataset is incomplete until the end.
        if progress:
            print(f"[datagen] {dataset}: {len(todo)} of {len(ranges)} shards to write into {out_dir}", flush=True)
    write = functools.partial(
        _render_and_write, render, out_dir=out_dir, count=len(ranges),
        spec_json=spec_json, fingerprint=fingerprint, features=features,
    )
    written = _run_in_parallel(write, [(index, *ranges[index]) for index in todo], num_workers, dataset, progress)
    write_manifest(
        out_dir, dataset=dataset, spec_json=spec_json, fingerprint=fingerprint,
        shards=[complete.get(index) or written[index] for index in range(len(ranges))],
    )
    actions = {
        name: "skipped" if index in complete else "written" if states[index] == "missing" else "rewritten"
        for index, name in enumerate(names)
    }
    return GenerationReport(
        written=list(actions.values()).count("written"),
        skipped=list(actions.values()).count("skipped"),
        rewritten=list(actions.values()).count("rewritten"),
        seconds=time.perf_counter() - started,
        images=sum(info.rows for info in written.values()),
        actions=actions,
    )


def _previous_hashes(out_dir: Path, fingerprint: str) -> dict[str, str]:
    """Shard hashes from the manifest of an earlier finished run of the same spec, if any.

    A missing, unreadable or other-spec manifest gives none: this run rewrites the manifest anyway,
    and shards of another spec have already been refused by shard_state.
    """
    try:
        manifest = read_manifest(out_dir)
    except DataError:
        return {}
    if manifest.get("fingerprint") != fingerprint:
        return {}
    return {shard["name"]: shard["sha256"] for shard in manifest.get("shards", [])}


def _render_and_write(
    render: RenderShard, index: int, start: int, stop: int, *,
    out_dir: Path, count: int, spec_json: str, fingerprint: str, features: dict,
) -> ShardInfo:
    return write_shard(
        render(start, stop), out_dir, index, count, spec_json=spec_json, fingerprint=fingerprint, features=features
    )


@ray.remote(num_cpus=1)
def _remote_call(function: Callable, *args) -> ShardInfo:
    return function(*args)


def _run_in_parallel(
    write: Callable[[int, int, int], ShardInfo],
    jobs: list[tuple[int, int, int]],
    num_workers: int,
    dataset: str,
    progress: bool,
) -> dict[int, ShardInfo]:
    """Run write(index, start, stop) for every job as Ray tasks, at most num_workers at a time.

    Each task asks for one CPU, so a 2-CPU machine runs two while the driver only waits; the window
    keeps a huge plan (the fonts) from flooding the scheduler. Tasks write their own shard files, so
    on a multi-node cluster out_dir must be shared storage.
    """
    if not jobs:
        return {}
    init_ray()  # Joins or starts Ray only if the caller has not initialised it.
    results: dict[int, ShardInfo] = {}
    queue = list(reversed(jobs))
    pending: dict[ray.ObjectRef, int] = {}
    started = last_report = time.perf_counter()
    try:
        while queue or pending:
            while queue and len(pending) < num_workers:
                index, start, stop = queue.pop()
                task = _remote_call.options(name=f"datagen-{dataset}-{index}")
                pending[task.remote(write, index, start, stop)] = index
            [ready], _ = ray.wait(list(pending), num_returns=1)
            results[pending.pop(ready)] = ray.get(ready)
            now = time.perf_counter()
            if progress and (now - last_report >= PROGRESS_INTERVAL_S or not (queue or pending)):
                images = sum(info.rows for info in results.values())
                print(
                    f"[datagen] {dataset}: {len(results)}/{len(jobs)} shards, {images} images, "
                    f"{images / (now - started):.0f} images/s",
                    flush=True,
                )
                last_report = now
    finally:
        for ref in pending:
            ray.cancel(ref)
    return results
