"""Limits and appending for parsed text and Influx bodies (remote-write applies the same limits
inside its decoder).

Partial-write rule (all ingest endpoints): a body that cannot be parsed at all is rejected whole
and nothing is written; otherwise every valid sample is written, and series that break a limit or
are invalid are rejected individually — the response is then 400 naming the first problems (so
senders log them) while the valid samples are stored, and
``obskit_samples_rejected_total{protocol,reason}`` counts what was dropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from obskit.errors import InvalidSeriesError
from obskit.ingest.parsed import ParsedSamples
from obskit.ingest.remote_write import WriteLimits
from obskit.model.labels import Labels, format_labels
from obskit.model.protocols import RefAppender

__all__ = ["AppendOutcome", "append_parsed"]

_MAX_REPORTED = 5


@dataclass
class AppendOutcome:
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def note(self, reason: str, count: int, message: str) -> None:
        self.rejected[reason] += count
        if len(self.errors) < _MAX_REPORTED:
            self.errors.append(message)


def _limit_problem(labels: Labels, limits: WriteLimits) -> tuple[str, str] | None:
    if len(labels) > limits.max_labels_per_series:
        return "too_many_labels", (
            f"series {format_labels(labels)} has {len(labels)} labels, "
            f"more than the limit of {limits.max_labels_per_series}"
        )
    for name, value in labels:
        if len(name.encode()) > limits.max_label_name_bytes:
            return "label_name_too_long", (
                f"label name {name[:64]!r}... is longer than {limits.max_label_name_bytes} bytes"
            )
        if len(value.encode()) > limits.max_label_value_bytes:
            return "label_value_too_long", (
                f"value of label {name!r} in series {labels[0][1]!r} is longer than "
                f"{limits.max_label_value_bytes} bytes"
            )
    return None


def append_parsed(
    appender: RefAppender, parsed: ParsedSamples, limits: WriteLimits
) -> AppendOutcome:
    """Append the samples of ``parsed`` whose series pass the limits; see the module's rule."""
    out = AppendOutcome()
    n_series = len(parsed.series)
    if n_series > limits.max_series_per_request:
        out.note(
            "too_many_series",
            len(parsed.values),
            f"request holds {n_series} series, more than the limit of "
            f"{limits.max_series_per_request}",
        )
        return out
    ok = np.ones(n_series, dtype=bool)
    for i, labels in enumerate(parsed.series):
        problem = _limit_problem(labels, limits)
        if problem is not None:
            ok[i] = False
            reason, message = problem
            out.note(reason, int((parsed.series_index == i).sum()), message)
    keep_series = np.flatnonzero(ok)
    refs = np.full(n_series, -1, dtype=np.int64)
    try:
        refs[keep_series] = appender.series_refs([parsed.series[i] for i in keep_series])
    except InvalidSeriesError:  # find the bad ones one by one (rare path)
        for i in keep_series.tolist():
            try:
                refs[i] = appender.series_refs([parsed.series[i]])[0]
            except InvalidSeriesError as exc:
                out.note("invalid_series", int((parsed.series_index == i).sum()), str(exc))
    sample_refs = refs[parsed.series_index]
    good = sample_refs >= 0
    if good.any():
        result = appender.append_refs(
            sample_refs[good], parsed.timestamps_ms[good], parsed.values[good]
        )
        out.accepted = result.accepted
        if result.out_of_retention:
            out.note(
                "out_of_retention",
                result.out_of_retention,
                f"{result.out_of_retention} samples are older than the retention",
            )
    return out
