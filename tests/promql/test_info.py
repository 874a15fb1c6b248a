"""``info()`` through ``Engine`` on a real store: joins, data-label matchers, time, errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

import obskit.tsdb as tsdb
from obskit.errors import QueryError
from obskit.model import SampleBatch, make_labels
from obskit.model.labels import Labels
from obskit.promql import Engine, Matrix, Vector
from obskit.promql.engine import parse
from obskit.promql.info import reference_modifiers
from obskit.promql.steps import STALE_NAN_BITS

MIN_MS = 60_000
STALE = float(np.array([STALE_NAN_BITS], np.uint64).view(np.float64)[0])


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tsdb.DB]:
    with tsdb.open(tmp_path, tsdb.Options(fsync="none", retention_ms=0)) as store:
        yield store


def load(db: tsdb.DB, series: dict[Labels, list[float | None]]) -> None:
    """One sample a minute from t=0; None leaves a gap."""
    labels = list(series)
    index, ts, vals = [], [], []
    for k, lab in enumerate(labels):
        for i, v in enumerate(series[lab]):
            if v is not None:
                index.append(k)
                ts.append(i * MIN_MS)
                vals.append(v)
    db.append(
        SampleBatch(
            labels, np.array(index, np.int64), np.array(ts, np.int64), np.array(vals, np.float64)
        )
    )


def range_points(db: tsdb.DB, query: str, end_min: int) -> dict[Labels, list[float | None]]:
    """Per output series, its value at each minute 0..end_min (None where absent)."""
    result = Engine(db).range_query(query, 0, end_min * MIN_MS, MIN_MS).value
    assert isinstance(result, Matrix)
    out: dict[Labels, list[float | None]] = {}
    for s in result.series:
        row: list[float | None] = [None] * (end_min + 1)
        for t, v in zip(s.timestamps_ms.tolist(), s.values.tolist(), strict=True):
            row[t // MIN_MS] = v
        out[s.labels] = row
    return out


def test_target_info_data_labels_follow_the_info_series_over_time(db: tsdb.DB) -> None:
    load(
        db,
        {
            make_labels("up", instance="a", job="node"): [1, 1, 1, 1],
            make_labels("up", instance="b", job="node"): [0, 0, 0, 0],
            make_labels("target_info", instance="a", job="node", version="1"): [1, 1, STALE],
            make_labels("target_info", instance="a", job="node", version="2"): [None, None, 1, 1],
        },
    )
    assert range_points(db, "info(up)", 3) == {
        make_labels("up", instance="a", job="node", version="1"): [1, 1, None, None],
        make_labels("up", instance="a", job="node", version="2"): [None, None, 1, 1],
        make_labels("up", instance="b", job="node"): [0, 0, 0, 0],
    }


def test_a_data_matcher_rejecting_empty_drops_series_without_info(db: tsdb.DB) -> None:
    load(
        db,
        {
            make_labels("up", instance="a", job="node"): [1, 1],
            make_labels("up", instance="b", job="node"): [0, 0],
            make_labels("target_info", instance="a", job="node", version="1", os="linux"): [1, 1],
        },
    )
    assert range_points(db, 'info(up, {version=~".+"})', 1) == {
        make_labels("up", instance="a", job="node", version="1"): [1, 1],
    }
    # A matcher accepting "" keeps the series that have no info series, unchanged.
    assert range_points(db, 'info(up, {__name__="target_info", version=~".*"})', 1) == {
        make_labels("up", instance="a", job="node", version="1"): [1, 1],
        make_labels("up", instance="b", job="node"): [0, 0],
    }


def test_only_negative_name_matchers_choose_among_info_metrics(db: tsdb.DB) -> None:
    load(
        db,
        {
            make_labels("up", instance="a", job="node"): [1],
            make_labels("build_info", instance="a", job="node", x="from_build"): [1],
            make_labels("target_info", instance="a", job="node", x="from_target"): [1],
            make_labels("other", instance="a", job="node", x="from_other"): [1],
        },
    )
    # "other" is not an info metric (were it joined, its x would conflict): negative matchers
    # alone mean "*_info metrics except these".
    assert range_points(db, 'info(up, {__name__!="target_info", x=~".+"})', 0) == {
        make_labels("up", instance="a", job="node", x="from_build"): [1],
    }


def test_identifying_label_values_are_matched_literally(db: tsdb.DB) -> None:
    load(
        db,
        {
            make_labels("up", instance="a(b", job="x.y"): [1],
            make_labels("up", instance="aab", job="xzy"): [2],
            make_labels("target_info", instance="a(b", job="x.y", zone="z1"): [1],
        },
    )
    assert range_points(db, "info(up)", 0) == {
        make_labels("up", instance="a(b", job="x.y", zone="z1"): [1],
        make_labels("up", instance="aab", job="xzy"): [2],
    }


def test_at_pins_the_info_lookup_for_instant_queries(db: tsdb.DB) -> None:
    load(
        db,
        {
            make_labels("up", instance="a", job="node"): [5, 6, 7],
            make_labels("target_info", instance="a", job="node", version="1"): [1],
        },
    )
    result = Engine(db).instant_query("info(up @ 0)", 60 * MIN_MS).value
    assert isinstance(result, Vector)
    assert result.labels == [make_labels("up", instance="a", job="node", version="1")]
    assert result.values.tolist() == [5]


def test_reference_modifiers_compose_subquery_and_selector_modifiers() -> None:
    expr = parse("info(last_over_time((m offset 1m)[10m:1m] @ 180 offset 2m))")
    at, offset = reference_modifiers(expr.args[0])
    assert at is not None
    assert offset == timedelta(minutes=3)
    at, offset = reference_modifiers(parse("info(rate(m[5m] offset 30s) * on() n)").args[0])
    assert (at, offset) == (None, timedelta(seconds=30))


def test_conflicting_data_labels_across_info_metrics_fail(db: tsdb.DB) -> None:
    load(
        db,
        {
            make_labels("up", instance="a", job="node"): [1],
            make_labels("build_info", instance="a", job="node", x="from_build"): [1],
            make_labels("target_info", instance="a", job="node", x="from_target"): [1],
        },
    )
    with pytest.raises(QueryError, match="conflicting label: x"):
        Engine(db).instant_query('info(up, {__name__=~".+_info"})', 0)


def test_two_info_series_sampled_at_the_same_time_fail(db: tsdb.DB) -> None:
    load(
        db,
        {
            make_labels("up", instance="a", job="node"): [1],
            make_labels("target_info", instance="a", job="node", version="1"): [1],
            make_labels("target_info", instance="a", job="node", version="2"): [1],
        },
    )
    with pytest.raises(QueryError, match="found duplicate series for info metric"):
        Engine(db).instant_query("info(up)", 0)
