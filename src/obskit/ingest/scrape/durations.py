"""Prometheus duration strings (``1m30s``, ``500ms``, ``1d``): parsed to milliseconds and printed
back exactly as Prometheus' ``model.Duration`` does, since the text ends up in target labels."""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration_ms"]

_DURATION_RE = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_UNITS_MS = (
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
)


def parse_duration_ms(text: str) -> int:
    """``text`` in milliseconds; raises ``ValueError`` for anything Prometheus would refuse."""
    if text == "0":
        return 0
    match = _DURATION_RE.match(text)
    if text == "" or match is None:
        raise ValueError(f"not a valid duration string: {text!r}")
    return sum(
        int(part) * unit_ms
        for part, (_, unit_ms) in zip(match.groups(), _UNITS_MS, strict=True)
        if part is not None
    )


def format_duration(duration_ms: int) -> str:
    """``duration_ms`` as Prometheus prints it: years and weeks only when exact (90d, not 12w6d)."""
    if duration_ms == 0:
        return "0s"
    out = []
    rest = duration_ms
    for unit, unit_ms in _UNITS_MS:
        if unit in ("y", "w") and rest % unit_ms != 0:
            continue
        count, rest = divmod(rest, unit_ms)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
