"""Engine behaviours not covered by Prometheus' scripts: error kinds and positions, aliases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import obskit.tsdb as tsdb
from obskit.errors import ParseError, QueryError, QueryLimitError
from obskit.model.batch import SampleBatch
from obskit.promql import Engine, EngineOptions, Scalar, Vector


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    db = tsdb.open(tmp_path / "data")
    series = [(("__name__", "x"), ("a", "1")), (("__name__", "x"), ("a", "2"))]
    ts = np.tile(np.arange(20, dtype=np.int64) * 15_000, 2)
    db.append(SampleBatch(series, np.repeat([0, 1], 20), ts, np.arange(40.0)))
    return Engine(db)


@pytest.mark.parametrize(
    ("query", "position"),
    [("foo bar", "1:5:"), ("sum(x) by", "1:8:"), ("x{", "1:3:"), ("x @ abc", "1:5:")],
)
def test_parse_errors_name_the_position(engine: Engine, query: str, position: str) -> None:
    with pytest.raises(ParseError) as info:
        engine.instant_query(query, 0)
    assert str(info.value).startswith(position), str(info.value)


def test_holt_winters_is_double_exponential_smoothing(engine: Engine) -> None:
    a = engine.instant_query("holt_winters(x[2m], 0.3, 0.6)", 285_000).value
    b = engine.instant_query("double_exponential_smoothing(x[2m], 0.3, 0.6)", 285_000).value
    assert isinstance(a, Vector) and isinstance(b, Vector)
    assert a.labels == b.labels and len(a) == 2
    assert a.values.tobytes() == b.values.tobytes()


def test_run_time_errors_and_limits(tmp_path: Path, engine: Engine) -> None:
    with pytest.raises(QueryError, match=r"many-to-many|multiple matches|duplicate"):
        engine.instant_query("x + on() x", 285_000)
    with pytest.raises(ParseError, match="range vector"):
        engine.range_query("x[1m]", 0, 60_000, 15_000)
    with pytest.raises(QueryError, match="1970"):
        engine.instant_query("x @ -100", 285_000)
    small = Engine(engine.querier, EngineOptions(max_samples=10))
    with pytest.raises(QueryLimitError):
        small.range_query("sum(x)", 0, 285_000, 15_000)


def test_grafana_health_check(engine: Engine) -> None:
    assert engine.instant_query("1+1", 4_000).value == Scalar(4_000, 2.0)
