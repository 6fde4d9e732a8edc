"""bf16 autocast only where the hardware does bf16 natively; float32 on other CPUs."""

import logging

import pytest
import torch

from zsdist.train import precision

AVX2_ONLY = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
WITH_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 avx512f avx512_bf16 amx_tile\n"


@pytest.mark.parametrize(("cpuinfo", "expected"), [(AVX2_ONLY, False), (WITH_BF16, True),
                                                    ("flags\t: avx2 amx_bf16\n", True), (None, False)])
def test_cpu_bf16_is_read_from_the_flags_line(tmp_path, cpuinfo, expected):
    path = tmp_path / "cpuinfo"
    if cpuinfo is not None:
        path.write_text(cpuinfo)
    assert precision.cpu_has_bf16(path) is expected


def test_bf16_falls_back_to_float32_on_a_cpu_without_it_and_says_so(caplog):
    cpu = torch.device("cpu")
    assert not precision.bf16_enabled("none", cpu)
    precision._warn_fallback.cache_clear()  # it warns once per process
    with caplog.at_level(logging.WARNING, logger=precision.__name__):
        enabled = precision.bf16_enabled("bf16", cpu)
    assert enabled is precision.cpu_has_bf16()
    layer = torch.nn.Linear(4, 4)
    with precision.autocast("bf16", cpu):
        out = layer(torch.ones(2, 4))
    assert out.dtype == (torch.bfloat16 if enabled else torch.float32)
    assert ("training in float32" in caplog.text) is not enabled
