"""The store end to end: append, select, flush, reopen, compaction, replacement rule, bad input."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

import obskit.tsdb as tsdb
from obskit.errors import InvalidBatchError, InvalidSeriesError, LockedError, StorageError
from obskit.model import Matcher, MatchType, SampleBatch, make_labels
from obskit.tsdb.options import HOUR_MS

STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
SPECIAL = np.array(
    [
        STALE_NAN,
        struct.unpack("<d", struct.pack("<Q", 0x7FF8DEADBEEF0001))[0],  # NaN with a payload
        struct.unpack("<d", struct.pack("<Q", 0xFFF8000000000000))[0],  # negative quiet NaN
        np.inf,
        -np.inf,
        -0.0,
        0.0,
        5e-324,  # smallest denormal
        -2.2250738585072014e-308,
        1.7976931348623157e308,
        0.1,
        12.34,
    ]
)
ALL = (np.iinfo(np.int64).min, np.iinfo(np.int64).max)


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint64)


def read_all(db: tsdb.DB) -> dict[tuple[tuple[str, str], ...], tuple[np.ndarray, np.ndarray]]:
    return {s.labels: (s.timestamps_ms, s.values) for s in db.select([], *ALL)}


@pytest.fixture
def opts() -> tsdb.Options:
    return tsdb.Options(fsync="none", retention_ms=0)


def test_special_floats_are_bit_exact_through_head_flush_reopen_and_compaction(
    tmp_path: Path, opts: tsdb.Options
) -> None:
    lab = make_labels("m", job="x")
    ts = np.arange(len(SPECIAL), dtype=np.int64) * 15_000
    with tsdb.open(tmp_path, opts) as db:
        db.append(SampleBatch([lab], np.zeros(len(ts), np.int32), ts, SPECIAL.copy()))
        (got,) = db.select([], *ALL)
        assert (bits(got.values) == bits(SPECIAL)).all()
    with tsdb.open(tmp_path, opts) as db:  # WAL replay
        (got,) = db.select([], *ALL)
        assert (bits(got.values) == bits(SPECIAL)).all()
        db.flush()
        db.append(SampleBatch([lab], np.zeros(len(ts), np.int32), ts + 3 * HOUR_MS, SPECIAL))
        db.flush()
        db.compact()
    with tsdb.open(tmp_path, opts) as db:
        (got,) = db.select([], *ALL)
        assert (got.timestamps_ms == np.concatenate([ts, ts + 3 * HOUR_MS])).all()
        assert (bits(got.values) == bits(np.concatenate([SPECIAL, SPECIAL]))).all()


def test_out_of_order_backfill_and_replacement_match_a_reference(
    tmp_path: Path, opts: tsdb.Options
) -> None:
    rng = np.random.default_rng(7)
    n_series, n = 50, 40_000
    labels = [make_labels("m", i=str(i)) for i in range(n_series)]
    idx = rng.integers(0, n_series, n)
    ts = rng.integers(0, 30 * HOUR_MS // 15_000, n) * 15_000
    values = rng.normal(size=n)
    ref: dict[tuple[int, int], float] = {}
    with tsdb.open(tmp_path, opts) as db:
        for k, chunk in enumerate(np.array_split(np.arange(n), 17)):
            db.append(SampleBatch(labels, idx[chunk], ts[chunk], values[chunk]))
            for i in chunk.tolist():  # reference: last write wins
                ref[(int(idx[i]), int(ts[i]))] = float(values[i])
            if k % 5 == 4:
                db.flush()
            if k % 7 == 6:
                db.compact()
        expect_keys = sorted(ref)
        got = {}
        for s in db.select([], *ALL):
            sid = int(dict(s.labels)["i"])
            assert np.all(np.diff(s.timestamps_ms) > 0)
            for t, v in zip(s.timestamps_ms.tolist(), s.values.tolist(), strict=True):
                got[(sid, t)] = v
        assert sorted(got) == expect_keys
        assert got == ref
        db.flush()
        db.compact()
        after = read_all(db)
    with tsdb.open(tmp_path, opts) as db:
        reopened = read_all(db)
    assert after.keys() == reopened.keys()
    for k, (t, v) in after.items():
        assert (reopened[k][0] == t).all() and (bits(reopened[k][1]) == bits(v)).all()


def test_replacement_wins_over_blocks_and_survives_compaction(
    tmp_path: Path, opts: tsdb.Options
) -> None:
    lab = make_labels("m")
    one = np.zeros(1, np.int32)
    with tsdb.open(tmp_path, opts) as db:
        db.append(SampleBatch([lab], one, np.array([1000]), np.array([1.0])))
        db.flush()
        db.append(SampleBatch([lab], one, np.array([1000]), np.array([1.0])))  # exact duplicate
        db.append(SampleBatch([lab], one, np.array([1000]), np.array([2.0])))  # replaces
        assert read_all(db)[lab][1].tolist() == [2.0]
        db.flush()
        assert len(db.blocks) == 2
        assert read_all(db)[lab][1].tolist() == [2.0]
        # the two flushes of one window wait for the next level's window (6h) to complete
        later = make_labels("later")
        db.append(SampleBatch([later], one, np.array([7 * 3_600_000]), np.array([3.0])))
        db.flush()
        db.compact()
        assert len(db.blocks) == 2
        assert read_all(db)[lab][1].tolist() == [2.0]
        first = min(db.blocks, key=lambda b: b.meta.window_start_ms)
        assert first.meta.samples == 1


def test_time_range_and_matchers(tmp_path: Path, opts: tsdb.Options) -> None:
    with tsdb.open(tmp_path, opts) as db:
        labels = [make_labels("a", job="x"), make_labels("b", job="y"), make_labels("a", job="z")]
        ts = np.array([0, 10, 20, 30], dtype=np.int64)
        for i in range(3):
            db.append(SampleBatch(labels, np.full(4, i), ts + i, np.arange(4.0)))
        db.flush(before_ms=15)
        sel = db.select([Matcher(MatchType.EQ, "__name__", "a")], 10, 21)
        assert [dict(s.labels)["job"] for s in sel] == ["x", "z"]
        assert sel[0].timestamps_ms.tolist() == [10, 20]
        assert sel[1].timestamps_ms.tolist() == [12]
        assert db.label_names() == ["__name__", "job"]
        assert db.label_values("job") == ["x", "y", "z"]
        assert db.label_values("job", [Matcher(MatchType.RE, "__name__", "b|c")]) == ["y"]
        assert db.label_values("job", mint_ms=32, maxt_ms=40) == ["z"]
        assert db.label_values("job", mint_ms=100, maxt_ms=200) == []
        assert db.series([Matcher(MatchType.NEQ, "job", "x")]) == [labels[2], labels[1]]


def test_retention_by_time_and_size(tmp_path: Path) -> None:
    opts = tsdb.Options(fsync="none", retention_ms=10 * HOUR_MS)
    lab = make_labels("m")
    with tsdb.open(tmp_path, opts) as db:
        ts = np.arange(0, 30 * HOUR_MS, 60_000, dtype=np.int64)
        db.append(SampleBatch([lab], np.zeros(len(ts), np.int32), ts, np.ones(len(ts))))
        db.flush()
        db.compact()
        (s,) = db.select([], *ALL)
        assert s.timestamps_ms[0] >= 30 * HOUR_MS - 10 * HOUR_MS - 2 * HOUR_MS
        # samples older than newest - retention are rejected and counted, never silently
        res = db.append(
            SampleBatch([lab], np.zeros(2, np.int32), np.array([0, 29 * HOUR_MS]), np.ones(2))
        )
        assert (res.accepted, res.out_of_retention) == (1, 1)
    opts = tsdb.Options(fsync="none", retention_ms=0, retention_bytes=1)
    with tsdb.open(tmp_path, opts) as db:
        assert db.apply_retention()
        assert db.blocks == ()


@pytest.mark.parametrize(
    ("labels", "fragment"),
    [
        ({"__name__": "m", "": "x"}, "empty label name"),
        ({"__name__": "m", "bad": "\udcff"}, "not valid UTF-8"),
        ({"__name__": "m", "b\udcffad": "x"}, "not valid UTF-8"),
        ((("__name__", "m"), ("a", "1"), ("a", "2")), "duplicate label name 'a'"),
        ({"job": "x"}, "missing __name__"),
        ({"__name__": "m", "n": 3}, "must be str"),
    ],
)
def test_bad_label_sets_are_rejected_by_name_and_store_stays_usable(
    tmp_path: Path, opts: tsdb.Options, labels: object, fragment: str
) -> None:
    good = make_labels("good")
    with tsdb.open(tmp_path, opts) as db:
        with pytest.raises(InvalidSeriesError, match=fragment):
            db.append(
                SampleBatch(
                    [good, labels],
                    np.array([0, 1]),
                    np.array([1, 2]),  # type: ignore[list-item]
                    np.ones(2),
                )
            )
        assert db.select([], *ALL) == []  # nothing of the rejected batch is stored
        db.append(SampleBatch([good], np.array([0]), np.array([1]), np.ones(1)))
        assert len(db.select([], *ALL)) == 1
    with tsdb.open(tmp_path, opts) as db:
        assert db.series([]) == [good]


def test_empty_value_means_absent_label(tmp_path: Path, opts: tsdb.Options) -> None:
    with tsdb.open(tmp_path, opts) as db:
        refs = db.series_refs([{"__name__": "m", "a": ""}, {"__name__": "m"}])
        assert refs[0] == refs[1]


@pytest.mark.parametrize(
    ("ts", "values", "index", "fragment"),
    [
        (np.array([1], np.int32), np.ones(1), np.zeros(1, int), "timestamps_ms must have dtype"),
        (np.array([1]), np.ones(1, np.float32), np.zeros(1, int), "values must have dtype"),
        (np.array([[1]]), np.ones(1), np.zeros(1, int), "1-dimensional"),
        (np.array([1, 2]), np.ones(1), np.zeros(1, int), "lengths differ"),
        (np.array([1]), np.ones(1), np.array([5]), "out of range"),
        (np.array([1]), np.ones(1), np.array([0.0]), "integer dtype"),
        ([1], np.ones(1), np.zeros(1, int), "numpy array"),
    ],
)
def test_bad_batches_raise_typed_errors(
    tmp_path: Path, opts: tsdb.Options, ts: object, values: object, index: object, fragment: str
) -> None:
    with tsdb.open(tmp_path, opts) as db:
        with pytest.raises(InvalidBatchError, match=fragment):
            db.append(SampleBatch([make_labels("m")], index, ts, values))  # type: ignore[arg-type]
        assert db.select([], *ALL) == []


def test_a_locked_directory_is_refused(tmp_path: Path, opts: tsdb.Options) -> None:
    with tsdb.open(tmp_path, opts), pytest.raises(LockedError, match=str(tmp_path)):
        tsdb.open(tmp_path, opts)
    tsdb.open(tmp_path, opts).close()  # released on close


def test_closed_store_refuses_work(tmp_path: Path, opts: tsdb.Options) -> None:
    db = tsdb.open(tmp_path, opts)
    db.close()
    db.close()
    with pytest.raises(StorageError, match="closed"):
        db.select([], *ALL)


def test_series_share_label_pairs_created_and_after_reopen(tmp_path: Path) -> None:
    def series(i: int) -> tuple[tuple[str, str], ...]:
        # fresh strings per series, as a remote-write decoder makes them
        return make_labels("".join(["u", "p"]), job="".join(["no", "de"]), i=str(i))

    with tsdb.open(tmp_path) as db:
        refs = db.series_refs([series(0), series(1)]).tolist()
        assert db.series_refs([series(1), series(0)]).tolist() == refs[::-1]
        a, b = db.index.labels(refs[0]), db.index.labels(refs[1])
        assert a[0] is b[0] and a[2] is b[2] and a[1] is not b[1]  # __name__, i, job
        assert next(ls for ls in db._ids if ls == a) is a  # the registry holds the shared copy
    with tsdb.open(tmp_path) as db:
        a, b = db.index.labels(refs[0]), db.index.labels(refs[1])
        assert a == series(0) and a[0] is b[0] and a[2] is b[2]
        assert next(ls for ls in db._ids if ls == a) is a
        assert db.series_refs([series(0), series(1)]).tolist() == refs


@pytest.mark.parametrize("bound", ["samples", "bytes"])
def test_head_is_flushed_automatically_and_wal_truncated(tmp_path: Path, bound: str) -> None:
    limit = {"head_max_samples": 10_000} if bound == "samples" else {"head_max_bytes": 240_000}
    opts = tsdb.Options(fsync="none", retention_ms=0, **limit)  # type: ignore[arg-type]
    steps = 6 * 240 + 60  # 6h15m at 15 s: the first 6h window completes
    with tsdb.open(tmp_path, opts) as db:
        refs = db.series_refs([make_labels("m", i=str(i)) for i in range(100)])
        for step in range(steps):
            db.append_refs(refs, np.full(100, step * 15_000), np.full(100, float(step)))
            st = db.stats()
            assert st["head_samples"] <= 10_000 and st["head_bytes"] <= 240_000
            assert st["wal_bytes"] < 10_000 * 20 + 4096
        assert st["blocks"] >= 1 and st["flushes_total"] >= 10
        # the flushes of the first 6h were merged into one block once its window completed
        assert st["compactions_total"] >= 1
        assert len([b for b in db.blocks if b.meta.window_end_ms <= 6 * 3_600_000]) == 1
        assert sum(len(s) for s in db.select([], *ALL)) == 100 * steps


def test_series_log_is_checkpointed_as_a_compressed_snapshot(tmp_path: Path) -> None:
    opts = tsdb.Options(fsync="none", retention_ms=0)
    labels = [
        make_labels(
            "node_cpu_seconds_total",
            instance=f"host-{i:05d}:9100",
            cpu=str(i % 4),
            mode="user",
            job="node",
            region="eu-west-1",
        )
        for i in range(20_000)
    ]
    with tsdb.open(tmp_path, opts) as db:
        refs = db.series_refs(labels[:15_000])
        before = db.stats()["series_log_bytes"]
        db.append_refs(refs, np.zeros(len(refs), np.int64), np.ones(len(refs)))
        db.flush()
        after = db.stats()["series_log_bytes"]
        assert after < before / 4
        more = db.series_refs(labels[15_000:])  # new series after the snapshot
        assert more.tolist() == list(range(15_000, 20_000))
    with tsdb.open(tmp_path, opts) as db:
        assert db.series_refs(labels).tolist() == list(range(20_000))
        assert db.series([]) == sorted(labels[:15_000])  # only series with samples


def test_a_failed_flush_puts_its_samples_back_into_the_head(
    tmp_path: Path, opts: tsdb.Options, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs_labels = [make_labels("m", i=str(i)) for i in range(10)]
    with tsdb.open(tmp_path, opts) as db:
        refs = db.series_refs(refs_labels)
        first_ts = np.repeat(np.array([0, 30_000], np.int64), 10)
        db.append_refs(np.tile(refs, 2), first_ts, np.ones(20))

        def fail(self: tsdb.DB, parts: object) -> None:
            raise OSError("disk full")

        with monkeypatch.context() as m:
            m.setattr(tsdb.DB, "_write_parts", fail)
            with pytest.raises(OSError, match="disk full"):
                db.flush()
        assert db.stats()["head_samples"] == 20 and not db.blocks
        ts = np.repeat(np.array([0, 15_000], np.int64), 10)
        db.append_refs(np.tile(refs, 2), ts, np.repeat([2.0, 3.0], 10))  # newer: 2.0 wins
        db.flush()
        assert db.stats()["head_samples"] == 0 and db.blocks
        got = read_all(db)
        assert len(got) == 10
        assert all(v.tolist() == [2.0, 3.0, 1.0] for _, v in got.values())
