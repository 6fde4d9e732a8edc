"""Connecting to Ray: a local in-process cluster by default, an existing one when RAY_ADDRESS is set.

It lives in datagen, the lower of the two packages, because both datagen and zsdist start Ray.
"""

import os

import ray


def init_ray(*, num_cpus: int | None = None, object_store_memory: int | None = None) -> None:
    """Start (or join) Ray once per process; later calls are no-ops.

    Without RAY_ADDRESS a local cluster starts in this process, bound to 127.0.0.1 with the
    dashboard on loopback (it also silences the State API warnings Ray Train prints without it).
    With RAY_ADDRESS (a `ray job submit` driver, or a user pointing at a cluster) Ray joins it and
    the resource arguments are ignored.
    """
    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=True)
        return
    ray.init(
        num_cpus=num_cpus,
        object_store_memory=object_store_memory,
        include_dashboard=True,
        dashboard_host="127.0.0.1",
        log_to_driver=True,
    )
