"""Hypothesis strategies for the disk tests."""

from __future__ import annotations

from hypothesis import strategies as st


def records_strategy(
    max_records: int = 60, max_payload: int = 300
) -> st.SearchStrategy[list[tuple[int, bytes]]]:
    """Lists of (record type, payload) with types 1..255 and payloads of random sizes."""
    record = st.tuples(st.integers(1, 255), st.binary(max_size=max_payload))
    return st.lists(record, max_size=max_records)
