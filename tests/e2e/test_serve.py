"""``obskit serve`` as a real process: every ingest format, bad input, limits, self-metrics,
graceful shutdown and restart without loss."""

from __future__ import annotations

import gzip
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np

import obskit.tsdb as tsdb
from e2e.peers import Obskit, obskit_server
from ingest.rw_encode import Sample, TimeSeries, compress, encode_request, float_bits

ALL = (np.iinfo(np.int64).min, np.iinfo(np.int64).max)


def remote_write_body(now_ms: int, n_series: int = 50, n_samples: int = 3) -> bytes:
    series = [
        TimeSeries(
            labels=[(b"__name__", b"rw_metric"), (b"i", str(i).encode()), (b"job", b"e2e")],
            samples=[Sample(now_ms + k * 1000, float_bits(i + k / 10)) for k in range(n_samples)],
        )
        for i in range(n_series)
    ]
    return compress(encode_request(series))


def stored(data_dir: Path) -> dict[str, dict[tuple[tuple[str, str], ...], list[float]]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], list[float]]] = {}
    with tsdb.open(data_dir, tsdb.Options(retention_ms=0)) as db:
        for s in db.select([], *ALL):
            out.setdefault(dict(s.labels)["__name__"], {})[s.labels] = s.values.tolist()
    return out


def test_every_format_lands_and_bad_input_gets_a_clear_4xx(tmp_path: Path) -> None:
    now_ms = int(time.time() * 1000)
    data = tmp_path / "data"
    with obskit_server(data) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        assert c.get("/-/healthy").status_code == 200
        r = c.post(
            "/api/v1/write",
            content=remote_write_body(now_ms),
            headers={"Content-Encoding": "snappy"},
        )
        assert r.status_code == 204, r.text
        text = f'text_metric{{a="1"}} 1.5 {now_ms}\ntext_metric{{a="2"}} NaN\n'
        r = c.post("/api/v1/import/prometheus?extra_label=src=e2e", content=text)
        assert r.status_code == 204, r.text
        r = c.post(
            "/api/v1/import/prometheus",
            content=gzip.compress(text.encode()),
            headers={"Content-Encoding": "gzip"},
        )
        assert r.status_code == 204, r.text
        r = c.post("/write?precision=ms", content=f"cpu,host=a usage=2.5,idle=7i {now_ms}\n")
        assert r.status_code == 204, r.text
        r = c.post("/api/v2/write?precision=s", content=f"mem,host=b used=1 {now_ms // 1000}\n")
        assert r.status_code == 204, r.text

        # bad bodies: 4xx naming the problem; the server keeps serving
        body = remote_write_body(now_ms)
        for bad, fragment in [
            (b"not snappy at all", "snappy"),
            (compress(encode_request([]) + b"\x0a\x05\x0a"), "past the end"),
            (body[: len(body) // 2], ""),
        ]:
            r = c.post("/api/v1/write", content=bad)
            assert r.status_code == 400, (bad[:20], r.text)
            assert r.json()["status"] == "error" and fragment in r.json()["error"]
        r = c.post("/api/v1/import/prometheus", content=b'ok_metric 1\nbad{a="x} 1\n')
        assert r.status_code == 400 and "line 2" in r.json()["error"]
        r = c.post("/api/v1/import/prometheus", content=b'esc{a="\xff"} 1\n')  # not UTF-8
        assert r.status_code == 400 and "not valid utf-8" in r.json()["error"].lower()
        r = c.post("/write", content=b"cpu,host=a usage=notanumber\n")
        assert r.status_code == 400 and "line 1" in r.json()["error"]
        huge = "v" * 20_000
        r = c.post("/api/v1/import/prometheus", content=f'big{{a="{huge}"}} 1\n'.encode())
        assert r.status_code == 400 and "longer than" in r.json()["error"]
        # snappy declaring a huge length is refused before allocating it
        bomb = b"\xff\xff\xff\xff\x0f" + b"\x00" * 16
        r = c.post("/api/v1/write", content=bomb)
        assert r.status_code in (400, 413) and "limit" in r.json()["error"]
        r = c.post("/api/v1/write", content=b"x" * (65 << 20))
        assert r.status_code == 413

        assert c.get("/-/ready").status_code == 200
        metrics = c.get("/metrics").text
        assert 'obskit_samples_ingested_total{protocol="remote_write"} 150.0' in metrics
        assert "obskit_samples_rejected_total" in metrics
        assert "obskit_tsdb_head_samples" in metrics
        flushed = c.post("/api/v1/admin/flush").json()
        assert flushed["status"] == "success" and flushed["data"]["blocks"] >= 1
        code, log = srv.stop()
    assert code == 0, log
    assert "store closed" in log and "level=info" in log
    got = stored(data)
    assert len(got["rw_metric"]) == 50
    assert got["rw_metric"][(("__name__", "rw_metric"), ("i", "3"), ("job", "e2e"))] == [
        3.0,
        3.1,
        3.2,
    ]
    assert set(got) >= {"text_metric", "cpu_usage", "cpu_idle", "mem_used", "ok_metric"}
    assert "big" not in got and "esc" not in got
    nan = got["text_metric"][(("__name__", "text_metric"), ("a", "2"), ("src", "e2e"))]
    assert struct.pack("<d", nan[0]) != b"" and np.isnan(nan[0])


def test_restart_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    now_ms = int(time.time() * 1000)
    for round_ in range(3):
        srv = Obskit(data)
        r = httpx.post(
            f"{srv.url}/api/v1/write", content=remote_write_body(now_ms + round_ * 10_000)
        )
        assert r.status_code == 204
        code, log = srv.stop()
        assert code == 0, log
    got = stored(data)["rw_metric"]
    assert len(got) == 50 and all(len(v) == 9 for v in got.values())


def test_remote_write_fast_path_edges(tmp_path: Path) -> None:
    """The plain-ASGI remote-write handler: partial writes, wrong method, chunked bodies,
    counters, and other routes still served by the app."""
    now_ms = int(time.time() * 1000)
    with obskit_server(tmp_path / "data") as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        good = TimeSeries([(b"__name__", b"ok_metric")], [Sample(now_ms, float_bits(1.0))])
        bad = TimeSeries([(b"job", b"no_name")], [Sample(now_ms, float_bits(2.0))])
        r = c.post("/api/v1/write", content=compress(encode_request([good, bad])))
        assert r.status_code == 400 and "wrote 1 samples, rejected 1" in r.json()["error"]
        r = c.get("/api/v1/write")
        assert r.status_code == 405 and r.headers["allow"] == "POST"
        body = remote_write_body(now_ms, n_series=20)

        def chunks() -> Iterator[bytes]:  # no content-length: chunked transfer encoding
            for i in range(0, len(body), 100):
                yield body[i : i + 100]

        r = c.post("/api/v1/write", content=chunks())
        assert r.status_code == 204, r.text
        metrics = c.get("/metrics").text
        assert 'obskit_samples_ingested_total{protocol="remote_write"} 61.0' in metrics
        assert 'obskit_ingest_requests_total{code="400",protocol="remote_write"} 1.0' in metrics
        assert 'reason="invalid_series"' in metrics
        assert c.get("/-/ready").status_code == 200
        code, log = srv.stop()
    assert code == 0, log
