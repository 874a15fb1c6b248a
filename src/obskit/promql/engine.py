"""The PromQL engine's public face: options, instant and range queries (body in progress)."""

from __future__ import annotations

from dataclasses import dataclass

from obskit.model.protocols import Querier
from obskit.promql.value import QueryResult

__all__ = ["Engine", "EngineOptions"]


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Engine limits and defaults (Prometheus' flag names in brackets).

    ``lookback_delta_ms`` [query.lookback-delta], ``max_samples`` [query.max-samples] — samples
    loaded at once, ``max_series`` — series a selector may load, ``timeout_s``
    [query.timeout], ``default_subquery_step_ms`` (``x[5m:]``; 1 m as the upstream test
    engine), ``max_points_per_series`` (11,000 as Prometheus' HTTP API for range queries).
    """

    lookback_delta_ms: int = 300_000
    max_samples: int = 50_000_000
    max_series: int = 500_000
    timeout_s: float = 120.0
    default_subquery_step_ms: int = 60_000
    max_points_per_series: int = 11_000


class Engine:
    """Evaluates PromQL against a ``Querier`` (the store, or anything with its protocol).

    Errors: ``ParseError`` (with position) for bad syntax and types, ``QueryError`` for run-time
    errors (e.g. many-to-many matching), ``QueryLimitError`` over ``max_samples``/``max_series``,
    ``QueryTimeoutError`` past the deadline.
    """

    def __init__(self, querier: Querier, options: EngineOptions | None = None) -> None:
        self.querier = querier
        self.options = options or EngineOptions()

    def instant_query(
        self,
        query: str,
        time_ms: int,
        *,
        timeout_s: float | None = None,
        lookback_delta_ms: int | None = None,
    ) -> QueryResult:
        """Evaluate ``query`` at ``time_ms``: Scalar, String, Vector, or Matrix (``x[5m]``)."""
        raise NotImplementedError

    def range_query(
        self,
        query: str,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        *,
        timeout_s: float | None = None,
        lookback_delta_ms: int | None = None,
    ) -> QueryResult:
        """Evaluate ``query`` at start, start+step, ... <= end; always a Matrix."""
        raise NotImplementedError
