"""Remote-write decoding against a reference model, on both kernel backends."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator, Sequence

import cramjam
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obskit import kernels
from obskit.errors import IngestError, InvalidSeriesError, PayloadTooLargeError
from obskit.ingest import remote_write
from obskit.ingest.remote_write import RemoteWriteDecoder, WriteLimits, WriteResult
from obskit.kernels import _remote_write
from obskit.model.batch import AppendResult
from obskit.model.labels import Labels, LabelsLike, validate_labels

from .rw_encode import (
    Sample,
    TimeSeries,
    compress,
    encode_request,
    float_bits,
    len_field,
    series_boundaries,
    tag,
    varint,
    write_requests,
)

BACKENDS = ["python", "native"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "python":
        monkeypatch.setattr(kernels, "count_write_request", _remote_write.count_write_request)
        monkeypatch.setattr(kernels, "decode_write_request", _remote_write.decode_write_request)
        monkeypatch.setattr(kernels, "new_ref_cache", _remote_write.PyRefCache)
        monkeypatch.setattr(kernels, "snappy_decompress_into", _remote_write.snappy_decompress_into)
    elif kernels.BACKEND != "native":
        pytest.skip("obskit._native is not built")
    yield request.param


class FakeAppender:
    """In-memory RefAppender: refs are positions in ``labels``; appends are recorded."""

    def __init__(self) -> None:
        self.labels: list[Labels] = []
        self.ids: dict[Labels, int] = {}
        self.ref_calls = 0
        self.appended: list[tuple[Labels, int, int]] = []

    def series_refs(self, labels: Sequence[LabelsLike]) -> npt.NDArray[np.int64]:
        self.ref_calls += 1
        out = []
        for ls in labels:
            norm = validate_labels(ls)
            assert norm == ls, "the decoder must hand over validated label sets"
            if norm not in self.ids:
                self.ids[norm] = len(self.labels)
                self.labels.append(norm)
            out.append(self.ids[norm])
        return np.array(out, dtype=np.int64)

    def append_refs(
        self,
        refs: npt.NDArray[np.int64],
        timestamps_ms: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> AppendResult:
        assert refs.dtype == np.int64 and timestamps_ms.dtype == np.int64
        assert values.dtype == np.float64
        bits = values.view(np.uint64).tolist()
        for r, t, b in zip(refs.tolist(), timestamps_ms.tolist(), bits, strict=True):
            self.appended.append((self.labels[r], t, b))
        return AppendResult(len(refs))

    def append(self, batch: object) -> AppendResult:
        raise AssertionError("remote write must append by ref")


def expected(series: list[TimeSeries]) -> tuple[list[tuple[Labels, int, int]], int, int]:
    """(appended samples, samples rejected, series rejected) by the documented rules."""
    appended: list[tuple[Labels, int, int]] = []
    rejected = bad_series = 0
    for ts in series:
        rejected += ts.histograms
        if not ts.samples:
            continue
        try:
            labels = validate_labels([(n.decode(), v.decode()) for n, v in ts.labels])
        except (UnicodeDecodeError, InvalidSeriesError):
            rejected += len(ts.samples)
            bad_series += 1
            continue
        for s in ts.samples:
            t = s.timestamp_ms - (1 << 64) if s.timestamp_ms >= 1 << 63 else s.timestamp_ms
            appended.append((labels, t, s.value_bits))
    return appended, rejected, bad_series


def check(series: list[TimeSeries], result: WriteResult, app: FakeAppender) -> None:
    want, rejected, bad_series = expected(series)
    assert app.appended == want
    assert result.samples_accepted == len(want)
    assert result.samples_rejected == rejected
    assert result.series_rejected == bad_series
    assert len(result.errors) <= 10
    assert bool(result.errors) == bool(rejected)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(series=write_requests(), metadata=st.booleans())
def test_round_trip_against_reference(
    backend: str, series: list[TimeSeries], metadata: bool
) -> None:
    app = FakeAppender()
    decoder = RemoteWriteDecoder(app)
    body = compress(encode_request(series, metadata))
    check(series, decoder.write(body), app)
    app.appended.clear()
    check(series, decoder.write(body), app)  # second time from the cache


def test_prometheus_shaped_request_uses_the_cache(backend: str) -> None:
    series = [
        TimeSeries(
            [(b"__name__", b"node_load1"), (b"instance", f"host{i}:9100".encode())],
            [Sample(1_700_000_000_000 + i, float_bits(i / 4))],
        )
        for i in range(100)
    ]
    app = FakeAppender()
    decoder = RemoteWriteDecoder(app)
    body = compress(encode_request(series))
    check(series, decoder.write(body), app)
    assert app.ref_calls == 1
    assert decoder.cached_series == 100
    app.appended.clear()
    check(series, decoder.write(body), app)
    assert app.ref_calls == 1, "known series must not reach series_refs again"


def test_bad_series_rejected_alone(backend: str) -> None:
    good = TimeSeries([(b"__name__", b"up")], [Sample(5, float_bits(1.0))])
    dup = TimeSeries([(b"__name__", b"up"), (b"a", b"1"), (b"a", b"2")], [Sample(5, 0)])
    noname = TimeSeries([(b"job", b"x")], [Sample(5, 0), Sample(6, 0)])
    badutf = TimeSeries([(b"__name__", b"\xc3\x28")], [Sample(5, 0)])
    emptyname = TimeSeries([(b"__name__", b"up"), (b"", b"v")], [Sample(5, 0)])
    series = [good, dup, noname, badutf, emptyname, good]
    app = FakeAppender()
    result = RemoteWriteDecoder(app).write(compress(encode_request(series)))
    check(series, result, app)
    assert result.series_rejected == 4
    assert result.samples_rejected == 5
    assert any("duplicate label name" in e for e in result.errors)
    assert any("UTF-8" in e for e in result.errors)


def test_label_limits(backend: str) -> None:
    limits = WriteLimits(max_labels_per_series=2, max_label_name_bytes=8, max_label_value_bytes=4)
    ok = TimeSeries([(b"__name__", b"up"), (b"a", b"b"), (b"c", b"")], [Sample(1, 0)])
    many = TimeSeries([(b"__name__", b"up"), (b"a", b"b"), (b"c", b"d")], [Sample(1, 0)])
    long_name = TimeSeries([(b"__name__", b"up"), (b"abcdefghi", b"b")], [Sample(1, 0)])
    long_value = TimeSeries([(b"__name__", b"upupup")], [Sample(1, 0)])
    app = FakeAppender()
    result = RemoteWriteDecoder(app, limits).write(
        compress(encode_request([ok, many, long_name, long_value]))
    )
    assert result.samples_accepted == 1 and result.series_rejected == 3
    assert [e.split(",")[0] for e in result.errors] == [
        "series has 3 labels",
        "label name of 9 bytes",
        "label value of 6 bytes",
    ]


def test_histograms_counted_as_rejected(backend: str) -> None:
    series = [TimeSeries([(b"__name__", b"h")], [], histograms=3)]
    app = FakeAppender()
    result = RemoteWriteDecoder(app).write(compress(encode_request(series)))
    reason = "3 native histogram samples rejected: not supported yet"
    assert result == WriteResult(0, 3, 0, [reason])
    assert app.ref_calls == 0


def test_staleness_marker_bits_survive(backend: str) -> None:
    stale = 0x7FF0000000000002
    series = [TimeSeries([(b"__name__", b"up")], [Sample(1, stale), Sample(2, 0x7FF8000000000001)])]
    app = FakeAppender()
    RemoteWriteDecoder(app).write(compress(encode_request(series)))
    assert [b for _, _, b in app.appended] == [stale, 0x7FF8000000000001]


def test_last_scalar_wins_and_defaults() -> None:
    raw = (
        tag(1, 1)
        + struct.pack("<d", 1.0)
        + tag(2, 0)
        + varint(7)
        + tag(1, 1)
        + struct.pack("<d", 2.0)
    )
    label = len_field(2, b"v") + len_field(1, b"x") + len_field(1, b"__name__") + len_field(2, b"m")
    body = len_field(1, len_field(2, raw) + len_field(1, label) + len_field(2, b""))
    app = FakeAppender()
    RemoteWriteDecoder(app).write(compress(body))
    labels = (("__name__", "m"),)
    assert app.appended == [(labels, 7, float_bits(2.0)), (labels, 0, 0)]


MALFORMED = {
    "truncated varint": len_field(1, b"") + b"\x0a",
    "length past end": b"\x0a\x05abc",
    "group wire type": tag(1, 3),
    "wire type 7": tag(9, 7),
    "field number 0": b"\x02\x00",
    "labels as varint": len_field(1, tag(1, 0) + varint(1)),
    "samples as fixed32": len_field(1, tag(2, 5) + b"1234"),
    "sample value as varint": len_field(1, len_field(2, tag(1, 0) + varint(1))),
    "sample ts as fixed64": len_field(1, len_field(2, tag(2, 1) + b"\0" * 8)),
    "label name as varint": len_field(1, len_field(1, tag(1, 0) + varint(1))),
    "label truncated": len_field(1, len_field(1, b"\x0a\x09ab")),
    "eleven-byte varint": len_field(1, len_field(2, tag(2, 0) + b"\xff" * 10 + b"\x01")),
    "timeseries as varint": tag(1, 0) + varint(3),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_rejects_whole_request(backend: str, name: str) -> None:
    good = encode_request([TimeSeries([(b"__name__", b"up")], [Sample(1, 0)])])
    app = FakeAppender()
    with pytest.raises(IngestError, match="cannot decode remote-write request"):
        RemoteWriteDecoder(app).write(compress(good + MALFORMED[name]))
    assert app.appended == [] and app.ref_calls == 0


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(series=write_requests(max_series=3))
def test_truncation_at_every_offset(backend: str, series: list[TimeSeries]) -> None:
    raw = encode_request(series)
    boundaries = series_boundaries(series)
    decoder = RemoteWriteDecoder(FakeAppender())
    for cut in range(len(raw)):
        try:
            decoder.write(compress(raw[:cut]))
        except IngestError as exc:
            assert cut not in boundaries, exc
        else:
            assert cut in boundaries
    body = compress(raw)
    for cut in range(len(body)):
        with pytest.raises(IngestError, match="decompress"):
            decoder.write(body[:cut])


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200))
def test_garbage_never_crashes(backend: str, body: bytes) -> None:
    decoder = RemoteWriteDecoder(FakeAppender())
    for candidate in (body, compress(body)):
        with contextlib.suppress(IngestError):
            decoder.write(candidate)


def test_declared_length_over_limit_rejected_before_allocation(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object) -> int:
        raise AssertionError("decompressed although over the limit")

    body = varint(2**32 - 1) + b"\x00" * 10
    decoder = RemoteWriteDecoder(FakeAppender(), WriteLimits(max_decompressed_bytes=1 << 20))
    monkeypatch.setattr(cramjam.snappy, "decompress_raw_into", boom)
    monkeypatch.setattr(kernels, "snappy_decompress_into", boom)
    with pytest.raises(PayloadTooLargeError) as info:
        decoder.write(body)
    assert info.value.status == 413
    with pytest.raises(PayloadTooLargeError, match="over the limit of 100"):
        RemoteWriteDecoder(FakeAppender(), WriteLimits(max_body_bytes=100)).write(b"\0" * 101)


def test_bad_snappy_header(backend: str) -> None:
    with pytest.raises(IngestError, match="snappy length header"):
        RemoteWriteDecoder(FakeAppender()).write(b"\xff\xff\xff\xff\xff\xff")
    with pytest.raises(IngestError, match="snappy length header"):
        RemoteWriteDecoder(FakeAppender()).write(b"")


def test_series_and_sample_limits(backend: str) -> None:
    series = [TimeSeries([(b"__name__", f"m{i}".encode())], [Sample(1, 0)] * 3) for i in range(4)]
    body = compress(encode_request(series))
    with pytest.raises(PayloadTooLargeError, match="4 series"):
        RemoteWriteDecoder(FakeAppender(), WriteLimits(max_series_per_request=3)).write(body)
    with pytest.raises(PayloadTooLargeError, match="12 samples"):
        RemoteWriteDecoder(FakeAppender(), WriteLimits(max_samples_per_request=11)).write(body)


def test_new_series_share_their_decoded_label_pairs(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def request(first: int) -> bytes:
        series = [
            TimeSeries(
                [(b"__name__", b"up"), (b"job", b"node"), (b"i", str(i).encode())],
                [Sample(1, 0)],
            )
            for i in range(first, first + 3)
        ]
        return compress(encode_request(series))

    app = FakeAppender()
    decoder = RemoteWriteDecoder(app)
    decoder.write(request(0))
    decoder.write(request(3))  # a later request: pairs decoded by the first are reused
    name, job = app.labels[0][0], app.labels[0][2]  # sorted: __name__, i, job
    assert [ls[0] is name and ls[2] is job for ls in app.labels] == [True] * 6
    assert len({id(ls[1]) for ls in app.labels}) == 6
    # the cache is bounded: once full it starts again, and decoding stays correct
    monkeypatch.setattr(remote_write, "PAIR_CACHE_SIZE", 2)
    decoder.write(request(6))
    assert len(decoder._pairs) <= 2
    assert [validate_labels(ls) for ls in app.labels[6:]] == app.labels[6:]
    assert [dict(ls)["i"] for ls in app.labels] == [str(i) for i in range(9)]


def test_small_cache_rotates_and_stays_correct(backend: str) -> None:
    app = FakeAppender()
    decoder = RemoteWriteDecoder(app, cache_size=8)
    for round_ in range(3):
        series = [
            TimeSeries([(b"__name__", b"m"), (b"i", str(i).encode())], [Sample(round_, 0)])
            for i in range(20)
        ]
        app.appended.clear()
        check(series, decoder.write(compress(encode_request(series))), app)
        assert decoder.cached_series <= 8
    assert len(app.labels) == 20


def test_with_the_real_store(tmp_path: object) -> None:
    from obskit import tsdb
    from obskit.model.matchers import Matcher, MatchType

    series = [
        TimeSeries(
            [(b"__name__", b"node_load1"), (b"instance", f"h{i}".encode()), (b"x", b"")],
            [Sample(1_700_000_000_000 + k * 15_000, float_bits(i + k / 10)) for k in range(3)],
        )
        for i in range(5)
    ]
    series.append(TimeSeries([(b"instance", b"nameless")], [Sample(1_700_000_000_000, 0)]))
    db = tsdb.open(tmp_path)  # type: ignore[arg-type]
    try:
        decoder = RemoteWriteDecoder(db)
        body = compress(encode_request(series))
        result = decoder.write(body)
        assert result.samples_accepted == 15 and result.series_rejected == 1
        got = db.select([Matcher(MatchType.EQ, "__name__", "node_load1")], 0, 2**62)
        assert len(got) == 5
        by_instance = {dict(s.labels)["instance"]: s for s in got}
        assert by_instance["h2"].values.tolist() == [2.0, 2.1, 2.2]
        assert dict(by_instance["h2"].labels) == {"__name__": "node_load1", "instance": "h2"}
    finally:
        db.close()


def test_team_encoder_bodies_decode(backend: str) -> None:
    """Bodies built with ../shared/bench/remote_write.py's hand-written encoder, when present."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).parents[3] / "shared" / "bench" / "remote_write.py"
    if not path.exists():
        pytest.skip("../shared/bench/remote_write.py is not here")
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location("shared_remote_write", path)
        assert spec is not None and spec.loader is not None
        team = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(team)
    finally:
        sys.path.remove(str(path.parent))
    pairs = [("__name__", "node_load1"), ("instance", "h:9100"), ("job", "node")]
    lab = team.encode_labels(pairs)
    sample = b"\x09" + struct.pack("<d", 0.25) + b"\x10" + team.varint(1_700_000_000_000)
    record = b"\x0a" + team.varint(len(lab) + 2 + len(sample)) + lab
    record += b"\x12" + team.varint(len(sample)) + sample
    app = FakeAppender()
    result = RemoteWriteDecoder(app).write(compress(record * 3))
    assert result.samples_accepted == 3
    assert app.appended[0] == (tuple(pairs), 1_700_000_000_000, float_bits(0.25))


def test_one_pass_decode_grows_its_buffers_and_keeps_the_limits(backend: str) -> None:
    """After the first request the decoder decodes in one pass into buffers sized from earlier
    requests; a larger request takes the counting path, and the limits hold on both paths."""

    def request(n_series: int, n_samples: int, t0: int) -> bytes:
        series = [
            TimeSeries(
                [(b"__name__", f"m{i}".encode())], [Sample(t0 + k, 0) for k in range(n_samples)]
            )
            for i in range(n_series)
        ]
        return compress(encode_request(series))

    decoder = RemoteWriteDecoder(FakeAppender(), WriteLimits(max_samples_per_request=100))
    for t0, (n_series, n_samples) in enumerate([(4, 1), (4, 1), (8, 10), (3, 2), (8, 10)]):
        result = decoder.write(request(n_series, n_samples, 100 * t0))
        assert (result.samples_accepted, result.samples_rejected) == (n_series * n_samples, 0)
    with pytest.raises(PayloadTooLargeError, match="over the limit"):
        decoder.write(request(11, 10, 1000))
    with pytest.raises(IngestError, match="cannot decode"):
        decoder.write(compress(encode_request([]) + b"\x0a\x05\x0a"))
