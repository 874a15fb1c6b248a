"""The composition root: what ``obskit serve`` builds, and what it leaves unimported."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

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
