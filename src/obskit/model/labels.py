"""Label sets: the identity of a series, validated and normalised the way Prometheus 3 does.

A ``Labels`` value is a tuple of ``(name, value)`` pairs sorted by name, with no empty values
(a label with an empty value is simply absent) and exactly one ``__name__``. Plain tuples keep
hashing and dict look-ups cheap on the ingest path; this module only builds and checks them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from obskit.errors import InvalidSeriesError

__all__ = [
    "METRIC_NAME",
    "Labels",
    "LabelsLike",
    "format_labels",
    "labels_get",
    "make_labels",
    "validate_labels",
]

METRIC_NAME = "__name__"

Labels = tuple[tuple[str, str], ...]
LabelsLike = Mapping[str, str] | Iterable[tuple[str, str]]


def format_labels(labels: Iterable[tuple[str, str]]) -> str:
    """Render a label set as PromQL would print it, for error messages and logs."""
    pairs = list(labels)
    name = next((v for k, v in pairs if k == METRIC_NAME), "")
    inner = ", ".join(f"{k}={v!r}" for k, v in pairs if k != METRIC_NAME)
    return f"{name}{{{inner}}}"


def labels_get(labels: Labels, name: str) -> str:
    """The value of ``name`` in ``labels``, or "" when absent (Prometheus' convention)."""
    for k, v in labels:
        if k == name:
            return v
    return ""


def _check_utf8(text: object, what: str, pairs: list[tuple[str, str]]) -> None:
    if not isinstance(text, str):
        raise InvalidSeriesError(
            f"invalid series {format_labels(pairs)}: {what} must be str, not {type(text).__name__}"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidSeriesError(
            f"invalid series {format_labels(pairs)}: {what} {text!r} is not valid UTF-8"
        ) from None


def validate_labels(labels: LabelsLike) -> Labels:
    """Check a label set and return it normalised (sorted, empty values dropped).

    Raises ``InvalidSeriesError`` naming the problem and the series for: a name or value that is
    not a str or not valid UTF-8, an empty name, a duplicate name, or a missing ``__name__``.
    """
    items = labels.items() if isinstance(labels, Mapping) else labels
    pairs: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, tuple) or len(item) != 2:
            raise InvalidSeriesError(f"invalid label pair {item!r}: expected a (name, value) tuple")
        pairs.append(item)
    for name, value in pairs:
        _check_utf8(name, "label name", pairs)
        _check_utf8(value, f"value of label {name!r}", pairs)
        if name == "":
            raise InvalidSeriesError(f"invalid series {format_labels(pairs)}: empty label name")
    pairs = [pair for pair in pairs if pair[1] != ""]  # the caller's tuples, not new ones
    pairs.sort()
    for i in range(1, len(pairs)):
        if pairs[i][0] == pairs[i - 1][0]:
            raise InvalidSeriesError(
                f"invalid series {format_labels(pairs)}: duplicate label name {pairs[i][0]!r}"
            )
    if not any(k == METRIC_NAME for k, _ in pairs):
        raise InvalidSeriesError(f"invalid series {format_labels(pairs)}: missing __name__ label")
    return tuple(pairs)


def make_labels(metric_name: str, /, **labels: str) -> Labels:
    """Convenience constructor: ``make_labels("up", job="node")``."""
    return validate_labels({METRIC_NAME: metric_name, **labels})
