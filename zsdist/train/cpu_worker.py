"""What a training process on CPU sets before its first step: one torch thread, and a heap that keeps
freed memory.

Threads. One torch thread per training worker on CPU: 2 threads per worker on 2 cores ran ~10x slower.

Heap. Each training step allocates tens of MB of short-lived tensors (CADA-VAE: fresh float32
gradients for 7.8M parameters, their bf16 copies, activations) and frees them at the step's end.
glibc's malloc hands freed memory at the top of its heap back to the kernel once it exceeds the trim
threshold, which it adjusts by itself from the blocks freed so far; until it settles, or for good in an
unlucky process, the next step faults the same pages in again. Measured on CUB's shapes: a plain
process faulted ~2,400-4,800 pages per CADA-VAE step (24-27 ms a step; 20 ms once set); in a
Ray Train worker the thresholds settled during the first epoch, which the setting makes ~20% faster,
and later epochs ran alike. Raising the trim threshold keeps that memory in the process (reused, not
leaked: the heap stays at one step's peak); pinning the mmap threshold at its maximum (32 MB) keeps the
largest tensors on that heap as well, since setting one threshold turns off glibc's adjustment of both.
Other C libraries are left alone.

Arena. Ray Train runs the training loop in a thread of its worker process, not in the main thread, and
glibc gives each new thread an arena of its own: heaps of at most 64 MB, mapped apart, that the trim
threshold does not hold (a heap whose memory is all free is unmapped). There the settings above did
not keep the heap: a thread running the step pattern of tests/test_cpu_worker.py faulted ~150 pages a
step, and CADA-VAE's epochs on CUB's shapes ran up to ~30% slower in a thread than in the main thread,
by allocation history. One arena (`CPU_WORKER_ENV`, which glibc reads only at process start, so the
driver puts it in the workers' environment) sends every thread to the main heap: 0 faults, and the
thread as fast as the main thread.
Ray's own threads in the worker allocate little, so they hardly contend for that one arena's lock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

import torch

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, from glibc's malloc.h
TRIM_THRESHOLD = 1 << 30  # freed heap memory kept, at most
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit: blocks below it come from the heap
CPU_WORKER_ENV = {"MALLOC_ARENA_MAX": "1"}  # set before the worker process starts (see Arena above)


def configure_cpu_worker() -> None:
    """One torch thread and glibc's malloc keeping freed memory (see the module docstring)."""
    torch.set_num_threads(1)
    keep_freed_heap_memory()


def keep_freed_heap_memory() -> None:
    """Set glibc's trim and mmap thresholds for this process (nothing where the C library is not glibc)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    # Both values are within glibc's documented limits (mallopt would refuse others and change nothing).
    libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
