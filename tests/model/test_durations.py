from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obskit.model.durations import format_duration_ms, parse_duration_ms


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("15s", 15_000),
        ("1h30m", 5_400_000),
        ("100ms", 100),
        ("15d", 1_296_000_000),
        ("0", 0),
        ("1y2w", 365 * 86_400_000 + 14 * 86_400_000),
        ("1m30s500ms", 90_500),
    ],
)
def test_parse(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "1", "1x", "5m1h", "1s1s", "-1s", "1.5h", " 1s"])
def test_bad(text: str) -> None:
    with pytest.raises(ValueError, match="not a valid duration"):
        parse_duration_ms(text)


@given(st.integers(0, 10**13))
def test_round_trip(ms: int) -> None:
    assert parse_duration_ms(format_duration_ms(ms)) == ms
