"""A damaged block is refused by name; the rest of the store keeps working."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import obskit.tsdb as tsdb
from obskit.cli import main
from obskit.errors import CorruptDataError
from obskit.model import Matcher, MatchType, SampleBatch, make_labels
from obskit.tsdb.options import HOUR_MS

ALL = (np.iinfo(np.int64).min, np.iinfo(np.int64).max)


def make_store(path: Path) -> list[Path]:
    opts = tsdb.Options(fsync="none", retention_ms=0)
    labels = [make_labels("m", i=str(i)) for i in range(200)]
    with tsdb.open(path, opts) as db:
        for w in range(2):  # two blocks in two windows
            ts = w * 4 * HOUR_MS + np.arange(100, dtype=np.int64) * 15_000
            idx = np.repeat(np.arange(200), 100)
            db.append(SampleBatch(labels, idx, np.tile(ts, 200), np.sin(idx + np.tile(ts, 200))))
        db.flush()
        return [b.path for b in db.blocks]


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def test_corrupt_page_names_the_file_and_other_blocks_still_read(tmp_path: Path) -> None:
    first, _ = make_store(tmp_path)
    chunks = first / "chunks"
    flip(chunks, chunks.stat().st_size // 2)
    with tsdb.open(tmp_path, tsdb.Options(fsync="none", retention_ms=0)) as db:
        with pytest.raises(CorruptDataError, match=str(chunks)) as info:
            db.select([], *ALL)
        assert info.value.path == str(chunks)
        # the undamaged block answers; label queries need no block data
        later = db.select([], 4 * HOUR_MS, ALL[1])
        assert len(later) == 200 and all(len(s) == 100 for s in later)
        assert db.label_values("i", [Matcher(MatchType.EQ, "i", "7")]) == ["7"]


@pytest.mark.parametrize("victim", ["index", "meta.json"])
def test_corrupt_index_or_meta_skips_the_block_on_open(tmp_path: Path, victim: str) -> None:
    first, _ = make_store(tmp_path)
    target = first / victim
    if victim == "meta.json":
        target.write_text(json.dumps({"seq": "x"}))
    else:
        flip(target, target.stat().st_size // 2)
    with tsdb.open(tmp_path, tsdb.Options(fsync="none", retention_ms=0)) as db:
        assert db.corrupt_blocks == [str(first)]
        assert len(db.blocks) == 1
        assert all(len(s) == 100 for s in db.select([], *ALL))
    assert main(["tsdb", "inspect", str(tmp_path)]) == 1


def test_inspect_reports_blocks_and_codecs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_store(tmp_path)
    assert main(["tsdb", "inspect", "--format", "json", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["blocks"]) == 2
    assert report["block_samples"] == 40_000
    assert report["bytes_per_sample"] > 0
    assert sum(report["value_codecs"].values()) == 400
