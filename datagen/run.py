"""Running a generation: plan the shards, resume what is done, render and write the rest on Ray.

generate_shards is dataset-agnostic: Ray actors each build the dataset's renderer once (the Fonts
renderer loads 100 fonts; polar's is a plain function) and then turn shard keys into written shards.
generate_polar binds it to the polar spec, whose shard keys are (start, stop) row ranges.
"""

import functools
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import ray

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
from zsdist.base.console import note, progress_bar
from zsdist.base.errors import ConfigError, DataError
from zsdist.base.ray_setup import init_ray
from zsdist.base.shared_storage import require_shared_dir
from zsdist.base.storage import RemotePath, is_local

# One shard's rows as an Arrow table, from its key (polar: a (start, stop) row range).
RenderShard = Callable[[Any], pa.Table]
# Builds a RenderShard inside each actor, once; must pickle (a module function or a partial).
MakeRenderer = Callable[[], RenderShard]

WRITER_RESTARTS = 4  # per writer: how many lost processes or nodes a generation survives


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
    ranges = shard_ranges(spec)
    return generate_shards(
        dataset="polar",
        make_renderer=functools.partial(_polar_renderer, spec),
        shard_keys=ranges,
        shard_rows=[stop - start for start, stop in ranges],
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
    make_renderer: MakeRenderer,
    shard_keys: list[Hashable],
    shard_rows: list[int],
    out_dir: Path | RemotePath | str,
    spec_json: str,
    fingerprint: str,
    features: dict,
    num_workers: int,
    progress: bool,
) -> GenerationReport:
    """Write one shard per key (`shard_rows[i]` rows each), skipping complete ones, then the manifest.

    Every check that can refuse the directory (unwritable, foreign or other-spec files) runs before
    anything is rendered or deleted.
    """
    if num_workers < 1:
        raise ConfigError(f"num_workers must be >= 1 (got {num_workers}): pass --num_workers 1 or more")
    started = time.perf_counter()
    out_dir = ensure_writable_dir(out_dir)
    count = len(shard_keys)
    names = [shard_name(index, count) for index in range(count)]
    check_foreign_files(out_dir, names, fingerprint, spec_json)
    states = [
        shard_state(out_dir / name, fingerprint, rows, spec_json=spec_json) for name, rows in zip(names, shard_rows)
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
    todo = [index for index in range(count) if index not in complete]
    remove_stale_temp_files(out_dir)
    if todo:
        (out_dir / MANIFEST_NAME).unlink(missing_ok=True)  # The dataset is incomplete until the end.
        if progress:
            note(f"datagen {dataset}: {len(todo)} of {count} shards to write into {out_dir}")
    target = _ShardTarget(out_dir=out_dir, count=count, spec_json=spec_json, fingerprint=fingerprint,
                          features=features)
    jobs = [(index, shard_keys[index]) for index in todo]
    written = _run_on_actors(make_renderer, target, jobs, num_workers, dataset, progress)
    remove_stale_temp_files(out_dir)  # left by writers that were killed mid-write and retried
    write_manifest(
        out_dir, dataset=dataset, spec_json=spec_json, fingerprint=fingerprint,
        shards=[complete.get(index) or written[index] for index in range(count)],
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


def _previous_hashes(out_dir: Path | RemotePath, fingerprint: str) -> dict[str, str]:
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


def _polar_renderer(spec: PolarSpec) -> RenderShard:
    return lambda key: render_rows(spec, *key)


@dataclass(frozen=True)
class _ShardTarget:
    """Where and how every shard of one generation is written."""

    out_dir: Path | RemotePath
    count: int
    spec_json: str
    fingerprint: str
    features: dict


# A writer that dies (its process killed, its node lost) is restarted by Ray, on any node with a free
# CPU, and the shard it was writing is retried: shards are deterministic and written atomically, so
# a retry can only write the same bytes. A killed write leaves at most a temp file, swept at the end.
# Retries are unlimited: until Ray declares a lost node dead, calls to its actors fail at once and
# would use up a finite count; a writer past its restarts fails its calls for good (ActorDiedError).
@ray.remote(num_cpus=1, max_restarts=WRITER_RESTARTS, max_task_retries=-1)
class _ShardWriter:
    """Builds the dataset's renderer once (fonts load here), then renders and writes shard after shard."""

    def __init__(self, make_renderer: MakeRenderer, target: _ShardTarget) -> None:
        self.render, self.target = make_renderer(), target

    def write(self, index: int, key: Hashable) -> tuple[int, ShardInfo]:
        t = self.target
        table = self.render(key)
        return index, write_shard(table, t.out_dir, index, t.count, spec_json=t.spec_json,
                                  fingerprint=t.fingerprint, features=t.features)


def _run_on_actors(
    make_renderer: MakeRenderer,
    target: _ShardTarget,
    jobs: list[tuple[int, Hashable]],
    num_workers: int,
    dataset: str,
    progress: bool,
) -> dict[int, ShardInfo]:
    """Run every (index, key) job on `num_workers` actors, one shard in flight per actor.

    Each actor takes one CPU, so a 2-CPU machine runs two while the driver only waits; feeding one
    shard at a time keeps a huge plan (the fonts) from flooding the scheduler. Actors write their
    own shard files, so on a multi-node cluster out_dir must be shared storage. A writer lost
    mid-shard is restarted and the shard retried (see _ShardWriter); one lost more than
    WRITER_RESTARTS times fails the run, and a rerun resumes from the shards already written.
    """
    if not jobs:
        return {}
    init_ray()  # Joins or starts Ray only if the caller has not initialised it.
    if is_local(target.out_dir):  # an object store is shared by nature
        require_shared_dir(target.out_dir, what="dataset output")  # writers on every node write shards there
    actors = [_ShardWriter.remote(make_renderer, target) for _ in range(min(num_workers, len(jobs)))]
    results: dict[int, ShardInfo] = {}
    queue = list(reversed(jobs))
    pending: dict[ray.ObjectRef, ray.actor.ActorHandle] = {}
    bar = progress_bar(total=len(jobs), desc=f"datagen {dataset}", unit="shard") if progress else None
    started, images = time.perf_counter(), 0
    try:
        while queue or pending:
            for actor in actors:
                if queue and actor not in pending.values():
                    pending[actor.write.remote(*queue.pop())] = actor
            [ready], _ = ray.wait(list(pending), num_returns=1)
            pending.pop(ready)
            index, info = ray.get(ready)
            results[index] = info
            images += info.rows
            if bar is not None:
                bar.set_postfix(images=images, images_per_s=f"{images / (time.perf_counter() - started):.0f}",
                                refresh=False)
                bar.update()
    finally:
        if bar is not None:
            bar.close()
        for actor in actors:
            ray.kill(actor)
    return results
