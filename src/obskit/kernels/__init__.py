"""Column kernels: the compiled ``obskit._native`` when available, else the numpy reference.

This is the only module that imports ``obskit._native``. The backend is chosen once, at import:

* ``OBSKIT_PURE_PYTHON=1`` forces the numpy reference (the one import-time environment read
  obskit allows);
* ``OBSKIT_REQUIRE_NATIVE=1`` turns a missing extension into an ``ImportError`` (CI);
* otherwise the extension is used when it imports, and numpy when it does not.

``BACKEND`` says which ("native" or "numpy"). Every function below has exactly the signature of its
namesake in ``kernels/_numpy.py``; the native twins fill arrays allocated here. Bad sizes raise
``ValueError``; ``obskit.encoding`` validates headers first and converts what slips through.

Three batch kernels exist only natively (``decode_columns_native``, ``encode_columns_native``,
``sample_pages_columns_native``): they run whole codecs over many columns in one call, so their
numpy reference is the per-column codec loop in ``obskit.encoding.columns`` (followed by
``pq_sample_columns`` for the last), which calls them only when ``BACKEND == "native"``. The same
holds for the version 2 value pages: ``rans_encode_lanes`` and ``decode_value_page`` (C in
``native/value_pages.c``) have their numpy reference in ``obskit.encoding.rans`` and
``obskit.encoding.valuepages``, ``analyse_value_page`` (C in ``native/value_pages_enc.c``) its
in ``obskit.encoding.residuals.analyse_columns``.

The remote-write decoder (``snappy_decompress_into``, ``count_write_request``,
``decode_write_request``, ``decode_write_request_fit``, ``new_ref_cache``) has its reference in
``kernels/_remote_write.py`` and its native wrappers in ``kernels/_remote_write_native.py``; it
raises ``MalformedError`` (code, byte offset) for a malformed protobuf, which
``obskit.ingest.remote_write`` turns into ``IngestError``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from types import ModuleType

import numpy as np
import numpy.typing as npt

from obskit.kernels import _numpy, _promql, _promql_native, exposition_lines
from obskit.kernels import _remote_write_native as _rw
from obskit.kernels._remote_write import (
    MalformedError,
    RefCache,
    WriteRequestColumns,
    WriteRequestCounts,
    snappy_length,
)

__all__ = [
    "BACKEND",
    "MAX_DECIMAL_EXP",
    "PQ_GROUP_KINDS",
    "PQ_STAT_KINDS",
    "MalformedError",
    "RefCache",
    "WriteRequestColumns",
    "WriteRequestCounts",
    "analyse_value_page",
    "concat_runs",
    "count_write_request",
    "decimal_scale",
    "decode_columns_native",
    "decode_decimal",
    "decode_ints",
    "decode_value_page",
    "decode_write_request",
    "decode_write_request_fit",
    "decode_xor",
    "encode_columns_native",
    "int_residuals",
    "json_matrix",
    "json_points",
    "merge_samples",
    "new_ref_cache",
    "pack_planes",
    "pq_group_reduce",
    "pq_instant_finish",
    "pq_quantile_rows",
    "pq_sample_columns",
    "pq_series_rate",
    "pq_window_bounds",
    "pq_window_rate",
    "pq_window_stat",
    "rans_encode_lanes",
    "rans_lane_symbols",
    "sample_pages_columns_native",
    "snappy_decompress_into",
    "snappy_length",
    "sort_samples",
    "tokenize_exposition",
    "xor_residuals",
]

MAX_DECIMAL_EXP = _numpy.MAX_DECIMAL_EXP


def _load_native() -> ModuleType | None:
    if os.environ.get("OBSKIT_PURE_PYTHON") == "1":
        return None
    try:
        native: ModuleType = importlib.import_module("obskit._native")
    except ImportError:
        if os.environ.get("OBSKIT_REQUIRE_NATIVE") == "1":
            raise
        return None
    return native


_native = _load_native()
BACKEND: str = "numpy" if _native is None else "native"
count_write_request, decode_write_request, new_ref_cache = _rw.select(_native)
snappy_decompress_into = _rw.select_snappy(_native)  # remote-write bodies, see there
decode_write_request_fit = _rw.select_fit(_native)  # one-pass decode into a capacity guess
tokenize_exposition = exposition_lines.select(_native)  # text/OpenMetrics lines, see there
# ``json_points(ts_ms, value_tokens) -> bytes``: a matrix series' ``[[t,"v"],...]`` from int64
# timestamps and orjson's JSON array of the values; native only (its reference is the
# bytes.replace path in obskit.api.promjson.encode_points, used when this is None).
# A stale in-place build without it falls back to that path too.
json_points: Callable[[npt.NDArray[np.int64], bytes], bytes] | None = getattr(
    _native, "json_points", None
)
# ``json_matrix(prefix, heads, ts_ms, offsets, value_tokens, special_idx, special_texts, tail,
# suffix) -> bytes``: a whole matrix answer in one buffer (series i: heads[i], its points, tail);
# native only, its reference is the per-series join in obskit.api.promjson._matrix_json.
json_matrix: Callable[..., bytes] | None = getattr(_native, "json_matrix", None)


def _native_int_residuals(
    x: npt.NDArray[np.int64], order: int, divisor: int, offset: int
) -> npt.NDArray[np.uint64]:
    x = np.ascontiguousarray(x, dtype=np.int64)
    if x.size < order:
        raise ValueError(f"cannot take order-{order} residuals of {x.size} values")
    out = np.empty(x.size - order, dtype=np.uint64)
    assert _native is not None
    _native.int_residuals(x, order, divisor, offset, out)
    return out


def _native_xor_residuals(bits: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    bits = np.ascontiguousarray(bits, dtype=np.uint64)
    if bits.size < 1:
        raise ValueError("cannot take xor residuals of 0 values")
    out = np.empty(bits.size - 1, dtype=np.uint64)
    assert _native is not None
    _native.xor_residuals(bits, out)
    return out


def _native_pack_planes(u: npt.NDArray[np.uint64], lo: int, hi: int) -> bytes:
    u = np.ascontiguousarray(u, dtype=np.uint64)
    out = bytearray(u.size * max(hi - lo, 0))
    assert _native is not None
    _native.pack_planes(u, lo, hi, out)
    return bytes(out)


def _native_decode_ints(
    buf: bytes | memoryview,
    n: int,
    order: int,
    divisor: int,
    width: int,
    offset: int,
    first: int,
    first_delta: int,
) -> npt.NDArray[np.int64]:
    out = np.empty(max(n, 0), dtype=np.int64)
    assert _native is not None
    _native.decode_ints(buf, n, order, divisor, width, offset, first, first_delta, out)
    return out


def _native_decimal_scale(
    values: npt.NDArray[np.float64], exp: int
) -> tuple[npt.NDArray[np.int64], int]:
    values = np.ascontiguousarray(values, dtype=np.float64)
    out = np.empty(values.size, dtype=np.int64)
    assert _native is not None
    bad: int = _native.decimal_scale(values, exp, out)
    return out, bad


def _native_decode_decimal(
    buf: bytes | memoryview,
    n: int,
    order: int,
    divisor: int,
    width: int,
    offset: int,
    first: int,
    first_delta: int,
    exp: int,
) -> npt.NDArray[np.float64]:
    out = np.empty(max(n, 0), dtype=np.float64)
    assert _native is not None
    _native.decode_decimal(buf, n, order, divisor, width, offset, first, first_delta, exp, out)
    return out


def _native_decode_xor(
    buf: bytes | memoryview, n: int, lo: int, hi: int, first: int
) -> npt.NDArray[np.uint64]:
    out = np.empty(max(n, 0), dtype=np.uint64)
    assert _native is not None
    _native.decode_xor(buf, n, lo, hi, first, out)
    return out


def decode_pages_columns_native(
    pages: Sequence[bytes | memoryview],
    starts: npt.NDArray[np.int64],
    index: tuple[npt.NDArray[np.int64], ...],
    ts_out: npt.NDArray[np.int64],
    val_out: npt.NDArray[np.float64],
    out_offsets: npt.NDArray[np.int64],
) -> tuple[int, int, int, bool]:
    """``decode_columns_native`` over several pages in one call (on a few threads when big):
    page ``p`` holds the columns ``[starts[p], starts[p + 1])`` of ``index``; column ``i`` goes
    to ``[out_offsets[i], +counts[i])``. ``column`` in the result indexes ``index``; the last
    item is False when no decoded value is a staleness marker (True: one may be)."""
    if _native is None:
        raise AssertionError("BUG: decode_pages_columns_native without the native backend")
    code, column, part, stale = _native.decode_pages_columns(
        pages, starts, *index, ts_out, val_out, out_offsets
    )
    return code, column, part, bool(stale)


def sample_pages_columns_native(
    pages: Sequence[bytes | memoryview],
    starts: npt.NDArray[np.int64],
    index: tuple[npt.NDArray[np.int64], ...],
    rows: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    lookback_ms: int,
    v_out: npt.NDArray[np.float64],
    t_out: npt.NDArray[np.int64],
) -> tuple[int, int, int]:
    """The pages of ``decode_pages_columns_native`` read for an instant selector: column ``i``
    (sorted samples of output row ``rows[i]``, rows distinct) offers, for each step ``k`` of
    ``ends`` (ascending), its last sample with ts <= ends[k]; it replaces ``(t_out, v_out)[row,
    k]`` (``rows x len(ends)``, C order) when its ts is >= the one there. Only the outputs are
    written, so no column of samples is materialized. Returns ``(damage, column, part)``."""
    if _native is None:
        raise AssertionError("BUG: sample_pages_columns_native without the native backend")
    result: tuple[int, int, int, int] = _native.sample_pages_columns(
        pages, starts, *index, rows, ends, int(lookback_ms), v_out, t_out
    )
    return result[:3]


def decode_columns_native(
    page: bytes | memoryview,
    index: tuple[npt.NDArray[np.int64], ...],
    ts_out: npt.NDArray[np.int64],
    val_out: npt.NDArray[np.float64],
    out_offsets: npt.NDArray[np.int64] | None = None,
) -> tuple[int, int, int]:
    """Decode the k column pairs at ``index`` = (ts_off, ts_len, val_off, val_len, counts).

    Returns ``(damage, column, part)``: damage 0 when every column decoded, else a code listed in
    ``obskit.encoding.columns`` for column ``column`` (part 0 timestamps, 1 values). Index arrays
    are contiguous int64 of one length; ``counts`` must sum to the size of both outputs, unless
    ``out_offsets`` places column i at ``[out_offsets[i], +counts[i])`` of the outputs instead.
    """
    if _native is None:
        raise AssertionError("BUG: decode_columns_native without the native backend")
    if out_offsets is None:
        result: tuple[int, int, int] = _native.decode_columns(page, *index, ts_out, val_out)
    else:
        result = _native.decode_columns(page, *index, ts_out, val_out, out_offsets)
    return result


def encode_columns_native(
    ts: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
) -> tuple[
    bytes,
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.uint8],
    npt.NDArray[np.int64],
]:
    """Encode series ``i`` = ``[starts[i], ends[i])`` of ``ts``/``values`` (contiguous arrays).

    Returns ``(data, ts_lens, val_lens, codecs (k, 2), cand_lens (k, 3))``. A value codec 0xFF
    marks a float column written as its three candidates (xor, float-delta|dod, raw) whose
    lengths are in ``cand_lens``; the caller keeps the one zstd shrinks most.
    """
    if _native is None:
        raise AssertionError("BUG: encode_columns_native without the native backend")
    k = starts.size
    ts_lens = np.empty(k, dtype=np.int64)
    val_lens = np.empty(k, dtype=np.int64)
    codecs = np.empty((k, 2), dtype=np.uint8)
    cand_lens = np.empty((k, 3), dtype=np.int64)
    data: bytes = _native.encode_columns(
        ts, values, starts, ends, ts_lens, val_lens, codecs, cand_lens
    )
    return data, ts_lens, val_lens, codecs, cand_lens


def rans_encode_lanes(
    freq: npt.NDArray[np.int64],
    cum: npt.NDArray[np.int64],
    starts: npt.NDArray[np.int64],
    lens: npt.NDArray[np.int64],
) -> tuple[bytes, npt.NDArray[np.int64], bytes]:
    """Native twin of ``obskit.encoding.rans.encode_lanes``: (words u16 LE, words per lane,
    final states u32 LE)."""
    if _native is None:
        raise AssertionError("BUG: rans_encode_lanes without the native backend")
    words = np.empty(freq.size, dtype="<u2")
    lane_words = np.empty(starts.size, dtype=np.int64)
    states = np.empty(starts.size, dtype="<u4")
    n = _native.rans_encode_lanes(
        np.ascontiguousarray(freq, np.int64),
        np.ascontiguousarray(cum, np.int64),
        np.ascontiguousarray(starts, np.int64),
        np.ascontiguousarray(lens, np.int64),
        words,
        lane_words,
        states,
    )
    return words[:n].tobytes(), lane_words, states.tobytes()


ANALYSE_FIELDS = 16
"""Fields per column of ``analyse_value_page``'s rows: kind, count, exp, xpred, ref1, ref2, sh1,
sh2, ma, first, gcd, lat, c, a1, a2, n_exc."""


def analyse_value_page(
    values: npt.NDArray[np.float64], counts: npt.NDArray[np.int64]
) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.uint64], npt.NDArray[np.uint32], npt.NDArray[np.uint64]
]:
    """Native twin of ``obskit.encoding.residuals.analyse_columns`` over the columns
    ``values[at[i] : at[i] + counts[i]]`` (every count >= 1): (rows of ``ANALYSE_FIELDS`` per
    column, the zigzagged residuals of the non-const columns one after the other, exception
    positions, exception bits)."""
    if _native is None:
        raise AssertionError("BUG: analyse_value_page without the native backend")
    values = np.ascontiguousarray(values, np.float64)
    counts = np.ascontiguousarray(counts, np.int64)
    rows = np.empty((counts.size, ANALYSE_FIELDS), np.int64)
    resid = np.empty(values.size, np.uint64)
    exc_pos = np.empty(values.size, np.uint32)
    exc_bits = np.empty(values.size, np.uint64)
    n_resid, n_exc = _native.analyse_value_page(values, counts, rows, resid, exc_pos, exc_bits)
    return rows, resid[:n_resid], exc_pos[:n_exc], exc_bits[:n_exc]


def rans_lane_symbols(
    u: npt.NDArray[np.uint64], starts: npt.NDArray[np.int64], lens: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], bytes, npt.NDArray[np.int64]]:
    """Native twin of ``obskit.encoding.rans.lane_tokens`` + ``pack_raw_bits`` for lanes
    ``[starts[l], +lens[l])`` of ``u``: (symbol key ``ctx * N_TOK + token`` per sample, the
    lanes' raw bits, raw bytes per lane)."""
    if _native is None:
        raise AssertionError("BUG: rans_lane_symbols without the native backend")
    u = np.ascontiguousarray(u, np.uint64)
    starts = np.ascontiguousarray(starts, np.int64)
    lens = np.ascontiguousarray(lens, np.int64)
    key = np.empty(u.size, np.int64)
    raw = np.empty(8 * (u.size + starts.size), np.uint8)
    lane_bytes = np.empty(starts.size, np.int64)
    n = _native.rans_lane_symbols(u, starts, lens, key, raw, lane_bytes)
    return key, raw[:n].tobytes(), lane_bytes


def decode_value_page(
    meta: bytes, body: bytes | memoryview, at: int, raw_len: int, portable: bool = False
) -> tuple[int, bytes]:
    """Native decoder of a v2 page body (``obskit.encoding.valuepages``): ``meta`` is its
    decompressed meta, its streams start at ``body[at]``, the decoded page is ``raw_len`` bytes.
    Returns (0, decoded page) or (damage code, b""), codes that
    ``valuepages.decode_value_body`` names. ``portable`` (tests) runs the build of the hot loop
    for CPUs without BMI2 even where the CPU has it."""
    if _native is None:
        raise AssertionError("BUG: decode_value_page without the native backend")
    rc, out = _native.decode_value_page(meta, body, at, raw_len, portable)
    return rc, b"" if out is None else out


def _native_sort_samples(
    ids: npt.NDArray[np.int64], ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    ts = np.ascontiguousarray(ts, dtype=np.int64)
    values = np.ascontiguousarray(values, dtype=np.float64)
    n = ids.size
    out_ids = np.empty(n, dtype=np.int64)
    out_ts = np.empty(n, dtype=np.int64)
    out_values = np.empty(n, dtype=np.float64)
    assert _native is not None
    kept: int = _native.sort_samples(ids, ts, values, out_ids, out_ts, out_values)
    if kept == n:
        return out_ids, out_ts, out_values
    return out_ids[:kept].copy(), out_ts[:kept].copy(), out_values[:kept].copy()


_Cols = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]


def _native_merge_samples(a: _Cols, b: _Cols) -> _Cols:
    n = len(a[0]) + len(b[0])
    out = (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.float64))
    assert _native is not None
    args = [np.ascontiguousarray(x) for x in (*a, *b)]
    kept: int = _native.merge_samples(*args, *out)
    if kept == n:
        return out
    return out[0][:kept].copy(), out[1][:kept].copy(), out[2][:kept].copy()


def _native_concat_runs(
    ts_sources: Sequence[npt.NDArray[np.int64]],
    value_sources: Sequence[npt.NDArray[np.float64]],
    run_src: npt.NDArray[np.int64],
    run_start: npt.NDArray[np.int64],
    run_count: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    total = int(run_count.sum())
    out_ts = np.empty(total, np.int64)
    out_values = np.empty(total, np.float64)
    assert _native is not None
    _native.concat_runs(
        tuple(np.ascontiguousarray(t, np.int64) for t in ts_sources),
        tuple(np.ascontiguousarray(v, np.float64) for v in value_sources),
        np.ascontiguousarray(run_src, np.int64),
        np.ascontiguousarray(run_start, np.int64),
        np.ascontiguousarray(run_count, np.int64),
        out_ts,
        out_values,
    )
    return out_ts, out_values


if _native is None:
    concat_runs = _numpy.concat_runs
    merge_samples = _numpy.merge_samples
    sort_samples = _numpy.sort_samples
    int_residuals = _numpy.int_residuals
    xor_residuals = _numpy.xor_residuals
    pack_planes = _numpy.pack_planes
    decode_ints = _numpy.decode_ints
    decimal_scale = _numpy.decimal_scale
    decode_decimal = _numpy.decode_decimal
    decode_xor = _numpy.decode_xor
else:
    concat_runs = _native_concat_runs
    merge_samples = _native_merge_samples
    sort_samples = _native_sort_samples
    int_residuals = _native_int_residuals
    xor_residuals = _native_xor_residuals
    pack_planes = _native_pack_planes
    decode_ints = _native_decode_ints
    decimal_scale = _native_decimal_scale
    decode_decimal = _native_decode_decimal
    decode_xor = _native_decode_xor

# PromQL range-window kernels (numpy reference in _promql.py, C in native/promql_windows.c).
PROMQL_NATIVE = None if _native is None else _promql_native.NativeWindows(_native)
if PROMQL_NATIVE is None:
    pq_window_bounds = _promql.window_bounds
    pq_window_rate = _promql.window_rate
    pq_window_stat = _promql.window_stat
    pq_group_reduce = _promql.group_reduce
    pq_series_rate = _promql.series_rate
    pq_sample_columns = _promql.sample_columns
    pq_instant_finish = _promql.instant_finish
else:
    pq_window_bounds = PROMQL_NATIVE.window_bounds
    pq_window_rate = PROMQL_NATIVE.window_rate
    pq_window_stat = PROMQL_NATIVE.window_stat
    pq_group_reduce = PROMQL_NATIVE.group_reduce
    pq_series_rate = PROMQL_NATIVE.series_rate
    pq_sample_columns = PROMQL_NATIVE.sample_columns
    pq_instant_finish = PROMQL_NATIVE.instant_finish
PQ_GROUP_KINDS = _promql.GROUP_KINDS
PQ_STAT_KINDS = _promql.STAT_KINDS
pq_quantile_rows = _promql.quantile_rows

NATIVE_KERNELS: dict[str, object] = {
    "int_residuals": _native_int_residuals,
    "xor_residuals": _native_xor_residuals,
    "pack_planes": _native_pack_planes,
    "decode_ints": _native_decode_ints,
    "decimal_scale": _native_decimal_scale,
    "decode_decimal": _native_decode_decimal,
    "decode_xor": _native_decode_xor,
    "sort_samples": _native_sort_samples,
    "merge_samples": _native_merge_samples,
    "concat_runs": _native_concat_runs,
}
"""The native wrappers by name, for the parity tests (usable only when ``BACKEND == "native"``)."""
