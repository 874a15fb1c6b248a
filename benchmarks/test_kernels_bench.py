"""pytest-benchmark: numpy vs native kernels and codecs on one 4000-sample column.

pytest benchmarks/test_kernels_bench.py --benchmark-group-by=func
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from obskit import encoding, kernels
from obskit.encoding import columns
from obskit.kernels import _numpy

N = 4000
RNG = np.random.default_rng(42)
COUNTER = np.round(1e6 + np.cumsum(RNG.integers(1400, 1600, N)) / 100.0, 2)
TEMPERATURE = 40 + np.cumsum(RNG.normal(0, 0.2, N))
TIMESTAMPS = 1_700_000_000_000 + 15_000 * np.arange(N, dtype=np.int64) + RNG.integers(-20, 21, N)

BACKENDS = ["numpy", "native"]


def impl(backend: str, name: str) -> Any:
    if backend == "native":
        if kernels.BACKEND != "native":
            pytest.skip("obskit._native is not built")
        return kernels.NATIVE_KERNELS[name]
    return getattr(_numpy, name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_int_residuals(benchmark: Any, backend: str) -> None:
    f = impl(backend, "int_residuals")
    m = np.round(COUNTER * 100).astype(np.int64)
    benchmark(f, m, 1, 1, 1500)


@pytest.mark.parametrize("backend", BACKENDS)
def test_decode_decimal(benchmark: Any, backend: str) -> None:
    f = impl(backend, "decode_decimal")
    m = np.round(COUNTER * 100).astype(np.int64)
    planes = _numpy.pack_planes(_numpy.int_residuals(m, 1, 1, 1500), 0, 2)
    out = benchmark(f, planes, N, 1, 1, 2, 1500, int(m[0]), 0, 2)
    assert np.array_equal(out, COUNTER)


@pytest.mark.parametrize("backend", BACKENDS)
def test_decimal_scale(benchmark: Any, backend: str) -> None:
    benchmark(impl(backend, "decimal_scale"), COUNTER, 2)


@pytest.mark.parametrize("column", ["counter", "temperature"])
def test_encode_values(benchmark: Any, column: str) -> None:
    """Codec level, with whichever backend is active (OBSKIT_PURE_PYTHON=1 for numpy)."""
    v = COUNTER if column == "counter" else TEMPERATURE
    benchmark(encoding.encode_values, v)


@pytest.mark.parametrize("column", ["counter", "temperature", "timestamps"])
def test_decode_column(benchmark: Any, column: str) -> None:
    if column == "timestamps":
        buf = encoding.encode_timestamps(TIMESTAMPS)
        benchmark(encoding.decode_timestamps, buf)
    else:
        buf = encoding.encode_values(COUNTER if column == "counter" else TEMPERATURE)
        benchmark(encoding.decode_values, buf)


def batch_impl(backend: str, kind: str) -> Any:
    if backend == "native" and kernels.BACKEND != "native":
        pytest.skip("obskit._native is not built")
    return getattr(columns, f"_{kind}_{backend}")


BATCH_SERIES = 40  # series of 1440 samples: a counter, a temperature and jittered timestamps
BATCH_N = 1440
BATCH_TS = np.tile(TIMESTAMPS[:BATCH_N], BATCH_SERIES)
BATCH_VALUES = np.concatenate(
    [(COUNTER if s % 2 else TEMPERATURE)[:BATCH_N] for s in range(BATCH_SERIES)]
)
BATCH_STARTS = np.arange(BATCH_SERIES, dtype=np.int64) * BATCH_N


@pytest.mark.parametrize("backend", BACKENDS)
def test_encode_columns(benchmark: Any, backend: str) -> None:
    f = batch_impl(backend, "encode")
    benchmark(f, BATCH_TS, BATCH_VALUES, BATCH_STARTS, BATCH_STARTS + BATCH_N)


@pytest.mark.parametrize("backend", BACKENDS)
def test_decode_columns(benchmark: Any, backend: str) -> None:
    f = batch_impl(backend, "decode")
    data, ts_lens, val_lens, _ = encoding.encode_columns(
        BATCH_TS, BATCH_VALUES, BATCH_STARTS, BATCH_STARTS + BATCH_N
    )
    ts_offs = np.cumsum(ts_lens + val_lens) - ts_lens - val_lens
    index = (ts_offs, ts_lens, ts_offs + ts_lens, val_lens, np.full(BATCH_SERIES, BATCH_N))
    ts, _ = benchmark(f, data, index, BATCH_SERIES * BATCH_N)
    assert np.array_equal(ts, BATCH_TS)
