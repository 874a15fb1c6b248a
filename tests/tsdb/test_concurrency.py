"""Reads stay consistent while appends, flushes and compactions run in other threads."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

import obskit.tsdb as tsdb
from obskit.model import make_labels

N_SERIES = 30
ALL = (np.iinfo(np.int64).min, np.iinfo(np.int64).max)


def test_read_while_write_flush_and_compact(tmp_path: Path) -> None:
    opts = tsdb.Options(
        fsync="none",
        retention_ms=0,
        head_max_samples=2_000,
        block_ranges_ms=(600_000, 1_800_000, 5_400_000),
    )
    errors: list[BaseException] = []
    done = threading.Event()
    with tsdb.open(tmp_path, opts) as db:
        refs = db.series_refs([make_labels("m", i=str(i)) for i in range(N_SERIES)])

        def writer() -> None:
            try:
                for step in range(600):
                    ts = np.full(N_SERIES, step * 15_000, dtype=np.int64)
                    db.append_refs(refs, ts, refs * 1e6 + step)
                    if step % 50 == 49:
                        db.compact()
            except BaseException as exc:
                errors.append(exc)
            finally:
                done.set()

        def reader() -> None:
            try:
                last = 0
                while not done.is_set():
                    result = db.select([], *ALL)
                    total = 0
                    for s in result:
                        sid = int(dict(s.labels)["i"])
                        steps = s.timestamps_ms // 15_000
                        # a prefix of the steps, no gaps, no duplicates, right values
                        assert (steps == np.arange(len(steps))).all()
                        assert (s.values == sid * 1e6 + steps).all()
                        total += len(s)
                    assert total >= last  # never goes back
                    last = total
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer)] + [
            threading.Thread(target=reader) for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert sum(len(s) for s in db.select([], *ALL)) == 600 * N_SERIES
        assert db.stats()["compactions_total"] > 0
