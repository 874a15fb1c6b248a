"""A deliberately unoptimised remote-write 1.0 encoder and hypothesis strategies for the tests.

It writes what Prometheus sends and what it may legally send too: fields out of order, labels
interleaved with samples, unknown fields of every wire type (packed and unpacked), repeated
scalars (the last wins), defaults left out, native histograms and exemplars.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import cramjam
from hypothesis import strategies as st

MASK64 = (1 << 64) - 1


def varint(n: int) -> bytes:
    n &= MASK64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def len_field(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + varint(len(payload)) + payload


def unknown_fields(kind: int, number: int) -> bytes:
    """One unknown field of each flavour: varint, fixed64, fixed32, bytes, packed varints."""
    if kind == 0:
        return tag(number, 0) + varint(-7)
    if kind == 1:
        return tag(number, 1) + b"\x01" * 8
    if kind == 2:
        return tag(number, 5) + b"\x02" * 4
    if kind == 3:
        return len_field(number, b"opaque \xff bytes")
    return len_field(number, b"".join(varint(v) for v in (1, 300, 2**40)))  # packed


@dataclass
class Sample:
    timestamp_ms: int
    value_bits: int  # the float64 bit pattern (NaN payloads survive)
    omit_defaults: bool = False
    extra: bytes = b""  # unknown fields / a repeated earlier value, written first

    def encode(self) -> bytes:
        parts = [self.extra]
        omit = self.omit_defaults and not self.extra  # else the earlier value would win
        if not (omit and self.value_bits == 0):
            parts.append(tag(1, 1) + struct.pack("<Q", self.value_bits))
        if not (omit and self.timestamp_ms == 0):
            parts.append(tag(2, 0) + varint(self.timestamp_ms))
        return b"".join(parts)


@dataclass
class TimeSeries:
    labels: list[tuple[bytes, bytes]]
    samples: list[Sample]
    histograms: int = 0
    exemplars: int = 0
    interleave: bool = False  # samples between labels (labels no longer contiguous)
    unknown: list[int] = field(default_factory=list)

    def encode(self) -> bytes:
        labels = [len_field(1, len_field(1, n) + len_field(2, v)) for n, v in self.labels]
        samples = [len_field(2, s.encode()) for s in self.samples]
        hist = [
            len_field(4, tag(1, 0) + varint(5) + len_field(9, varint(1) + varint(2)))
        ] * self.histograms
        ex = [len_field(3, len_field(1, len_field(1, b"trace_id") + len_field(2, b"ab")))]
        parts: list[bytes] = []
        if self.interleave and samples and len(labels) > 1:
            parts += labels[:1] + samples + labels[1:]
        else:
            parts += labels + samples
        parts += hist + ex * self.exemplars
        parts += [unknown_fields(k, 5 + k) for k in self.unknown]
        return b"".join(parts)


def encode_request(series: list[TimeSeries], metadata: bool = False) -> bytes:
    """The protobuf WriteRequest (not compressed)."""
    out = [len_field(1, ts.encode()) for ts in series]
    if metadata:
        out.append(len_field(3, tag(1, 0) + varint(1) + len_field(2, b"up")))
    return b"".join(out)


def series_boundaries(series: list[TimeSeries]) -> set[int]:
    """Byte offsets where a complete TimeSeries ends (valid truncation points)."""
    ends, pos = {0}, 0
    for ts in series:
        pos += len(len_field(1, ts.encode()))
        ends.add(pos)
    return ends


def compress(raw: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(raw))


def float_bits(value: float) -> int:
    bits: int = struct.unpack("<Q", struct.pack("<d", value))[0]
    return bits


# ---- strategies -------------------------------------------------------------------------------

NAMES = ["__name__", "job", "instance", "le", "ünïcødé", "a" * 40, "", "cpu", "mode"]
VALUES = ["node", "up", "", "10.0.0.1:9100", "日本語", "x" * 100, "0.5", "+Inf"]


@st.composite
def label_bytes(draw: st.DrawFn) -> tuple[bytes, bytes]:
    name = draw(st.sampled_from(NAMES) | st.text(max_size=8))
    value = draw(st.sampled_from(VALUES) | st.text(max_size=12))
    nb, vb = name.encode(), value.encode()
    if draw(st.integers(0, 40)) == 0:
        vb = b"\xff\xfe" + vb  # invalid UTF-8: the series must be rejected
    return nb, vb


@st.composite
def samples(draw: st.DrawFn) -> Sample:
    ts = draw(
        st.sampled_from([0, 1_700_000_000_000, -1, 2**63 - 1, -(2**63)])
        | st.integers(-(2**63), 2**63 - 1)
    )
    bits = draw(
        st.sampled_from(
            [0, float_bits(1.5), 0x7FF0000000000002, float_bits(-0.0), float_bits(float("inf"))]
        )
        | st.integers(0, MASK64)
    )
    extra = b""
    if draw(st.booleans()):
        extra = tag(1, 1) + b"\x07" * 8 + tag(2, 0) + varint(99) + unknown_fields(0, 9)
    return Sample(ts, bits, omit_defaults=draw(st.booleans()), extra=extra)


@st.composite
def time_series(draw: st.DrawFn) -> TimeSeries:
    labels = draw(st.lists(label_bytes(), max_size=6))
    if draw(st.integers(0, 9)):
        name = draw(st.sampled_from(["up", "node_cpu_seconds_total", "métrique"]))
        labels.insert(draw(st.integers(0, len(labels))), (b"__name__", name.encode()))
    return TimeSeries(
        labels=labels,
        samples=draw(st.lists(samples(), max_size=4)),
        histograms=draw(st.integers(0, 3)) if draw(st.integers(0, 5)) == 0 else 0,
        exemplars=draw(st.integers(0, 1)),
        interleave=draw(st.booleans()),
        unknown=draw(st.lists(st.integers(0, 4), max_size=3)),
    )


def write_requests(max_series: int = 12) -> st.SearchStrategy[list[TimeSeries]]:
    """Requests whose series often repeat (as a sender's batch holds many scrapes)."""
    return st.lists(time_series(), max_size=max_series).flatmap(
        lambda base: (
            st.lists(st.sampled_from(base), max_size=3 * max_series).map(lambda extra: base + extra)
            if base
            else st.just(base)
        )
    )
