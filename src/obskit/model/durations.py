"""Prometheus duration strings ("1h30m", "15s", "5m", "2d", "100ms") as integer milliseconds."""

from __future__ import annotations

import re

__all__ = ["format_duration_ms", "parse_duration_ms"]

_UNITS_MS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 7 * 86_400_000,
    "y": 365 * 86_400_000,
}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_ORDER = ["y", "w", "d", "h", "m", "s", "ms"]


def parse_duration_ms(text: str) -> int:
    """Parse a Prometheus duration; units must appear largest first, each at most once.
    Raises ``ValueError`` naming the text when it is not a duration."""
    if text == "0":
        return 0
    pos, total, last = 0, 0, -1
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        rank = _ORDER.index(match.group(2))
        if rank <= last:
            raise ValueError(
                f"not a valid duration string: {text!r} (units out of order or repeated)"
            )
        last = rank
        total += int(match.group(1)) * _UNITS_MS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"not a valid duration string: {text!r} (expected e.g. 15s, 5m, 1h30m)")
    return total


def format_duration_ms(ms: int) -> str:
    """``ms`` as Prometheus' ``model.Duration`` prints it: years and weeks only when exact (90d,
    not 12w6d), so text that ends up in target labels matches Prometheus byte for byte."""
    if ms == 0:
        return "0s"
    out = []
    rest = ms
    for unit in _ORDER:
        size = _UNITS_MS[unit]
        if unit in ("y", "w") and rest % size != 0:
            continue
        count, rest = divmod(rest, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
