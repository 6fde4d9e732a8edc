"""Mixed precision as a run asks for it and the worker's hardware allows it.

`mixed_precision="bf16"` runs the layers under bf16 autocast. GPUs do bf16 natively; a CPU does only
with AVX512-BF16 or AMX (the flags `avx512_bf16` / `amx_bf16` in /proc/cpuinfo). Without them torch
emulates bf16 in software, which is slower than float32, so there the worker trains in float32 and
says so once: the same config runs on any machine, and is fast where the hardware is.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import torch

log = logging.getLogger(__name__)
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU does bf16 arithmetic natively (False where /proc/cpuinfo is missing)."""
    if not cpuinfo.is_file():
        return False
    flags = {flag for line in cpuinfo.read_text().splitlines() if line.startswith("flags")
             for flag in line.split(":", 1)[1].split()}
    return any(flag in flags for flag in CPU_BF16_FLAGS)


def bf16_enabled(mixed_precision: str, device: torch.device) -> bool:
    """Whether a run with this setting trains under bf16 autocast on `device`."""
    if mixed_precision != "bf16":
        return False
    if device.type == "cpu" and not cpu_has_bf16():
        _warn_fallback()
        return False
    return True


def autocast(mixed_precision: str, device: torch.device) -> torch.autocast:
    """The autocast context of a training step: bf16 where asked for and native, else a no-op."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16_enabled(mixed_precision, device))


@functools.cache
def _warn_fallback() -> None:
    log.warning("mixed_precision=bf16 asked for, but this CPU lacks AVX512-BF16 and AMX (see /proc/cpuinfo): "
                "training in float32, which is faster here than emulated bf16")
