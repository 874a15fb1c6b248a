"""Generated cases that fail today because of engine bugs: test id -> reason.

Each is marked ``xfail(strict=True)``, so a fix makes its case pass and the suite fail until the
entry is removed here. Ids are ``s<data seed>:<family>:<expr>@<time or start..end/step>``.
"""

from __future__ import annotations

DATE = (
    "date functions convert the value as Go's int64(v): truncation toward zero (-0.5 -> 0), "
    "and NaN, ±Inf and values beyond int64 -> MinInt64 (year 292277026596)"
)

KNOWN_FAILURES: dict[str, str] = {
    "s1:edges:month(extreme_metric)@1709247660000": DATE,
    "s1:edges:month(extreme_metric)@1709248650000": DATE,
    "s1:edges:month(extreme_metric)@1709251486884..1709252943884/47000": DATE,
}
