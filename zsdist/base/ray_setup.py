"""Connecting to Ray: a local in-process cluster by default, an existing one when RAY_ADDRESS is set.

It lives in datagen, the lower of the two packages, because both datagen and zsdist start Ray.
"""

import logging
import os
import secrets
import socket
import tempfile
from pathlib import Path

import ray

from zsdist.base.console import note, quiet_library_logs, verbose
from zsdist.base.errors import UserInputError
from zsdist.base.ray_internals import TRAIN_POLL_ENV

# Ray Train's controller collects each worker's report when it polls its workers, every 2 s by
# default, and a worker's next report waits for the previous one to be collected: a run of short
# epochs (tiny models, searches, tests) is held to one epoch per 2 s, and every run ends up to 2 s
# after its last epoch. A local cluster polls every 0.25 s instead (a test of 4 tiny epochs ran in
# 39 s instead of 52 s); set the variable yourself on a cluster's nodes (cluster/README.md).
LOCAL_TRAIN_POLL_S = "0.25"
# The GCS address (host:port) of the cluster a user means. When another Ray already holds a port that
# `ray start` asked for, it prints a bind error but exits 0, and `ray job submit` to that port reaches
# the other cluster; a job whose runtime env names its cluster here then stops with one line instead.
CLUSTER_ENV = "ZSDIST_RAY_CLUSTER"


def init_ray(*, num_cpus: int | None = None, object_store_memory: int | None = None) -> None:
    """Start (or join) Ray once per process; later calls are no-ops.

    Without RAY_ADDRESS a local cluster starts in this process, bound to 127.0.0.1 with the
    dashboard on loopback (it also silences the State API warnings Ray Train prints without it), and
    with token auth like every other cluster (ensure_auth_token).
    With RAY_ADDRESS (a `ray job submit` driver, or a user pointing at a cluster) Ray joins it and
    the resource arguments are ignored; with ZSDIST_RAY_CLUSTER too, it must be that cluster.
    """
    if ray.is_initialized():
        return
    # Ray's workers' output stays in the session's log files unless asked for (zsdist -v).
    quiet = {"log_to_driver": verbose(), "logging_level": logging.INFO if verbose() else logging.WARNING}
    if os.environ.get("RAY_ADDRESS"):
        context = ray.init(address=os.environ["RAY_ADDRESS"], **quiet)
        check_cluster(context.address_info["gcs_address"])
    else:
        os.environ.setdefault(TRAIN_POLL_ENV, LOCAL_TRAIN_POLL_S)  # inherited by the local cluster's processes
        ensure_auth_token()
        # address="local": a new cluster of this process's own, never one that `ray start` left on the
        # machine (ray.init() alone joins the last one started, another user's or another test's).
        context = ray.init(address="local", num_cpus=num_cpus, object_store_memory=object_store_memory,
                           include_dashboard=True, dashboard_host="127.0.0.1", **quiet)
    quiet_library_logs()  # Ray Data configures its logger when ray.init imports it
    if not verbose():
        note(f"Ray's own logs: {Path(context.address_info['session_dir']) / 'logs'} (zsdist -v shows them here)")


def check_cluster(joined: str) -> None:
    """UserInputError unless the cluster joined (its GCS host:port) is the one ZSDIST_RAY_CLUSTER names."""
    named = os.environ.get(CLUSTER_ENV, "")
    if named and _endpoint(named) != _endpoint(joined):
        ray.shutdown()
        raise UserInputError(
            f"this process joined the Ray cluster at {joined}, not the one at {named} that {CLUSTER_ENV} names: "
            "another Ray on that machine holds a port your head asked for (`ray start` warns and goes on); "
            "restart your head with free --port and --dashboard-port values and submit to its dashboard")


def _endpoint(address: str) -> tuple[str, int]:
    """(IP, port) of host:port, so that a name and its address compare equal."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        return socket.gethostbyname(host), int(port)
    except (OSError, ValueError):
        raise UserInputError(f"{CLUSTER_ENV}={address!r} is not a Ray head's host:port (e.g. 127.0.0.1:6379): "
                             "set it to the --port address of your `ray start --head`") from None


def ensure_auth_token() -> None:
    """Under token auth (RAY_AUTH_MODE=token, or unset: Ray's servers then enable it), make sure a token
    is there for a local cluster: the user's own (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or
    ~/.ray/auth_token), else a new one in ~/.ray/auth_token, where `ray get-auth-token --generate`
    puts it and every Ray client looks, readable by the user alone."""
    if os.environ.get("RAY_AUTH_MODE", "token") != "token" or os.environ.get("RAY_AUTH_TOKEN"):
        return
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return  # the user's choice; Ray's own error names the file if it is missing
    path = Path.home() / ".ray" / "auth_token"
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".auth_token.", delete=False) as tmp:
        tmp.write(secrets.token_hex(32))  # NamedTemporaryFile makes it 0600
    try:
        os.link(tmp.name, path)  # atomic, and never over a token another process wrote meanwhile
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp.name)
