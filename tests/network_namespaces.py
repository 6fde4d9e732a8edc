"""Separate network stacks for the nodes of a LocalCluster: a bridge on the host, a namespace per worker node.

The head stays in the host's namespace on the bridge's address; each worker node runs in a network
namespace of its own, joined to the bridge by a veth pair. Nodes then talk over a network link
(GCS, object transfers, gloo's all-reduce), each has a loopback of its own, and none can reach
another's 127.0.0.1: as separate machines on one switch. Needs root (CAP_NET_ADMIN) and `ip`.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass, field

MAX_WORKERS = 20  # addresses .11-.30; every node's no_proxy names them all before any node starts


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def available() -> bool:
    """Whether this machine lets us make bridges and network namespaces (CI machines may not)."""
    if shutil.which("ip") is None or shutil.which("unshare") is None:
        return False
    probe = f"zsprobe{secrets.token_hex(2)}"
    made = subprocess.run(["ip", "link", "add", probe, "type", "bridge"], capture_output=True, check=False).returncode == 0
    if made:
        subprocess.run(["ip", "link", "del", probe], capture_output=True, check=False)
    return made and subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False).returncode == 0


@dataclass
class WorkerNetwork:
    namespace: str
    address: str
    interface: str  # the namespace's end of its veth pair (gloo's GLOO_SOCKET_IFNAME there)


@dataclass
class BridgeNetwork:
    """A bridge (the head's address, 10.213.N.1/24) and the worker namespaces attached to it."""

    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    subnet: int = field(default_factory=lambda: 1 + secrets.randbelow(254))
    workers: list[WorkerNetwork] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bridge = f"zsbr{self.tag}"  # interface names stay within Linux's 15 characters
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.head_address}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    @property
    def head_address(self) -> str:
        return f"10.213.{self.subnet}.1"

    def no_proxy(self) -> str:
        """Every address a node may have, for no_proxy: gRPC would send them to the dead proxy otherwise."""
        return ",".join([self.head_address, *(f"10.213.{self.subnet}.{11 + k}" for k in range(MAX_WORKERS))])

    def add_worker(self) -> WorkerNetwork:
        k = len(self.workers)
        if k >= MAX_WORKERS:
            raise RuntimeError(f"at most {MAX_WORKERS} worker namespaces")
        worker = WorkerNetwork(f"zs{self.tag}w{k}", f"10.213.{self.subnet}.{11 + k}", f"zs{self.tag}n{k}")
        host_end = f"zs{self.tag}h{k}"
        _ip("netns", "add", worker.namespace)
        self.workers.append(worker)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", worker.interface)
        _ip("link", "set", worker.interface, "netns", worker.namespace)
        _ip("link", "set", host_end, "master", self.bridge)
        _ip("link", "set", host_end, "up")
        _ip("-n", worker.namespace, "addr", "add", f"{worker.address}/24", "dev", worker.interface)
        _ip("-n", worker.namespace, "link", "set", worker.interface, "up")
        _ip("-n", worker.namespace, "link", "set", "lo", "up")
        return worker

    def close(self) -> None:
        """Delete the namespaces (their veth pairs go with them) and the bridge."""
        for worker in self.workers:
            subprocess.run(["ip", "netns", "del", worker.namespace], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)
