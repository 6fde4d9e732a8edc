"""The CPU worker set-up: glibc's malloc keeps freed memory, so repeated steps stop faulting pages in.

The first check runs in a fresh interpreter (the heap thresholds are process-wide). No default run is
the control: whether glibc's own dynamic thresholds fault here depends on the process's allocation
history (seen: 0 to 12,448 faults per step for this pattern), which is why the set-up fixes both.
The second looks where training runs: in a thread of a Ray Train worker. A thread gets an arena of
its own, apart from the main heap the settings are for (zsdist/train/cpu_worker.py), unless the
environment the driver gives CPU workers puts every thread on the main heap: the test checks where a
block that thread allocates comes from.
"""

import json
import platform
import subprocess
import sys

import pytest

from zsdist.train.driver import Scaling, fit

# A training step's pattern: ~100 MB of tensors of 12.8 MB each (CADA-VAE's largest), written, then all freed.
STEPS = """
import json, resource, torch
from zsdist.train.cpu_worker import configure_cpu_worker
configure_cpu_worker()
def step():
    tensors = [torch.ones(1560, 2048) for _ in range(8)]  # 8 x 12.8 MB
    return sum(float(t[0, 0]) for t in tensors)
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(json.dumps({"faults_per_step": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20,
                  "threads": torch.get_num_threads()}))
"""


def run_steps() -> dict:
    out = subprocess.run([sys.executable, "-c", STEPS], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the heap settings are glibc's")
def test_configured_worker_reuses_freed_memory_instead_of_faulting_it_in_again():
    configured = run_steps()
    # 8 x 12.8 MB is ~25,000 pages a step; set up, the freed pages are reused, not faulted in again.
    assert configured["faults_per_step"] < 50, configured
    assert configured["threads"] == 1


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the heap settings are glibc's")
@pytest.mark.slow
def test_ray_train_worker_thread_allocates_from_the_configured_main_heap(ray_cluster, mlflow_uri, tmp_path):
    def loop(config):
        import threading
        from pathlib import Path

        import torch

        from zsdist.train.cpu_worker import configure_cpu_worker

        configure_cpu_worker()
        block = torch.empty(1 << 20)  # 4 MB: below the mmap threshold, so from this thread's arena
        heap = next(line.split()[0] for line in Path("/proc/self/maps").read_text().splitlines()
                    if line.endswith("[heap]"))
        low, high = (int(end, 16) for end in heap.split("-"))
        out = {"main_thread": threading.current_thread() is threading.main_thread(),
               "on_main_heap": low <= block.data_ptr() < high}
        Path(config["out"]).write_text(json.dumps(out))  # Result.metrics come only with a checkpoint

    out = tmp_path / "heap.json"
    fit(loop, {"out": str(out)}, run_name="heap", storage_path=tmp_path / "runs",
        scaling=Scaling(num_workers=1, use_gpu=False, cpus_per_worker=1), datasets=None, max_failures=0)
    measured = json.loads(out.read_text())
    assert not measured["main_thread"], measured  # what makes the arena matter
    assert measured["on_main_heap"], measured
