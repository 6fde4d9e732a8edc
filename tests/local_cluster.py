"""A Ray cluster of several nodes on this machine, started the way an operator starts one.

Each node is its own `ray start --block` process group (a head, then worker nodes that join it), so
a test can kill one node exactly as a lost machine dies: its raylet, object store and workers go at
once while the other nodes carry on. With `network=BridgeNetwork()` each worker node also has a
network stack of its own (tests/network_namespaces.py) and the nodes talk over a bridge; without
it, every node has a loopback address of its own. Token authentication is on: the nodes read the
token from a file, as `ray get-auth-token --generate` leaves it, and job clients send it.

Every node gets ports of its own (the suite's in-process cluster already holds Ray's defaults) and a
short temp dir (Ray's unix socket paths must fit in 107 characters).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from network_namespaces import BridgeNetwork
from ray.job_submission import JobStatus, JobSubmissionClient

from zsdist.base.ray_internals import TRAIN_POLL_ENV
from zsdist.base.ray_setup import LOCAL_TRAIN_POLL_S

HEAD_IP = "127.0.0.2"  # loopback, but not 127.0.0.1 (see add_worker)
PORT_FLAGS = ("dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port",
              "metrics-export-port", "node-manager-port", "object-manager-port")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Node:
    name: str
    process: subprocess.Popen
    temp_dir: str

    def kill(self, worker_pids: list[int] = ()) -> None:
        """SIGKILL the node's processes (raylet, object store, agents) and its workers' at once.

        Ray workers leave the node's process group and rename themselves (`ray::_ShardWriter`), so
        their pids come from the State API (LocalCluster.lose_node).
        """
        for kill in (lambda: os.killpg(self.process.pid, signal.SIGKILL),
                     *(lambda pid=pid: os.kill(pid, signal.SIGKILL) for pid in worker_pids)):
            try:
                kill()
            except ProcessLookupError:
                pass
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # `ray start --block` stops the processes it started
            try:
                self.process.wait(timeout=5)  # it may take 30 s to drain: a test has no need to wait
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@dataclass
class LocalCluster:
    """A head plus worker nodes; `client()` submits jobs with the token, `client(token=None)` without."""

    root: Path
    network: BridgeNetwork | None = None
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.token_file = self.root / "auth_token"
        self.token_file.write_text(self.token)
        self.token_file.chmod(0o600)
        self.gcs_port, self.dashboard_port = free_port(), free_port()

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def head_ip(self) -> str:
        return self.network.head_address if self.network else HEAD_IP

    @property
    def address(self) -> str:
        return f"{self.head_ip}:{self.gcs_port}"

    def env(self) -> dict[str, str]:
        """The environment of every node and of every process that joins the cluster."""
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(self.token_file))
        env.setdefault(TRAIN_POLL_ENV, LOCAL_TRAIN_POLL_S)  # as a local cluster of init_ray
        # A killed node is declared dead after ~5 s instead of ~30 s, so its work is rescheduled soon: its
        # refused connections fail each check at once. A live node gets 10 s to answer each check, so one
        # stalled by a busy machine (the test suite runs on two processes) is not declared dead.
        env.update(RAY_health_check_period_ms="1000", RAY_health_check_timeout_ms="10000",
                   RAY_health_check_failure_threshold="5")
        if self.network:  # node addresses must bypass the offline environment's dead proxy
            env["no_proxy"] = env["NO_PROXY"] = f"{env.get('no_proxy', '127.0.0.1,localhost')},{self.network.no_proxy()}"
        return env

    def start_head(self, *, cpus: int) -> Node:
        # The head's gloo traffic leaves by the bridge (the interface of the node's address).
        return self._start("head", ["--head", f"--port={self.gcs_port}", "--include-dashboard=true",
                                    "--dashboard-host=127.0.0.1", f"--dashboard-port={self.dashboard_port}",
                                    f"--ray-client-server-port={free_port()}"], cpus=cpus,
                           node_ip=self.head_ip, gloo_interface=self.network.bridge if self.network else None)

    def add_worker(self, *, cpus: int, name: str = "worker", private_dir: Path | None = None) -> Node:
        """A worker node; with private_dir, one whose view of that directory is its own (an empty
        tmpfs in a mount namespace of its own), like a machine with a local disk at that path."""
        # Without a network of its own, each node a loopback address of its own: `ray start` swaps
        # 127.0.0.1 itself for the machine's network address (found by a routing probe towards
        # 8.8.8.8) on a multi-node cluster.
        own = self.network.add_worker() if self.network else None
        node = self._start(name, [f"--address={self.address}"], cpus=cpus, private_dir=private_dir,
                           resources={name: 1},  # lets a test place work on this node
                           node_ip=own.address if own else f"127.0.0.{3 + len(self.nodes)}",
                           namespace=own.namespace if own else None, gloo_interface=own.interface if own else None)
        self.wait_for_nodes(len([n for n in self.nodes if n.process.poll() is None]))
        return node

    def _start(self, name: str, args: list[str], *, cpus: int, node_ip: str, resources: dict | None = None,
               private_dir: Path | None = None, namespace: str | None = None,
               gloo_interface: str | None = None) -> Node:
        temp_dir = tempfile.mkdtemp(prefix=f"zs-{name}-", dir="/tmp")
        command = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", f"--node-ip-address={node_ip}",
                   f"--num-cpus={cpus}", f"--temp-dir={temp_dir}", "--object-store-memory=200000000",
                   *[f"--{flag}={free_port()}" for flag in PORT_FLAGS], *args]
        if resources:
            command.append(f"--resources={json.dumps(resources)}")
        if private_dir is not None:
            command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                       'mount -t tmpfs zsdist-private "$0" && exec "$@"', str(private_dir), *command]
        if namespace is not None:
            command = ["ip", "netns", "exec", namespace, *command]
        env = {**self.env(), **({"GLOO_SOCKET_IFNAME": gloo_interface} if gloo_interface else {})}
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        node = Node(name, process, temp_dir)
        self.nodes.append(node)
        return node

    def client(self, *, token: str | None = "own", timeout: float = 90) -> JobSubmissionClient:
        """A Jobs API client; token="own" sends the cluster's token, None sends none."""
        token = self.token if token == "own" else token
        headers = {"Authorization": f"Bearer {token}"} if token else None
        deadline = time.time() + timeout
        while True:
            try:
                return JobSubmissionClient(self.dashboard, headers=headers)
            except ConnectionError:
                if time.time() > deadline or self.nodes[0].process.poll() is not None:
                    raise
                time.sleep(1)

    def wait_for_nodes(self, count: int, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while self.alive_nodes() < count:
            if time.time() > deadline:
                raise TimeoutError(f"{count} Ray nodes did not come up within {timeout:.0f} s")
            time.sleep(1)

    def alive_nodes(self) -> int:
        """Alive nodes as the head's GCS sees them (through the dashboard's State API)."""
        request = urllib.request.Request(f"{self.dashboard}/nodes?view=summary",
                                         headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                summary = json.load(response)["data"]["summary"]
        except OSError:
            return 0
        return sum(1 for node in summary if node["raylet"]["state"] == "ALIVE")

    def state(self, kind: str, **filters: str) -> list[dict]:
        """Rows of the State API (`ray list actors|nodes|workers --detail`), through the dashboard."""
        query = "&".join(f"filter_keys={k}&filter_predicates=%3D&filter_values={v}" for k, v in filters.items())
        request = urllib.request.Request(f"{self.dashboard}/api/v0/{kind}?limit=1000&detail=1&{query}",
                                         headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["data"]["result"]["result"]

    def worker_node_id(self) -> str:
        """The Ray node id of the one worker node (tests here run a head and one worker node)."""
        [row] = [n for n in self.state("nodes", state="ALIVE") if not n["is_head_node"]]
        return row["node_id"]

    def lose_node(self, node: Node) -> None:
        """Kill a worker node like a lost machine: everything it runs dies at the same moment."""
        pids = [int(w["pid"]) for w in self.state("workers", node_id=self.worker_node_id(), is_alive="true")]
        node.kill(pids)
        self.nodes.remove(node)
        shutil.rmtree(node.temp_dir, ignore_errors=True)  # its logs go with it, as with a lost machine

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
        if self.network:
            self.network.close()


def can_make_private_mounts() -> bool:
    """Mount namespaces need root (or user namespaces); CI machines may not allow them."""
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "--mount", "true"], capture_output=True, check=False).returncode == 0


def submit(client: JobSubmissionClient, *, entrypoint: str, runtime_env: dict, timeout: float = 120,
           submission_id: str | None = None) -> str:
    """Submit as `ray job submit` does, retrying while the head's job agent is still registering."""
    deadline = time.time() + timeout
    while True:
        try:
            return client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env, submission_id=submission_id)
        except RuntimeError as error:
            if "No available agent" not in str(error) or time.time() > deadline:
                raise
            time.sleep(2)


def wait_for(client: JobSubmissionClient, job_id: str, *, timeout: float = 300) -> JobStatus:
    deadline = time.time() + timeout
    while not (status := client.get_job_status(job_id)).is_terminal():
        if time.time() > deadline:
            raise TimeoutError(client.get_job_logs(job_id)[-3000:])
        time.sleep(1)
    return status

