"""An S3-compatible object store on loopback for the storage tests: moto's server in its own process.

pyarrow's S3 client (datasets, Ray Train checkpoints) and boto3 (MLflow artifacts) talk to it over
HTTP exactly as they would to S3; they find it through AWS_ENDPOINT_URL, which tests/conftest.py
sets before any Ray process starts so that every worker sees the same endpoint.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Self
from urllib.parse import urlparse


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class S3Server:
    """`with S3Server(log_dir) as s3:` serves AWS_ENDPOINT_URL until the block ends."""

    def __init__(self, log_dir: Path):
        self.endpoint = os.environ["AWS_ENDPOINT_URL"]
        self.log = log_dir / "s3-server.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Self:
        port = urlparse(self.endpoint).port
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the S3 server exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"the S3 server did not listen on {self.endpoint} within 60 s")

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)

    def client(self):
        import boto3

        return boto3.client("s3")

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """The objects under prefix, less the empty "dir/" markers pyarrow's create_dir leaves."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", [])
                      if not item["Key"].endswith("/"))
