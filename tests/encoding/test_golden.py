"""Golden files: today's encoder must write exactly the committed bytes, and decode them.

A failure here means the on-disk format changed. If that was intended, bump the codec id or
page version, regenerate with ``python tests/encoding/test_golden.py --write``, commit the files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from obskit.encoding import (
    codec_name,
    decode_page,
    decode_timestamps,
    decode_values,
    encode_page,
    encode_timestamps,
    encode_values,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "encoding"
STALE = np.array([0x7FF0000000000002], dtype=np.uint64).view(np.float64)[0]


def value_cases() -> dict[str, npt.NDArray[np.float64]]:
    i = np.arange(64, dtype=np.float64)
    cpu = (123456789 + np.cumsum((i * 37) % 11 + 1490)) / 100.0
    cpu[40] = STALE
    return {
        "const": np.full(10, 1.0),
        "decimal-delta": cpu,
        "decimal-dod": np.round(1.5 + 0.01 * i * i, 2),
        "float-delta": 40.0 + np.sin(i) / 3.0,
        "float-dod": np.cumsum(0.1 + i / 7.0),
        "xor": np.where(i % 2 == 0, 1.0, -1.0) * (1.0 + i / 3.0),
        "raw": np.array([np.nan, -0.0, np.inf, 5e-324]),
    }


def timestamp_cases() -> dict[str, npt.NDArray[np.int64]]:
    i = np.arange(64, dtype=np.int64)
    return {
        "const-step": 1_700_000_000_000 + 15_000 * i,
        "delta": 1_700_000_000_000 + 15_000 * i + (i * 7919) % 201 - 100,
        "dod": 1_700_000_000_000 + 1000 * i * i,
        "raw": np.array([-(2**63), 2**63 - 1, 0, 0], dtype=np.int64),
    }


def encoded() -> dict[str, bytes]:
    out = {f"values-{k}.bin": encode_values(v, codec=k) for k, v in value_cases().items()}
    out.update({f"ts-{k}.bin": encode_timestamps(t, codec=k) for k, t in timestamp_cases().items()})
    # Level pinned: the fixture was written at level 9, and the default level is a tuning choice
    # (any level decodes), not part of the format.
    out["page.bin"] = encode_page([out[k] for k in sorted(out)], level=9)
    return out


@pytest.mark.parametrize("name", sorted(encoded()))
def test_encoding_matches_golden_file(name: str) -> None:
    assert encoded()[name] == (FIXTURES / name).read_bytes(), f"format of {name} changed"


@pytest.mark.parametrize("codec", sorted(value_cases()))
def test_golden_values_decode(codec: str) -> None:
    buf = (FIXTURES / f"values-{codec}.bin").read_bytes()
    assert codec_name(buf) == codec
    want = value_cases()[codec]
    assert np.array_equal(decode_values(buf).view(np.uint64), want.view(np.uint64))


@pytest.mark.parametrize("codec", sorted(timestamp_cases()))
def test_golden_timestamps_decode(codec: str) -> None:
    buf = (FIXTURES / f"ts-{codec}.bin").read_bytes()
    assert codec_name(buf) == codec
    assert np.array_equal(decode_timestamps(buf), timestamp_cases()[codec])


def test_golden_page_decodes_to_its_columns() -> None:
    files = sorted(name for name in encoded() if name != "page.bin")
    want = b"".join((FIXTURES / name).read_bytes() for name in files)
    assert decode_page((FIXTURES / "page.bin").read_bytes()) == want


if __name__ == "__main__" and "--write" in sys.argv:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name, data in encoded().items():
        (FIXTURES / name).write_bytes(data)
