"""Block format 2 through the store: flush, compaction (also of format 1 blocks into format 2),
reopen and select give back every sample bit for bit."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

import obskit.tsdb as tsdb
from obskit.errors import ConfigError, CorruptDataError
from obskit.model import make_labels
from obskit.tsdb.block import Block

HOUR = 3_600_000
STALE = np.array([0x7FF0000000000002], dtype=np.uint64).view(np.float64)[0]


def options(block_format: int) -> tsdb.Options:
    return tsdb.Options(
        fsync="none",
        retention_ms=0,
        head_max_samples=20_000,
        head_keep_ms=0,
        block_format=block_format,
        flush_block_format=block_format,
        block_ranges_ms=(HOUR, 3 * HOUR, 9 * HOUR),
        maintenance_in_append=False,  # flush and compact only when the test says so
    )


def data(n_series: int, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = 1_767_225_600_000 + np.arange(steps, dtype=np.int64) * 15_000
    ts = ts + rng.integers(-50, 50, steps) * (rng.random(steps) < 0.1)  # some jitter
    ts = np.sort(ts)
    cols = []
    for i in range(n_series):
        kind = i % 4
        if kind == 0:
            v = rng.integers(0, 100, steps).cumsum().astype(np.float64)
        elif kind == 1:
            v = np.floor(cols[-1] / 3) + rng.integers(0, 2, steps)
        elif kind == 2:
            v = 40 + rng.normal(0, 0.3, steps).cumsum()
        else:
            v = np.round(rng.random(steps), 2)
        cols.append(v)
    values = np.stack(cols)
    values[0, steps // 2] = STALE
    values[2, 5] = -0.0
    values[3, 7:9] = (np.inf, 5e-324)
    ids = np.repeat(np.arange(n_series), steps)
    return ids, np.tile(ts, n_series), values.ravel()


def append_all(db: tsdb.DB, ids: np.ndarray, ts: np.ndarray, values: np.ndarray) -> None:
    refs = db.series_refs([make_labels("m", i=str(i)) for i in range(int(ids.max()) + 1)])
    order = np.argsort(ts, kind="stable")
    for chunk in np.array_split(order, 7):
        db.append_refs(refs[ids[chunk]], ts[chunk], values[chunk])


def check(db: tsdb.DB, ids: np.ndarray, ts: np.ndarray, values: np.ndarray) -> None:
    got = {int(dict(s.labels)["i"]): s for s in db.select([], -(2**62), 2**62)}
    for i in range(int(ids.max()) + 1):
        mine = ids == i
        assert np.array_equal(got[i].timestamps_ms, ts[mine])
        assert got[i].values.view(np.uint64).tobytes() == values[mine].view(np.uint64).tobytes()


def formats(path: Path) -> set[int]:
    out = set()
    for d in (path / "blocks").iterdir():
        if not d.name.endswith(".tmp"):
            block = Block(d)
            out.add(block.meta.format)
            block.close()
    return out


def test_format_2_through_flush_compaction_and_reopen(tmp_path: Path) -> None:
    ids, ts, values = data(24, 2400, 1)
    with tsdb.open(tmp_path, options(2)) as db:
        append_all(db, ids, ts, values)
        db.flush()
        db.compact()
        check(db, ids, ts, values)
    assert formats(tmp_path) == {2}
    with tsdb.open(tmp_path, options(2)) as db:
        check(db, ids, ts, values)


def test_format_1_blocks_compact_into_format_2(tmp_path: Path) -> None:
    ids, ts, values = data(12, 1500, 2)
    with tsdb.open(tmp_path, options(1)) as db:
        append_all(db, ids, ts, values)
        db.flush()
    assert formats(tmp_path) == {1}
    with tsdb.open(tmp_path, options(2)) as db:
        db.compact()
        check(db, ids, ts, values)
    assert 2 in formats(tmp_path)
    with tsdb.open(tmp_path, options(1)) as db:  # either setting reads both
        check(db, ids, ts, values)


def test_by_default_flushes_write_format_1_and_compaction_format_2(tmp_path: Path) -> None:
    ids, ts, values = data(12, 1500, 3)
    opts = tsdb.Options(
        fsync="none",
        retention_ms=0,
        head_keep_ms=0,
        block_ranges_ms=(HOUR, 3 * HOUR, 9 * HOUR),
        maintenance_in_append=False,
    )
    assert (opts.flush_block_format, opts.block_format) == (1, 2)
    with tsdb.open(tmp_path, opts) as db:
        append_all(db, ids, ts, values)
        db.flush()
        assert formats(tmp_path) == {1}
        assert db.compact() > 0
        check(db, ids, ts, values)
    assert 2 in formats(tmp_path)
    with tsdb.open(tmp_path, opts) as db:
        check(db, ids, ts, values)


def test_unknown_block_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="block_format"):
        options(3)
    with pytest.raises(ConfigError, match="flush_block_format"):
        tsdb.Options(flush_block_format=0)


def damaged_copy(path: Path, flip_at: int) -> None:
    """Flip a bit inside the first page's body and fix both crcs (chunk and page header), so
    only the v2 decoder can notice."""
    chunks = bytearray((path / "chunks").read_bytes())
    head = 12  # magic + version
    length = int.from_bytes(chunks[head : head + 4], "little")
    page_at = head + 8
    page = bytearray(chunks[page_at : page_at + length])
    page[10 + flip_at % (length - 10)] ^= 0x10
    fields = bytes(page[:6])
    page[6:10] = zlib.crc32(bytes(page[10:]), zlib.crc32(fields)).to_bytes(4, "little")
    chunks[page_at : page_at + length] = page
    chunks[head + 4 : head + 8] = zlib.crc32(bytes(page)).to_bytes(4, "little")
    (path / "chunks").write_bytes(bytes(chunks))


@pytest.mark.parametrize(
    ("flip_at", "must_fail"), [(0, True), (3, True), (40, False), (1000, False), (5000, False)]
)
def test_a_damaged_format_2_page_names_the_file(
    tmp_path: Path, flip_at: int, must_fail: bool
) -> None:
    """Damage past the crcs: in the meta length it must be caught; elsewhere (e.g. a raw bit of
    a residual) it may decode to other values, but it never crashes and errors name the file."""
    ids, ts, values = data(8, 800, 3)
    with tsdb.open(tmp_path, options(2)) as db:
        append_all(db, ids, ts, values)
        db.flush()
    block_dir = min(d for d in (tmp_path / "blocks").iterdir() if not d.name.endswith(".tmp"))
    damaged_copy(block_dir, flip_at)
    block = Block(block_dir)
    rows = np.arange(len(block.series_ids))
    try:
        block.read(rows, -(2**62), 2**62)
        failed = False
    except CorruptDataError as exc:
        assert str(block_dir / "chunks") in str(exc)
        failed = True
    assert failed or not must_fail
    block.close()


def test_a_crc_mismatch_in_a_format_2_block_names_the_file(tmp_path: Path) -> None:
    ids, ts, values = data(8, 800, 4)
    with tsdb.open(tmp_path, options(2)) as db:
        append_all(db, ids, ts, values)
        db.flush()
    block_dir = min(d for d in (tmp_path / "blocks").iterdir() if not d.name.endswith(".tmp"))
    chunks = bytearray((block_dir / "chunks").read_bytes())
    chunks[-3] ^= 1
    (block_dir / "chunks").write_bytes(bytes(chunks))
    block = Block(block_dir)
    with pytest.raises(CorruptDataError, match="chunks"):
        block.read(np.arange(len(block.series_ids)), -(2**62), 2**62)
    block.close()
