"""The Prometheus query endpoints over HTTP: parameters (URL and form, as Go's FormValue),
envelopes, status codes and error bodies, with a fake engine and a real store."""

from __future__ import annotations

import gzip
from typing import Any

import numpy as np
import pytest

from api.conftest import Client, FakeEngine
from obskit.errors import ParseError, QueryError, QueryLimitError, QueryTimeoutError
from obskit.model.labels import make_labels
from obskit.model.series import Series
from obskit.promql import Matrix, QueryResult, Scalar, String, Vector

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_grafana_health_check_is_exact(client: Client, engine: FakeEngine) -> None:
    r = client.post("/api/v1/query", content="query=1%2B1&time=4", headers=FORM)
    assert r.status_code == 200
    assert r.content == b'{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}'
    assert r.headers["content-type"] == "application/json"
    assert engine.calls[-1]["query"] == "1+1" and engine.calls[-1]["time_ms"] == 4000
    r = client.get("/api/v1/query", params={"query": "1+1", "time": "4"})
    assert r.json() == {"status": "success", "data": {"resultType": "scalar", "result": [4, "2"]}}


def test_form_body_wins_over_url_and_both_are_read(client: Client, engine: FakeEngine) -> None:
    # Go's FormValue: body values first, then the URL's; a POST may carry everything in the URL
    client.post("/api/v1/query?query=3&time=5", content="query=1%2B1", headers=FORM)
    assert (engine.calls[-1]["query"], engine.calls[-1]["time_ms"]) == ("1+1", 5000)
    client.post("/api/v1/query?query=up&time=7")
    assert (engine.calls[-1]["query"], engine.calls[-1]["time_ms"]) == ("up", 7000)
    # a body that is not a form is not read as one
    client.post("/api/v1/query?query=up&time=7", content="query=x", headers={"Content-Type": "x"})
    assert engine.calls[-1]["query"] == "up"
    # unknown parameters (Grafana's custom query parameters) are ignored
    r = client.get("/api/v1/query", params={"query": "up", "time": "1", "partial_response": "1"})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("4", 4000),
        ("1700000000.123", 1700000000123),
        ("-4.5", -4500),
        ("0.0015", 2),
        ("1e3", 1_000_000),
        ("2020-01-01T00:00:00Z", 1577836800000),
        ("2020-01-01T00:00:00.1239Z", 1577836800123),
        ("2020-01-01T01:00:00+01:00", 1577836800000),
        ("1700000000000", 1700000000000000),  # ms where seconds are expected: far future, ok
    ],
)
def test_time_formats(client: Client, engine: FakeEngine, text: str, ms: int) -> None:
    r = client.get("/api/v1/query", params={"query": "1", "time": text})
    assert r.status_code == 200, r.text
    assert engine.calls[-1]["time_ms"] == ms


def test_time_defaults_to_now(client: Client, engine: FakeEngine) -> None:
    import time

    before = int(time.time() * 1000)
    client.get("/api/v1/query", params={"query": "1"})
    assert before <= engine.calls[-1]["time_ms"] <= int(time.time() * 1000)


@pytest.mark.parametrize(
    ("step", "step_ms"), [("15", 15000), ("0.5", 500), ("1m0s", 60000), ("1h30m", 5_400_000)]
)
def test_range_query_steps(client: Client, engine: FakeEngine, step: str, step_ms: int) -> None:
    r = client.post(
        "/api/v1/query_range",
        data={"query": "up", "start": "1700000000", "end": "1700003600.5", "step": step},
    )
    assert r.status_code == 200, r.text
    call = engine.calls[-1]
    assert (call["start_ms"], call["end_ms"], call["step_ms"]) == (
        1700000000000,
        1700003600500,
        step_ms,
    )


@pytest.mark.parametrize(("nocache", "use_cache"), [(None, True), ("1", False), ("0", True)])
def test_nocache_reaches_the_engine(
    client: Client, engine: FakeEngine, nocache: str | None, use_cache: bool
) -> None:
    params = {"query": "up", "start": "1700000000", "end": "1700003600", "step": "60"}
    if nocache is not None:
        params["nocache"] = nocache
    assert client.get("/api/v1/query_range", params=params).status_code == 200
    assert engine.calls[-1]["use_cache"] is use_cache


def test_timeout_and_lookback_delta_reach_the_engine(client: Client, engine: FakeEngine) -> None:
    client.get("/api/v1/query", params={"query": "1", "timeout": "2m", "lookback_delta": "1m"})
    assert engine.calls[-1]["timeout_s"] == 120.0  # capped by the configured 120 s
    assert engine.calls[-1]["lookback_delta_ms"] == 60_000
    client.get("/api/v1/query", params={"query": "1", "timeout": "1.5"})
    assert engine.calls[-1]["timeout_s"] == 1.5
    assert engine.calls[-1]["lookback_delta_ms"] is None
    client.get("/api/v1/query", params={"query": "1", "timeout": "1h"})
    assert engine.calls[-1]["timeout_s"] == 120.0


def error_of(r: Any) -> tuple[int, str, str]:
    body = r.json()
    assert set(body) == {"status", "errorType", "error"}, body
    assert body["status"] == "error"
    return r.status_code, body["errorType"], body["error"]


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        (
            "/api/v1/query",
            {"query": "1", "time": "abc"},
            "invalid parameter \"time\": Invalid time value for 'time': "
            'cannot parse "abc" to a valid timestamp',
        ),
        (
            "/api/v1/query",
            {"query": "1", "timeout": "abc"},
            'invalid parameter "timeout": cannot parse "abc" to a valid duration',
        ),
        (
            "/api/v1/query_range",
            {"query": "1", "end": "1", "step": "1"},
            'invalid parameter "start": cannot parse "" to a valid timestamp',
        ),
        (
            "/api/v1/query_range",
            {"query": "1", "start": "10", "end": "0", "step": "1"},
            'invalid parameter "end": end timestamp must not be before start time',
        ),
        (
            "/api/v1/query_range",
            {"query": "1", "start": "0", "end": "1", "step": "x"},
            'invalid parameter "step": cannot parse "x" to a valid duration',
        ),
        (
            "/api/v1/query_range",
            {"query": "1", "start": "0", "end": "10", "step": "0"},
            'invalid parameter "step": zero or negative query resolution step widths are not '
            "accepted. Try a positive integer",
        ),
        (
            "/api/v1/query_range",
            {"query": "1", "start": "0", "end": "10", "step": "-1"},
            'invalid parameter "step": zero or negative query resolution step widths are not '
            "accepted. Try a positive integer",
        ),
        (
            "/api/v1/query_range",
            {"query": "1", "start": "0", "end": "11001", "step": "1"},
            "exceeded maximum resolution of 11,000 points per timeseries. "
            "Try decreasing the query resolution (?step=XX)",
        ),
        ("/api/v1/series", {}, "no match[] parameter provided"),
        (
            "/api/v1/series",
            {"match[]": "up", "limit": "x"},
            'invalid parameter "limit": strconv.Atoi: parsing "x": invalid syntax',
        ),
        (
            "/api/v1/labels",
            {"start": "x"},
            "invalid parameter \"start\": Invalid time value for 'start': "
            'cannot parse "x" to a valid timestamp',
        ),
        ("/api/v1/label/foo/values", {"limit": "-1"}, 'invalid parameter "limit": limit must be '),
    ],
)
def test_bad_parameters_are_400_bad_data(
    client: Client, path: str, params: dict[str, str], message: str
) -> None:
    status, error_type, error = error_of(client.get(path, params=params))
    assert (status, error_type) == (400, "bad_data")
    assert error.startswith(message)


def test_11000_points_is_the_limit(client: Client) -> None:
    ok = {"query": "1", "start": "0", "end": "11000", "step": "1"}
    assert client.get("/api/v1/query_range", params=ok).status_code == 200


@pytest.mark.parametrize(
    ("exc", "status", "error_type"),
    [
        (ParseError("1:5: parse error: unexpected identifier", position=4), 400, "bad_data"),
        (QueryError("many-to-many matching not allowed"), 422, "execution"),
        (QueryLimitError("query would load too many samples"), 422, "execution"),
        (QueryTimeoutError("query timed out in expression evaluation"), 503, "timeout"),
        (NotImplementedError(), 422, "execution"),
        (RuntimeError("boom"), 500, "internal"),
    ],
)
def test_engine_errors_map_to_prometheus_status(
    client: Client, engine: FakeEngine, exc: Exception, status: int, error_type: str
) -> None:
    def fail(call: dict[str, Any]) -> QueryResult:
        raise exc

    engine.answer = fail
    for r in (
        client.get("/api/v1/query", params={"query": "x"}),
        client.post("/api/v1/query_range", data={"query": "x", "start": 0, "end": 1, "step": 1}),
    ):
        assert error_of(r)[:2] == (status, error_type)
    if isinstance(exc, ParseError):
        assert error_of(r)[2] == f'invalid parameter "query": {exc}'


def answer(value: Any, warnings: list[str] | None = None) -> Any:
    return lambda call: QueryResult(value, warnings or [], [])


def test_vector_matrix_string_envelopes(client: Client, engine: FakeEngine) -> None:
    vec = Vector(
        4500,
        [make_labels("up", job="a"), (("job", "b"),)],
        np.array([1.0, np.nan]),
    )
    engine.answer = answer(vec, ["w1"])
    r = client.get("/api/v1/query", params={"query": "up"})
    assert r.content == (
        b'{"status":"success","data":{"resultType":"vector","result":['
        b'{"metric":{"__name__":"up","job":"a"},"value":[4.500,"1"]},'
        b'{"metric":{"job":"b"},"value":[4.500,"NaN"]}]},"warnings":["w1"]}'
    )
    mat = Matrix(
        [
            Series(
                (("job", "a"),),
                np.array([0, 1500, 3000], np.int64),
                np.array([np.inf, -np.inf, 1e21]),
            )
        ]
    )
    engine.answer = answer(mat)
    r = client.get("/api/v1/query_range", params={"query": "x", "start": 0, "end": 3, "step": 1.5})
    assert r.json() == {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {"metric": {"job": "a"}, "values": [[0, "+Inf"], [1.5, "-Inf"], [3, "1e+21"]]}
            ],
        },
    }
    for empty in (Matrix([]), Vector(0, [], np.array([]))):
        engine.answer = answer(empty)
        data = client.get("/api/v1/query", params={"query": "x"}).json()["data"]
        assert data["result"] == [] and list(data) == ["resultType", "result"]
    engine.answer = answer(String(4000, 'a "quoted" string'))
    r = client.get("/api/v1/query", params={"query": "x"})
    assert r.json()["data"] == {"resultType": "string", "result": [4, 'a "quoted" string']}
    engine.answer = answer(Scalar(4000, 1e21))  # scalars never use the exponent form
    assert client.get("/api/v1/query").json()["data"]["result"] == [4, "1000000000000000000000"]


def test_gzip_when_accepted(client: Client, engine: FakeEngine) -> None:
    n = 2000
    mat = Matrix([Series((("a", "b"),), np.arange(n, dtype=np.int64) * 1000, np.arange(n) / 7)])
    engine.answer = answer(mat)
    params = {"query": "x", "start": 0, "end": n, "step": 1}
    plain = client.get("/api/v1/query_range", params=params, headers={"Accept-Encoding": "x"})
    assert "content-encoding" not in plain.headers
    r = client.get("/api/v1/query_range", params=params, headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert int(r.headers["content-length"]) < len(plain.content) / 2
    assert r.content == plain.content  # httpx decodes it
    raw = client.get("/api/v1/status/buildinfo", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in raw.headers  # small bodies are sent as they are
    assert gzip.decompress(gzip.compress(plain.content)) == plain.content


def test_series_labels_values(client: Client) -> None:
    r = client.get("/api/v1/series", params={"match[]": "up"})
    assert r.json() == {
        "status": "success",
        "data": [
            {"__name__": "up", "instance": "a:1", "job": "api"},
            {"__name__": "up", "instance": "b:1", "job": "api"},
            {"__name__": "up", "instance": "c:1", "job": "db"},
        ],
    }
    # repeated match[] (union), trailing comma, regex on __name__, form body
    r = client.post(
        "/api/v1/series",
        content='match[]=up{job="db"}&match[]={__name__=~"http.*",code="500",}',
        headers=FORM,
    )
    assert [s["instance"] if "instance" in s else s["code"] for s in r.json()["data"]] == [
        "500",
        "c:1",
    ]
    # time range: only series with samples inside it
    r = client.get("/api/v1/series", params={"match[]": "up", "start": "10", "end": "60"})
    assert [s["instance"] for s in r.json()["data"]] == ["c:1"]
    r = client.get("/api/v1/series", params={"match[]": "up", "limit": "2"})
    assert len(r.json()["data"]) == 2 and r.json()["warnings"] == ["results truncated due to limit"]

    r = client.get("/api/v1/labels")
    assert r.json()["data"] == ["__name__", "code", "http.status", "instance", "job", "my_label"]
    r = client.post("/api/v1/labels", data={"match[]": ["up", 'http_requests_total{code="500"}']})
    assert r.json()["data"] == ["__name__", "code", "instance", "job"]
    r = client.get("/api/v1/labels", params={"match[]": '{__name__=~"up|http.*",}'})
    assert r.json()["data"] == ["__name__", "code", "instance", "job", "my_label"]

    r = client.get("/api/v1/label/__name__/values", params={"limit": "40000"})
    assert r.json() == {"status": "success", "data": ["http_requests_total", "otel_metric", "up"]}
    r = client.get("/api/v1/label/job/values", params={"match[]": "http_requests_total"})
    assert r.json()["data"] == ["api"]
    r = client.get("/api/v1/label/U__my__label/values")  # Grafana's escaping of my_label
    assert r.json()["data"] == ["x"]
    r = client.get("/api/v1/label/U__http_2e_status/values")  # and of http.status
    assert r.json()["data"] == ["404"]
    r = client.get("/api/v1/series", params={"match[]": '{"http.status"="404"}'})
    assert r.json()["data"] == [{"__name__": "otel_metric", "http.status": "404"}]
    r = client.get("/api/v1/label/nope/values", params={"start": "0", "end": "1"})
    assert r.json() == {"status": "success", "data": []}
    r = client.get("/api/v1/label/instance/values", params={"limit": "1"})
    assert r.json()["data"] == ["a:1"] and r.json()["warnings"]


@pytest.mark.parametrize(
    "selector", ['{job=""}', "rate(up[5m])", "up offset 5m", "up{", "1", '{job=~".*"}']
)
def test_bad_match_selectors(client: Client, selector: str) -> None:
    for path in ("/api/v1/series", "/api/v1/labels", "/api/v1/label/job/values"):
        status, error_type, _ = error_of(client.get(path, params={"match[]": selector}))
        assert (status, error_type) == (400, "bad_data"), (path, selector)


def test_empty_matcher_matches_series_without_the_label(client: Client) -> None:
    r = client.get("/api/v1/series", params={"match[]": 'up{my_label=""}'})
    assert len(r.json()["data"]) == 3


def test_metadata_buildinfo_exemplars_format(client: Client) -> None:
    assert client.get("/api/v1/metadata", params={"limit": "40000"}).json() == {
        "status": "success",
        "data": {},
    }
    info = client.get("/api/v1/status/buildinfo").json()["data"]
    assert set(info) == {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}
    assert all(isinstance(v, str) for v in info.values()) and "features" not in info
    # Grafana's exemplar probe sends milliseconds
    for method in ("GET", "POST"):
        r = client.request(
            method,
            "/api/v1/query_exemplars",
            params={"query": "test", "start": "1700000000000", "end": "1700000600000"},
        )
        assert r.json() == {"status": "success", "data": []}
    r = client.get("/api/v1/query_exemplars", params={"query": "x", "start": "2", "end": "1"})
    assert error_of(r)[:2] == (400, "bad_data")
    r = client.get("/api/v1/format_query", params={"query": 'sum(rate(foo{a="b",}[5m]))by(x)'})
    assert r.json() == {"status": "success", "data": 'sum by (x) (rate(foo{a="b"}[5m]))'}
    assert error_of(client.get("/api/v1/format_query", params={"query": "foo bar"}))[:2] == (
        400,
        "bad_data",
    )


def test_label_values_is_get_only_and_unknown_paths_404(client: Client) -> None:
    assert client.post("/api/v1/label/job/values").status_code == 405
    assert client.get("/api/v1/nope").status_code == 404
