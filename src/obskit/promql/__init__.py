"""PromQL: parse with ``promql-parser``, evaluate with numpy over all steps at once.

Usage::

    from obskit.promql import Engine
    engine = Engine(db)                        # anything with the Querier protocol
    result = engine.range_query('sum by (mode) (rate(node_cpu_seconds_total[5m]))',
                                start_ms, end_ms, step_ms)

A ``ResultsCache`` (``Engine(db, results_cache=ResultsCache(64 << 20))``, with
``db.add_change_listener(cache.invalidate_from)``) lets range queries reuse the settled steps of
earlier ones, as a Grafana dashboard's refreshes do.

Semantics follow Prometheus 3.x for float samples; native histograms are rejected.
"""

from obskit.promql.cache import ResultsCache
from obskit.promql.engine import Engine, EngineOptions
from obskit.promql.value import Matrix, QueryResult, Scalar, String, Value, Vector

__all__ = [
    "Engine",
    "EngineOptions",
    "Matrix",
    "QueryResult",
    "ResultsCache",
    "Scalar",
    "String",
    "Value",
    "Vector",
]
