"""Prometheus' HTTP API JSON, written straight from numpy columns.

Samples are strings formatted as Prometheus formats them (Go's ``strconv`` shortest form):
``"NaN"``, ``"+Inf"``, ``"-Inf"``, ``"2"`` (never ``"2.0"``), exponent form ``"1e-07"`` /
``"1e+21"`` outside [1e-6, 1e21) in vectors and matrices, plain decimals always for scalars.
Timestamps are JSON numbers in seconds with at most three decimals, written as Prometheus
writes them: ``4.5`` in scalars and strings, ``4.500`` in vectors and matrices.

A matrix series is encoded in one pass over its columns: orjson writes the (seconds, value)
pairs of the whole series, a few ``bytes.replace`` calls quote the values and drop ``.0``, and
only the values orjson writes differently from Go (non-finite, |v| < 1e-5 or >= 1e16) go
through the per-value Python formatter. Nothing builds a Python object per sample. With the C
extension, one pass (``kernels.json_points``) lays out the points from orjson's value tokens
and the integer timestamps instead of the ``bytes.replace`` passes; a whole matrix answer
(``query_body``) is written by ``kernels.json_matrix`` into one pre-sized buffer, envelope and
labels included, from one orjson call over all of its values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import orjson

from obskit import kernels
from obskit.model.labels import Labels
from obskit.promql.value import Matrix, Scalar, String, Value, Vector

__all__ = [
    "encode_data",
    "encode_points",
    "encode_result",
    "format_float",
    "format_timestamp",
    "format_values",
    "query_body",
    "success_body",
]

_NUMPY = orjson.OPT_SERIALIZE_NUMPY
# orjson writes float64 positionally exactly for magnitudes in [1e-5, 1e16) (shortest digits,
# as Go); outside that range it switches to exponent form, which Go's rules do not match.
_ORJSON_LOW = 1e-5
_ORJSON_HIGH = 1e16
# Times below this are written padded to three decimals, as Prometheus (see encode_points).
_MARKER_LIMIT_MS = 2**47
# Go's MarshalFloat in Prometheus (util/jsonutil) uses exponent form outside [1e-6, 1e21).
_GO_LOW = 1e-6
_GO_HIGH = 1e21


def _digits(x: float) -> tuple[str, int]:
    """Shortest round-trip digits of ``x > 0`` and the decimal point position:
    ``x == 0.<digits> * 10**point``. Python's repr and Go's -1 precision pick the same digits."""
    mantissa, _, exp_text = repr(x).partition("e")
    whole, _, frac = mantissa.partition(".")
    raw = whole + frac
    stripped = raw.lstrip("0")
    point = len(whole) + (int(exp_text) if exp_text else 0) - (len(raw) - len(stripped))
    return stripped.rstrip("0"), point


def format_float(x: float, exponent: bool = True) -> str:
    """``x`` as Prometheus writes a sample: Go ``strconv.FormatFloat(x, 'f', -1, 64)``, or with
    ``exponent`` the ``'e'`` form outside [1e-6, 1e21) as in vectors and matrices."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    sign = "-" if x < 0 else ""
    magnitude = abs(x)
    digits, point = _digits(magnitude)
    if exponent and (magnitude < _GO_LOW or magnitude >= _GO_HIGH):
        exp = point - 1
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def format_timestamp(t_ms: int, pad: bool = False) -> str:
    """Milliseconds as JSON seconds: ``4``, ``4.5``, ``-0.001``; with ``pad`` a fraction keeps
    three digits (``4.500``), as Prometheus' MarshalTimestamp writes vectors and matrices."""
    seconds, fraction = divmod(abs(t_ms), 1000)
    sign = "-" if t_ms < 0 else ""
    if fraction == 0:
        return f"{sign}{seconds}"
    text = f"{sign}{seconds}.{fraction:03d}"
    return text if pad else text.rstrip("0")


def _special(values: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Where orjson's text differs from Go's: non-finite, and magnitudes outside orjson's
    positional range."""
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):
        tiny = (magnitude < _ORJSON_LOW) & (magnitude != 0)
        out: npt.NDArray[np.bool_] = ~np.isfinite(values) | (magnitude >= _ORJSON_HIGH) | tiny
    return out


def format_values(values: npt.NDArray[np.float64]) -> list[bytes]:
    """Each value as Prometheus writes it in a vector (unquoted), in one pass."""
    if len(values) == 0:
        return []
    values = np.ascontiguousarray(values, dtype=np.float64)
    special = _special(values)
    has_special = bool(special.any())
    plain = np.where(special, 0.0, values) if has_special else values
    raw = orjson.dumps(plain, option=_NUMPY)
    tokens = (raw[1:-1] + b",").replace(b".0,", b",")[:-1].split(b",")
    if has_special:
        for i in np.flatnonzero(special).tolist():
            tokens[i] = format_float(float(values[i])).encode()
    return tokens


def encode_points(timestamps_ms: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> bytes:
    """``[[t,"v"],...]`` for one series, from its columns."""
    n = len(timestamps_ms)
    if n == 0:
        return b"[]"
    values = np.ascontiguousarray(values, dtype=np.float64)
    special = _special(values)
    has_special = bool(special.any())
    plain = np.where(special, 0.0, values) if has_special else values
    if kernels.json_points is not None:
        # one C pass over orjson's value tokens; timestamps written from the integers
        ts_ms = np.ascontiguousarray(timestamps_ms, dtype=np.int64)
        out = kernels.json_points(ts_ms, orjson.dumps(plain, option=_NUMPY))
        if not has_special:
            return out
        body = out[2:-2]
    else:
        ts_ms = np.asarray(timestamps_ms, dtype=np.int64)
        # Prometheus writes a fraction with three digits (4.500). For that, times with a fraction
        # are written with a marker digit, (10 t + 1) / 10^4 s: orjson's shortest form of it is
        # exactly "<s>.<ms>1" (one correct rounding; ulp < 1e-4 s below 2^47 ms, year 6400),
        # and dropping the "1" leaves the padded text (".000" for whole seconds, dropped too).
        marked = bool((ts_ms % 1000).any()) and bool((np.abs(ts_ms) < _MARKER_LIMIT_MS).all())
        seconds = (ts_ms * 10 + np.where(ts_ms < 0, -1, 1)) / 10_000.0 if marked else ts_ms / 1000.0
        body = orjson.dumps(np.column_stack((seconds, plain)), option=_NUMPY)[2:-2]  # 1.0,2.5],[..
        # \x00 cannot occur in orjson's number text: mark pair boundaries, quote each value
        body = body.replace(b"],[", b"\x00").replace(b",", b',"').replace(b"\x00", b'"],[') + b'"'
        if marked:
            body = body.replace(b'1,"', b',"').replace(b'.000,"', b',"')
        else:
            body = body.replace(b'.0,"', b',"')
        body = body.replace(b'.0"', b'"')
    if has_special:
        tokens = body.split(b'"],[')
        for i in np.flatnonzero(special).tolist():
            t, _, _ = tokens[i].partition(b",")
            tokens[i] = t + b',"' + format_float(float(values[i])).encode()
        tokens[-1] += b'"' if special[-1] else b""
        body = b'"],['.join(tokens)
    return b"[[" + body + b"]]"


def _labels_json(labels: Labels) -> bytes:
    return orjson.dumps(dict(labels))


def _encode_vector(vector: Vector) -> bytes:
    t = format_timestamp(vector.t_ms, pad=True).encode()
    values = format_values(vector.values)
    items = [
        b'{"metric":' + _labels_json(labels) + b',"value":[' + t + b',"' + v + b'"]}'
        for labels, v in zip(vector.labels, values, strict=True)
    ]
    return b"[" + b",".join(items) + b"]"


def _matrix_json(matrix: Matrix, prefix: bytes, suffix: bytes) -> bytes:
    """``prefix`` + the matrix's series list items + ``suffix``."""
    series = matrix.series
    heads = [b'{"metric":' + _labels_json(s.labels) + b',"values":' for s in series]
    if kernels.json_matrix is None or not series:
        items = [
            h + encode_points(s.timestamps_ms, s.values) + b"}"
            for h, s in zip(heads, series, strict=True)
        ]
        return prefix + b",".join(items) + suffix
    heads[1:] = [b"," + h for h in heads[1:]]
    ts_ms = np.concatenate([s.timestamps_ms for s in series]).astype(np.int64, copy=False)
    values = np.concatenate([s.values for s in series]).astype(np.float64, copy=False)
    offsets = np.zeros(len(series) + 1, np.int64)
    np.cumsum([len(s.timestamps_ms) for s in series], out=offsets[1:])
    special_idx = np.flatnonzero(_special(values)).astype(np.int64)
    texts = [format_float(v).encode() for v in values[special_idx].tolist()]
    values[special_idx] = 0.0  # a fresh array (concatenate): orjson writes "0.0" for these
    tokens = orjson.dumps(values, option=_NUMPY)
    return kernels.json_matrix(
        prefix, heads, ts_ms, offsets, tokens, special_idx, texts, b"}", suffix
    )


def _encode_matrix(matrix: Matrix) -> bytes:
    return _matrix_json(matrix, b"[", b"]")


def encode_result(value: Value) -> tuple[str, bytes]:
    """``(resultType, result JSON)`` of a query value."""
    if isinstance(value, Scalar):
        pair = f'[{format_timestamp(value.t_ms)},"{format_float(value.value, exponent=False)}"]'
        return "scalar", pair.encode()
    if isinstance(value, String):
        return "string", b"[" + format_timestamp(value.t_ms).encode() + b"," + orjson.dumps(
            value.value
        ) + b"]"
    if isinstance(value, Vector):
        return "vector", _encode_vector(value)
    if isinstance(value, Matrix):
        return "matrix", _encode_matrix(value)
    raise AssertionError(f"BUG: unknown query value {type(value).__name__}")


def encode_data(value: Value) -> bytes:
    """The ``data`` object of a query response: ``{"resultType":...,"result":...}`` (in that
    order: Grafana before 9.5 needs ``resultType`` first)."""
    if isinstance(value, Matrix):
        return _matrix_json(value, b'{"resultType":"matrix","result":[', b"]}")
    result_type, result = encode_result(value)
    return b'{"resultType":"' + result_type.encode() + b'","result":' + result + b"}"


def success_body(data: bytes, warnings: Sequence[str] = (), infos: Sequence[str] = ()) -> bytes:
    """``{"status":"success","data":...}`` with ``warnings``/``infos`` only when present."""
    out = [b'{"status":"success","data":', data]
    if warnings:
        out += [b',"warnings":', orjson.dumps(list(warnings))]
    if infos:
        out += [b',"infos":', orjson.dumps(list(infos))]
    out.append(b"}")
    return b"".join(out)


def query_body(value: Value, warnings: Sequence[str] = (), infos: Sequence[str] = ()) -> bytes:
    """The whole response body of a query: ``success_body(encode_data(value), ...)``, written
    in one buffer for a matrix (no copies of a large answer through concatenations)."""
    if not isinstance(value, Matrix):
        return success_body(encode_data(value), warnings, infos)
    tail = success_body(b"", warnings, infos)[len(b'{"status":"success","data":') :]
    return _matrix_json(
        value, b'{"status":"success","data":{"resultType":"matrix","result":[', b"]}" + tail
    )
