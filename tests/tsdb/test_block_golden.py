"""Golden block files: the writer must produce exactly the committed bytes for each format it can
write (1, the default, and 2), and the committed blocks must read back as the data below. A
failure here means the on-disk format changed: bump FORMAT_VERSION (and keep reading the old one)
or, if the change is intended and compatible, regenerate with
``python tests/tsdb/test_block_golden.py --write``."""

from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from obskit.tsdb.block import DEFAULT_FORMAT, FORMAT_VERSION, Block, BlockMeta, BlockWriter

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tsdb"
FORMATS = (1, 2)
FILES = ("chunks", "index", "meta.json")


def fixture(format_version: int) -> Path:
    return FIXTURES / f"block-v{format_version}"


def golden_series(format_version: int = 1) -> list[tuple[int, np.ndarray, np.ndarray]]:
    stale = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
    t0 = 1_767_225_600_000
    regular = t0 + np.arange(240, dtype=np.int64) * 15_000
    jitter = regular + np.tile(np.array([0, 3, -2, 7], dtype=np.int64), 60)
    series = [
        (0, regular, np.ones(240)),  # constant
        (1, regular, np.cumsum(np.arange(240) % 7 * 0.01) + 1000.0),  # 2-decimal counter
        (3, jitter, np.cumsum(np.arange(240) * 512.0)),  # integer counter
        (4, regular, 40 + np.sin(np.arange(240) / 7.0)),  # full-precision gauge
        (7, regular[:5], np.array([stale, -0.0, np.inf, -np.inf, 5e-324])),  # specials
        (9, regular[:1], np.array([0.1])),  # one sample
    ]
    if format_version >= 2:  # cross-series predictors of format 2 pages
        series += [
            (10, regular, np.cumsum(np.arange(240) % 7 * 0.01) * 3 + 7.0),  # from series 1
            (11, regular, 40 + np.sin(np.arange(240) / 7.0) * 1.5),  # from 4 (floats)
        ]
    return series


def write_block(directory: Path, format_version: int) -> BlockMeta:
    writer = BlockWriter(directory, format_version=format_version)
    for sid, ts, values in golden_series(format_version):
        writer.add_series(sid, ts, values)
    meta = BlockMeta(7, 0, 1_767_225_600_000, 1_767_232_800_000, 0, 0, 0, 0, sources=[7])
    return writer.finish(meta)


def test_formats() -> None:
    assert (DEFAULT_FORMAT, FORMAT_VERSION) == (2, 2)


@pytest.mark.parametrize("format_version", FORMATS)
def test_writer_produces_the_golden_bytes(tmp_path: Path, format_version: int) -> None:
    write_block(tmp_path / "b", format_version)
    for name in FILES:
        got = (tmp_path / "b" / name).read_bytes()
        assert got == (fixture(format_version) / name).read_bytes(), name


@pytest.mark.parametrize("format_version", FORMATS)
def test_golden_block_reads_back(format_version: int) -> None:
    block = Block(fixture(format_version))
    assert block.meta.format == format_version
    series = golden_series(format_version)
    ids = np.array([s[0] for s in series], dtype=np.int64)
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    got = {sid: (ts, v) for sid, ts, v in block.read(block.rows_for(ids, lo, hi), lo, hi).runs()}
    for sid, ts, values in series:
        assert (got[sid][0] == ts).all()
        assert (got[sid][1].view(np.uint64) == values.view(np.uint64)).all()
    assert block.meta.samples == sum(len(s[1]) for s in series)
    block.close()


if __name__ == "__main__" and "--write" in sys.argv:
    # python tests/tsdb/test_block_golden.py --write 2   (the formats to rewrite)
    for version in [int(a) for a in sys.argv[sys.argv.index("--write") + 1 :]]:
        shutil.rmtree(fixture(version), ignore_errors=True)
        write_block(fixture(version), version)
        print(f"wrote {fixture(version)}")
