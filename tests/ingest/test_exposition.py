"""Text exposition / OpenMetrics parsing: Prometheus' own examples, escapes, errors, round-trip."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obskit import kernels
from obskit.errors import IngestError
from obskit.ingest.exposition import parse_exposition
from obskit.kernels import exposition_lines

NORMAL_NAN = np.array([0x7FF8000000000001], dtype=np.uint64).view(np.float64)[0]

# The example of the Prometheus exposition-format document, written out by hand.
PROM_EXAMPLE = rb"""# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
"""  # noqa: E501

OM_EXAMPLE = b"""# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
# TYPE foo counter
foo_total 17.0 1520879607.789 # {trace_id="KOO5S4vxi0o"} 0.67
foo_created 1520430000.123
# EOF
"""


@pytest.fixture(params=["native", "python"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "native":
        if kernels.BACKEND != "native":
            pytest.skip("obskit._native not built")
    else:
        monkeypatch.setattr(kernels, "tokenize_exposition", exposition_lines.tokenize_exposition)
    return str(request.param)


def rows(p: object) -> list[tuple[dict[str, str], int, float]]:
    from obskit.ingest.parsed import ParsedSamples

    assert isinstance(p, ParsedSamples)
    return [
        (dict(p.series[s]), int(t), float(v))
        for s, t, v in zip(p.series_index, p.timestamps_ms, p.values, strict=True)
    ]


def test_prometheus_document_example(backend: str) -> None:
    p = parse_exposition(PROM_EXAMPLE, 99)
    r = rows(p)
    assert r[0] == ({"__name__": "http_requests_total", "method": "post", "code": "200"},
                    1395066363000, 1027.0)  # fmt: skip
    assert r[1][2] == 3.0
    assert r[2][0] == {
        "__name__": "msdos_file_access_time_seconds",
        "path": "C:\\DIR\\FILE.TXT",
        "error": 'Cannot find file:\n"FILE.TXT"',
    }
    assert r[2][1:] == (99, 1.458255915e9)
    assert r[3] == ({"__name__": "metric_without_timestamp_and_labels"}, 99, 12.47)
    assert r[4] == ({"__name__": "something_weird", "problem": "division by zero"},
                    -3982045, math.inf)  # fmt: skip
    assert r[6] == (
        {"__name__": "http_request_duration_seconds_bucket", "le": "+Inf"},
        99,
        144320.0,
    )
    assert r[-2][2] == 1.7560473e07
    assert len(r) == 12 and len(p.series) == 12
    assert p.metadata["http_requests_total"] == ("counter", "The total number of HTTP requests.")
    assert p.metadata["rpc_duration_seconds"][0] == "summary"
    assert p.errors == []


def test_openmetrics_example(backend: str) -> None:
    p = parse_exposition(OM_EXAMPLE, 5)
    r = rows(p)
    names = [x[0]["__name__"] for x in r]
    assert "acme_http_router_request_seconds_created" in names and "foo_created" in names
    assert r[3] == ({"__name__": "foo_total"}, 1520879607789, 17.0)  # exemplar dropped
    assert r[4][1] == 5 and r[4][2] == 1520430000.123
    assert p.metadata["foo"] == ("counter", "")
    assert p.metadata["acme_http_router_request_seconds"][1].startswith("Latency though")


def test_same_series_grouped_first_seen_order(backend: str) -> None:
    text = b'b{x="1"} 1 10\na 2 10\nb{ x = "1" } 3 20\nb{x="1",y=""} 4 30\n'
    p = parse_exposition(text, 0)
    assert p.series == [(("__name__", "b"), ("x", "1")), (("__name__", "a"),)]
    assert p.series_index.tolist() == [0, 1, 0, 0]
    assert p.values.tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (rb"a\\b", "a\\b"),
        (rb"a\"b", 'a"b'),
        (rb"a\nb", "a\nb"),
        (rb"a\tb", "a\\tb"),  # unknown escapes stay as written (Prometheus' replacer)
        (rb"\\n", "\\n"),
        ("é€😀".encode(), "é€😀"),
    ],
)
def test_label_value_escapes(backend: str, raw: bytes, value: str) -> None:
    p = parse_exposition(b'm{l="' + raw + b'"} 1\n', 0)
    assert dict(p.series[0])["l"] == value


def test_quoted_utf8_names(backend: str) -> None:
    p = parse_exposition(b'{"my.metric", "label.name"="v", plain="w"} 1\n', 0)
    assert dict(p.series[0]) == {"__name__": "my.metric", "label.name": "v", "plain": "w"}
    p = parse_exposition(b'{"label.name"="v", "my.metric"} 1\n# EOF\n', 0, openmetrics=False)
    assert dict(p.series[0])["__name__"] == "my.metric"


@pytest.mark.parametrize(
    ("tok", "bits"),
    [
        (b"NaN", 0x7FF8000000000001),
        (b"nan", 0x7FF8000000000001),
        (b"+Inf", 0x7FF0000000000000),
        (b"-inf", 0xFFF0000000000000),
        (b"Infinity", 0x7FF0000000000000),
        (b"-0", 0x8000000000000000),
        (b"1e-400", 0),
        (b".5", 0x3FE0000000000000),
        (b"5.", 0x4014000000000000),
        (b"0.1", 0x3FB999999999999A),
        (b"123456789012345678901234567890", 0x45F8EE90FF6C373E),
        (b"1.7976931348623157e308", 0x7FEFFFFFFFFFFFFF),
    ],
)
def test_values(backend: str, tok: bytes, bits: int) -> None:
    p = parse_exposition(b"m " + tok + b"\n", 0)
    assert int(p.values.view(np.uint64)[0]) == bits


@pytest.mark.parametrize(
    "tok",
    [b"1e400", b"0x1p3", b"0x10", b"1_000", b"+NaN", b"-nan", b"infin", b"1e", b".", b"1.2.3"],
)
def test_bad_values(backend: str, tok: bytes) -> None:
    with pytest.raises(IngestError, match="line 2: invalid value"):
        parse_exposition(b"ok 1\nm " + tok + b"\n", 0)


def test_timestamps_text_vs_openmetrics(backend: str) -> None:
    assert parse_exposition(b"m 1 1500\n", 0).timestamps_ms.tolist() == [1500]
    om = parse_exposition(b"m 1 1.5\nm 2 -2.0009\n# EOF\n", 0)
    assert om.timestamps_ms.tolist() == [1500, -2000]  # truncated toward zero, as Go converts
    with pytest.raises(IngestError, match=r"line 1: unexpected text after the sample: '\.5'"):
        parse_exposition(b"m 1 1.5\n", 0, openmetrics=False)
    with pytest.raises(IngestError, match="line 1: invalid timestamp"):
        parse_exposition(b"m 1 99999999999999999999\n", 0)
    with pytest.raises(IngestError, match="line 1: invalid timestamp"):
        parse_exposition(b"m 1 NaN\n# EOF\n", 0)


def test_openmetrics_is_stricter(backend: str) -> None:
    text_ok = b'  m { a = "1" b="2" }   3   \n\n# free comment\n'
    assert len(parse_exposition(text_ok, 0, openmetrics=False)) == 1
    for bad, what in [
        (b"m  1\n# EOF\n", "invalid value|expected a value"),
        (b"\n# EOF\n", "blank"),
        (b"# free comment\n# EOF\n", "only HELP"),
        (b'm{a="1" b="2"} 1\n# EOF\n', "blanks"),
        (b'm{a="1"b="2"} 1\n# EOF\n', "expected ','"),
    ]:
        with pytest.raises(IngestError, match=f"line 1: .*({what})"):
            parse_exposition(bad, 0, openmetrics=True)


def test_openmetrics_eof(backend: str) -> None:
    with pytest.raises(IngestError, match="line 2: data does not end with # EOF"):
        parse_exposition(b"m 1\n", 0, openmetrics=True)
    p = parse_exposition(b"m 1\n", 0, openmetrics=True, strict=False)
    assert len(p) == 1 and p.errors == ["line 2: data does not end with # EOF"]
    with pytest.raises(IngestError, match="line 3: unexpected data after # EOF"):
        parse_exposition(b"m 1\n# EOF\nm 2\n", 0, openmetrics=True)


@pytest.mark.parametrize(
    ("text", "what"),
    [
        (b'm{a="1",a="2"} 1\n', "duplicate label name"),
        (b'm{""="x"} 1\n', "empty label name"),
        (b'{a="1"} 1\n', "metric name not set"),
        (b'm{"x"} 1\n', "metric name already set"),
        (b'm{a="1"\n', "not closed"),
        (b'm{a="\\xff"} 1\n'.replace(b"\\xff", b"\xff"), "utf-8"),
        (b"1m 1\n", "expected a metric name"),
        (b"m\n", "expected a value"),
        (b"m 1 2 3\n", "unexpected text"),
        (b"# TYPE m countr\n", "invalid metric type"),
        (b"# HELP 1m x\n", "expected a metric name after"),
        (b"m{a=1} 1\n", "unexpected character"),
    ],
)
def test_bad_lines_name_the_line(backend: str, text: bytes, what: str) -> None:
    body = b"ok 1\n# comment\n" + text
    with pytest.raises(IngestError, match=f"^line 3: .*{what}"):
        parse_exposition(body, 0, openmetrics=False)
    p = parse_exposition(body, 0, openmetrics=False, strict=False)
    assert p.errors and p.errors[0].startswith("line 3: ")
    assert rows(p)[0] == ({"__name__": "ok"}, 0, 1.0)


def test_partial_write_keeps_valid_lines(backend: str) -> None:
    p = parse_exposition(b"a 1\nb{ 2\nc 3\nd x\n", 7, strict=False)
    assert [dict(s)["__name__"] for s in p.series] == ["a", "c"]
    assert [e.split(":")[0] for e in p.errors] == ["line 2", "line 4"]


def test_extra_labels_override(backend: str) -> None:
    p = parse_exposition(b'm{job="x",a="1"} 1\n', 0, extra_labels={"job": "y", "a": ""})
    assert p.series == [(("__name__", "m"), ("job", "y"))]


def test_hostile_input_is_linear(backend: str) -> None:
    huge = b'm{a="' + b"\\\\" * 300_000 + b'"} 1\n'
    p = parse_exposition(huge, 0)
    assert len(dict(p.series[0])["a"]) == 300_000
    unterminated = b'm{a="' + b"x" * 5_000_000
    q = parse_exposition(unterminated, 0, strict=False)
    assert len(q) == 0 and "not closed" in q.errors[0] and len(q.errors[0]) < 200


# ---- parity of the C and Python tokenizers, and a render/parse round-trip ---------------------

_ALPHABET = [b"a", b"_", b":", b"1", b"0", b".", b"e", b"-", b"+", b" ", b"\t", b"{", b"}", b'"',
             b"\\", b"=", b",", b"#", b"\n", b"Inf", b"NaN", b"9" * 25, b"1e400", b"# ", b"HELP ",
             b"TYPE ", b"EOF", b' # {a="b"} 1', b"\xff", b"\xc3\xa9", b'"x"']  # fmt: skip


@pytest.mark.skipif(kernels.BACKEND != "native", reason="obskit._native not built")
def test_tokenizer_parity_fuzz() -> None:
    rng = random.Random(7)
    native, ref = kernels.tokenize_exposition, exposition_lines.tokenize_exposition
    for _ in range(5000):
        text = b"".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 40)))
        for om in (False, True):
            a, b = ref(text, om), native(text, om)
            for x, y in zip(a, b, strict=True):
                assert x.dtype == y.dtype and x.shape == y.shape
                assert x.tobytes() == y.tobytes(), (text, om)


_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True)
_values = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dictionaries(_names.filter(lambda n: n != "__name__"), _values, max_size=4),
            st.floats(allow_nan=True, allow_infinity=True),
            st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
            st.booleans(),
        ),
        min_size=1,
        max_size=20,
    ),
    st.booleans(),
)
def test_render_parse_round_trip(
    samples: list[tuple[dict[str, str], float, int | None, bool]], native: bool
) -> None:
    if native and kernels.BACKEND != "native":
        return
    tokenize = kernels.tokenize_exposition if native else exposition_lines.tokenize_exposition
    lines, want = [], []
    for i, (labels, value, ts, quoted) in enumerate(samples):
        name = f"m{i % 3}.x" if quoted else f"m{i % 3}"
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        key = f'{{"{name}"{"," if inner else ""}{inner}}}' if quoted else f"{name}{{{inner}}}"
        lines.append(f"{key} {value!r}" + ("" if ts is None else f" {ts}"))
        want.append(
            (
                {"__name__": name, **{k: v for k, v in labels.items() if v}},
                -1 if ts is None else ts,
                NORMAL_NAN if math.isnan(value) else value,
            )
        )
    text = ("\n".join(lines) + "\n").encode()
    orig = kernels.tokenize_exposition
    kernels.tokenize_exposition = tokenize
    try:
        got = rows(parse_exposition(text, -1, openmetrics=False))
    finally:
        kernels.tokenize_exposition = orig
    assert [(g[0], g[1]) for g in got] == [(w[0], w[1]) for w in want]
    got_bits = np.array([g[2] for g in got]).view(np.uint64)
    want_bits = np.array([w[2] for w in want]).view(np.uint64)
    assert got_bits.tolist() == want_bits.tolist()
