"""The composition root: what ``obskit serve`` builds, and what it leaves unimported."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Run in a fresh interpreter: this test process has long imported PromQL for other tests.
_SCRIPT = textwrap.dedent(
    """
    import sys
    from starlette.testclient import TestClient
    from obskit.config import load_settings
    from obskit.server import build_app

    app = build_app(load_settings(None, data_dir=sys.argv[1]))
    with TestClient(app) as c:
        body = b"m 1\\n"
        assert c.post("/api/v1/import/prometheus", content=body).status_code == 204
        assert c.get("/metrics").status_code == 200
        assert c.post("/api/v1/admin/flush").status_code == 200
        assert "obskit.promql" not in sys.modules, "ingest imported the query engine"
        r = c.get("/api/v1/query", params={"query": "m"})
        assert r.status_code == 200, r.text
        assert r.json()["data"]["result"][0]["value"][1] == "1", r.text
        assert "obskit.promql" in sys.modules
        assert c.get("/api/v1/labels").json()["data"] == ["__name__"]
    print("ok")
    """
)


def test_ingest_does_not_import_the_query_engine_until_the_first_query(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


# starlette's TestClient (it runs the app's lifespan, which opens the store) warns about httpx
@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_range_queries_reuse_cached_steps_and_see_backfills(tmp_path: Path) -> None:
    import time

    from starlette.testclient import TestClient

    from obskit.config import load_settings
    from obskit.server import build_app

    now_ms = int(time.time()) * 1000
    start_ms = now_ms - 3 * 3_600_000  # settled: far older than results_cache_settle (5m)
    body = "".join(f"g 1 {start_ms + i * 60_000}\n" for i in range(121)).encode()
    app = build_app(load_settings(None, data_dir=tmp_path / "data"))
    params = {
        "query": "sum(g)",
        "start": str(start_ms / 1000 + 600),
        "end": str(start_ms / 1000 + 7200),
        "step": "60",
    }
    hits = "obskit_query_results_cache_hits_total"
    with TestClient(app) as c:
        assert c.post("/api/v1/import/prometheus", content=body).status_code == 204
        first = c.get("/api/v1/query_range", params=params).json()["data"]["result"]
        again = c.get("/api/v1/query_range", params=params).json()["data"]["result"]
        assert first == again and {v for _, v in first[0]["values"]} == {"1"}
        assert _metric(c.get("/metrics").text, hits) == 1
        # a backfill of a second series an hour into the cached steps
        late = f'g{{x="late"}} 2 {start_ms + 3_600_000}\n'.encode()
        assert c.post("/api/v1/import/prometheus", content=late).status_code == 204
        after = c.get("/api/v1/query_range", params=params).json()["data"]["result"]
        values = dict(after[0]["values"])
        assert values[start_ms / 1000 + 3600] == "3" and values[start_ms / 1000 + 600] == "1"
        metrics = c.get("/metrics").text
        assert _metric(metrics, "obskit_query_results_cache_invalidations_total") == 1
        assert _metric(metrics, hits) == 2  # the steps before the backfill were reused
        params["nocache"] = "1"
        assert c.get("/api/v1/query_range", params=params).json()["data"]["result"] == after
        assert _metric(c.get("/metrics").text, hits) == 2
