"""zstd pages: round trips, stored pages and damage detection."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from obskit.encoding import DEFAULT_ZSTD_LEVEL, PAGE_TARGET_BYTES, decode_page, encode_page
from obskit.errors import CorruptDataError


@given(st.lists(st.binary(max_size=300), max_size=20), st.sampled_from([1, DEFAULT_ZSTD_LEVEL]))
def test_round_trip_is_the_concatenation(chunks: list[bytes], level: int) -> None:
    page = encode_page([memoryview(c) if i % 2 else c for i, c in enumerate(chunks)], level)
    assert decode_page(page) == b"".join(chunks)
    assert decode_page(memoryview(page)) == b"".join(chunks)


def test_incompressible_page_is_stored() -> None:
    raw = os.urandom(4096)
    page = encode_page([raw])
    assert len(page) == len(raw) + 10
    assert decode_page(page) == raw


def test_repetitive_page_shrinks() -> None:
    page = encode_page([b"\x00" * PAGE_TARGET_BYTES])
    assert len(page) < 100


@given(st.binary(min_size=1, max_size=2000), st.data())
def test_any_damage_is_detected(raw: bytes, data: st.DataObject) -> None:
    page = bytearray(encode_page([raw]))
    kind = data.draw(st.sampled_from(["flip", "truncate", "extend"]))
    if kind == "flip":
        i = data.draw(st.integers(0, len(page) - 1))
        page[i] ^= data.draw(st.integers(1, 255))
    elif kind == "truncate":
        del page[data.draw(st.integers(0, len(page) - 1)) :]
    else:
        page += b"\x00"
    with pytest.raises(CorruptDataError):
        decode_page(bytes(page))
