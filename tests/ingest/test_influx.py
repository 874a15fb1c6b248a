"""Influx line protocol: field types, escapes, precisions, series naming, bad lines."""

from __future__ import annotations

import pytest

from obskit.errors import IngestError
from obskit.ingest.influx import parse_influx


def rows(body: bytes, **kw: object) -> list[tuple[dict[str, str], int, float]]:
    p = parse_influx(body, 42, **kw)  # type: ignore[arg-type]
    return [
        (dict(p.series[s]), int(t), float(v))
        for s, t, v in zip(p.series_index, p.timestamps_ms, p.values, strict=True)
    ]


def test_field_types_and_naming() -> None:
    body = b'cpu,host=a f=1.5,i=-12i,u=12u,b1=t,b2=FALSE,s="text" 1700000000123456789\n'
    r = rows(body)
    assert [x[0]["__name__"] for x in r] == ["cpu_f", "cpu_i", "cpu_u", "cpu_b1", "cpu_b2"]
    assert [x[2] for x in r] == [1.5, -12.0, 12.0, 1.0, 0.0]
    assert {x[1] for x in r} == {1700000000123}
    assert r[0][0] == {"__name__": "cpu_f", "host": "a"}
    assert parse_influx(body, 0).skipped == {"string field": 1}


def test_escapes() -> None:
    r = rows(b'my\\ meas\\,x,t\\=k=v\\ 1\\,2 fi\\=eld=1,s="a \\" b, c=d" 5\n', precision="ms")
    assert r == [({"__name__": "my meas,x_fi=eld", "t=k": "v 1,2"}, 5, 1.0)]


@pytest.mark.parametrize(
    ("precision", "ts", "ms"),
    [("ns", 1_500_000_000, 1500), ("n", 1_500_000_000, 1500), ("us", 1_500_000, 1500),
     ("u", 1_500_000, 1500), ("ms", 1500, 1500), ("s", 2, 2000), ("m", 1, 60_000),
     ("h", 1, 3_600_000), ("ns", -1_500_000, -1)],
)  # fmt: skip
def test_precisions(precision: str, ts: int, ms: int) -> None:
    assert rows(b"m v=1 %d\n" % ts, precision=precision)[0][1] == ms


def test_missing_timestamp_empty_measurement_and_extra_labels() -> None:
    r = rows(b",t=1 value=3\n\n# comment\nm,job=x v=1\n", extra_labels={"job": "y"})
    assert r == [({"__name__": "value", "t": "1", "job": "y"}, 42, 3.0),
                 ({"__name__": "m_v", "job": "y"}, 42, 1.0)]  # fmt: skip


@pytest.mark.parametrize(
    ("line", "what"),
    [
        (b"m", "expected 'measurement"),
        (b"m v=", "expected field=value"),
        (b"m v=abc", "invalid value of field 'v'"),
        (b"m v=1 notatime", "expected 'measurement"),
        (b"m v=9223372036854775808i", "out of range"),
        (b"m v=1e999", "out of range"),
        (b"m v=1 99999999999999999999999", "timestamp out of range"),
        (b"m,t v=1", "expected tag=value"),
        (b'm v="unterminated', "expected 'measurement"),
    ],
)
def test_bad_lines(line: bytes, what: str) -> None:
    body = b"ok v=1\n" + line + b"\nok2 v=2\n"
    with pytest.raises(IngestError, match=f"^line 2: .*{what}"):
        parse_influx(body, 0)
    p = parse_influx(body, 0, strict=False)
    assert len(p) == 2 and p.errors[0].startswith("line 2: ")


def test_unknown_precision() -> None:
    with pytest.raises(IngestError, match="unknown precision"):
        parse_influx(b"m v=1\n", 0, precision="fortnight")


def test_hostile_line_is_linear() -> None:
    p = parse_influx(b"m,t=" + b"\\," * 300_000 + b" v=1\n", 0)
    assert len(dict(p.series[0])["t"]) == 300_000
