"""The one exception tree of obskit.

Every error obskit raises on purpose is an ``ObskitError`` and also subclasses the builtin that
matches it, so callers that only know Python's builtins still catch it::

    ObskitError
    ├── ConfigError (ValueError)             bad settings or options
    ├── InvalidSeriesError (ValueError)      a label set that cannot be stored (names the series)
    ├── InvalidBatchError (ValueError)       wrong dtypes, shapes or indices in an append batch
    ├── IngestError (ValueError)             a request body that cannot be parsed or is over a limit
    │   └── PayloadTooLargeError             over a size limit (HTTP 413)
    ├── StorageError (OSError)               the store cannot do what was asked
    │   ├── LockedError                      the data directory is used by another process
    │   └── CorruptDataError                 a file failed its magic, version or CRC check
    ├── QueryError (ValueError)              a query that cannot be evaluated
    │   ├── ParseError                       a query that cannot be parsed (carries the position)
    │   ├── QueryLimitError                  over a query limit: samples, series, points (HTTP 422)
    │   └── QueryTimeoutError                evaluation cancelled at its deadline (HTTP 503)
    └── RuleError (ValueError)               an alerting or recording rule that cannot be loaded

Messages are lowercase and say what could not be done and why.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CorruptDataError",
    "IngestError",
    "InvalidBatchError",
    "InvalidSeriesError",
    "LockedError",
    "ObskitError",
    "ParseError",
    "PayloadTooLargeError",
    "QueryError",
    "QueryLimitError",
    "QueryTimeoutError",
    "RuleError",
    "StorageError",
]


class ObskitError(Exception):
    """Base of every error obskit raises on purpose."""


class ConfigError(ObskitError, ValueError):
    """Settings or options that cannot be used."""


class InvalidSeriesError(ObskitError, ValueError):
    """A label set that cannot be stored; the message names the problem and the series."""


class InvalidBatchError(ObskitError, ValueError):
    """An append batch with wrong dtypes, shapes or series indices."""


class IngestError(ObskitError, ValueError):
    """A request body that cannot be parsed or is over a limit."""


class PayloadTooLargeError(IngestError):
    """A request body (or what it decompresses or decodes to) over a configured size limit."""

    status = 413


class StorageError(ObskitError, OSError):
    """The store cannot do what was asked."""


class LockedError(StorageError):
    """The data directory is already opened by another process."""


class CorruptDataError(StorageError):
    """A file failed its magic, version, length or CRC check.

    ``path`` names the file; ``column`` is the index of a damaged column in a batch decode. The
    store refuses only the damaged part, never the whole directory.
    """

    def __init__(self, message: str, path: str | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.column = column


class QueryError(ObskitError, ValueError):
    """A query that cannot be evaluated."""


class ParseError(QueryError):
    """A query that cannot be parsed; ``position`` is the 0-based character offset, if known."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class QueryLimitError(QueryError):
    """A query over one of its limits (samples loaded, series, points per series)."""


class QueryTimeoutError(QueryError):
    """A query whose evaluation was cancelled at its deadline."""


class RuleError(ObskitError, ValueError):
    """An alerting or recording rule that cannot be loaded."""
