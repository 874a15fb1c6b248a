"""PromQL: parse with ``promql-parser``, evaluate with numpy over all steps at once.

Usage::

    from obskit.promql import Engine
    engine = Engine(db)                        # anything with the Querier protocol
    result = engine.range_query('sum by (mode) (rate(node_cpu_seconds_total[5m]))',
                                start_ms, end_ms, step_ms)

Semantics follow Prometheus 3.x for float samples; native histograms are rejected.
"""

from obskit.promql.engine import Engine, EngineOptions
from obskit.promql.value import Matrix, QueryResult, Scalar, String, Value, Vector

__all__ = [
    "Engine",
    "EngineOptions",
    "Matrix",
    "QueryResult",
    "Scalar",
    "String",
    "Value",
    "Vector",
]
