"""Refusing a node-local directory where every node of a cluster must see the same files.

Checkpoints (any training worker writes them, a resumed run reads them on any node) and dataset
shards (every writer actor writes its own) need storage that each Ray node mounts at the same path.
On one node any directory does; on several, a directory that only the driver's machine has would
split a run's files between machines and lose them with a node. The check asks every alive node,
with a zero-CPU task pinned to it, whether it sees a marker file the driver has just written there.
It lives in datagen, the lower of the two packages, because both datagen and zsdist write such files.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from zsdist.base.errors import ConfigError

CHECK_TIMEOUT_S = 120.0  # a node busy starting workers may take a while to run the probe


@ray.remote(num_cpus=0)
def _sees(marker: str, token: str) -> bool:
    try:
        return Path(marker).read_text() == token
    except OSError:
        return False


def require_shared_dir(directory: Path | str, *, what: str) -> None:
    """Raise ConfigError if some alive Ray node does not see `directory` (a no-op on one node).

    Call it after ray.init and after creating the directory. `what` names the location in the error
    ("checkpoint storage", "dataset output").
    """
    nodes = [node for node in ray.nodes() if node["Alive"]]
    if len(nodes) < 2:
        return
    token = secrets.token_hex(8)
    marker = Path(directory) / f".zsdist-shared-check-{token}"
    marker.write_text(token)
    try:
        probes = [_sees.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
                  .remote(str(marker), token) for node in nodes]
        seen = ray.get(probes, timeout=CHECK_TIMEOUT_S)
    except ray.exceptions.GetTimeoutError:
        raise ConfigError(f"could not check that {what} {directory} is shared: some of the {len(nodes)} Ray "
                          f"nodes ran no task within {CHECK_TIMEOUT_S:.0f} s; check `ray status` and retry") from None
    finally:
        marker.unlink(missing_ok=True)
    blind = [node for node, ok in zip(nodes, seen) if not ok]
    if blind:
        example = blind[0]
        raise ConfigError(
            f"{what} {directory} is not shared: {len(blind)} of {len(nodes)} Ray nodes cannot see it "
            f"(e.g. node {example['NodeID'][:8]} at {example['NodeManagerAddress']}); put it on storage "
            "that every node mounts at the same path (NFS, EFS, a ReadWriteMany volume) via ZSDIST_HOME "
            "or --storage_path")

