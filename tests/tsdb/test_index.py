"""LabelIndex against a brute-force evaluation of the same matchers over every series."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from unittest import mock

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from obskit.errors import InvalidBatchError
from obskit.model.labels import Labels, labels_get, make_labels
from obskit.model.matchers import Matcher, MatchType
from obskit.tsdb import index as index_module
from obskit.tsdb.index import _CACHE_MIN_LEN, LabelCardinality, LabelIndex

EQ, NEQ, RE, NRE = MatchType.EQ, MatchType.NEQ, MatchType.RE, MatchType.NRE


def _ids(*values: int) -> npt.NDArray[np.int64]:
    return np.array(values, dtype=np.int64)


def _brute(
    series: dict[int, Labels],
    matchers: list[Matcher],
    removed: frozenset[int] = frozenset(),
) -> list[int]:
    return [
        sid
        for sid, ls in sorted(series.items())
        if sid not in removed and all(m.matches(labels_get(ls, m.name)) for m in matchers)
    ]


def _index(series: list[Labels]) -> LabelIndex:
    index = LabelIndex()
    index.add_many(0, series)
    return index


SERIES = [
    make_labels("up", job="api", instance="a:1"),
    make_labels("up", job="web", instance="b:1", env="prod"),
    make_labels("http_requests_total", job="api", instance="a:1", code="200"),
    make_labels("http_requests_total", job="api", instance="a:1", code="500"),
    make_labels("http_requests_total", job="web", instance="b:1", code="200", env="dev"),
    make_labels("node_cpu", instance="host-1", mode="idle\nx"),
]


@pytest.mark.parametrize(
    ("matchers", "expected"),
    [
        ([], [0, 1, 2, 3, 4, 5]),
        ([Matcher(EQ, "__name__", "up")], [0, 1]),
        ([Matcher(EQ, "__name__", "nope")], []),
        ([Matcher(EQ, "job", "api"), Matcher(EQ, "code", "200")], [2]),
        ([Matcher(NEQ, "job", "api")], [1, 4, 5]),  # lacking job counts as ""
        ([Matcher(NEQ, "env", "")], [1, 4]),  # has env
        ([Matcher(EQ, "env", "")], [0, 2, 3, 5]),  # lacks env
        ([Matcher(RE, "env", "")], [0, 2, 3, 5]),
        ([Matcher(NRE, "env", ".+")], [0, 2, 3, 5]),
        ([Matcher(RE, "env", ".+")], [1, 4]),
        ([Matcher(RE, "env", ".*")], [0, 1, 2, 3, 4, 5]),
        ([Matcher(NRE, "env", ".*")], []),
        ([Matcher(RE, "env", "prod|")], [0, 1, 2, 3, 5]),
        ([Matcher(RE, "job", "api|web"), Matcher(NRE, "code", "5..")], [0, 1, 2, 4]),
        ([Matcher(RE, "instance", "host-.*")], [5]),
        ([Matcher(RE, "mode", "idle.x")], [5]),  # "." matches the newline
        ([Matcher(RE, "instance", "a")], []),  # anchored: "a:1" does not match
        ([Matcher(NEQ, "nosuch", "x")], [0, 1, 2, 3, 4, 5]),
        ([Matcher(EQ, "nosuch", "x")], []),
        ([Matcher(NRE, "job", "api"), Matcher(NEQ, "env", "dev")], [1, 5]),
    ],
)
def test_select_examples(matchers: list[Matcher], expected: list[int]) -> None:
    index = _index(SERIES)
    got = index.select(matchers)
    assert got.dtype == np.int64
    assert got.tolist() == expected
    assert _brute(dict(enumerate(SERIES)), matchers) == expected


def test_labels_len_and_bad_ids() -> None:
    index = _index(SERIES)
    assert len(index) == 6
    assert index.series_count == 6
    assert index.labels(3) == SERIES[3]
    assert index.labels(np.int64(0)) == SERIES[0]
    with pytest.raises(KeyError):
        index.labels(6)
    with pytest.raises(KeyError):
        index.labels(-1)
    with pytest.raises(InvalidBatchError, match="ids must increase"):
        index.add(5, make_labels("x"))
    with pytest.raises(InvalidBatchError):
        index.add_many(0, [make_labels("x")])


def test_stored_label_sets_share_their_pairs() -> None:
    index = LabelIndex()
    # separate but equal pair objects, as a decoder builds them for each series
    a = (("__name__", "up"), ("job", "".join(["no", "de"])))
    b = (("__name__", "".join(["u", "p"])), ("job", "".join(["nod", "e"])))
    stored = index.add_many(0, [a, b])
    assert stored == [a, b] and [index.labels(0), index.labels(1)] == [a, b]
    assert index.labels(0) is stored[0] and index.labels(1) is stored[1]
    assert all(p is q for p, q in zip(stored[0], stored[1], strict=True))
    c = index.add(2, (("__name__", "up"), ("job", "api")))
    assert c[0] is stored[0][0] and c[1] is not stored[0][1]


def test_label_order_sorts_by_labels_and_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    index = LabelIndex()
    # creation order differs from label order ("10" < "2"; job b before a for odd ids)
    index.add_many(0, [make_labels("m", i=str(i), job="ab"[i % 2]) for i in range(12)])
    ids = _ids(1, 2, 3, 10, 11)
    order = index.label_order(ids)
    want = sorted(index.labels(i) for i in ids.tolist())
    assert order.labels == [index.labels(i) for i in ids.tolist()]
    assert order.sorted_labels == want
    assert [order.sorted_labels[r] for r in order.ranks.tolist()] == order.labels
    assert not order.in_order
    assert index.label_order(ids.copy()) is order  # remembered by the ids, not the array
    assert index.label_order(_ids(0, 2, 4)).in_order
    assert index.label_order(_ids()).sorted_labels == []
    index.remove(_ids(2))  # a removed series keeps its labels: remembered orders stay right
    assert index.label_order(ids) is order
    for k in range(index_module._ORDER_ENTRIES + 5):  # bounded
        index.add(12 + k, make_labels("n", k=str(k)))
        index.label_order(_ids(12 + k))
    assert len(index._orders) == index_module._ORDER_ENTRIES
    assert index._order_ids == sum(len(o.labels) for o in index._orders.values())
    assert index.label_order(ids) is not order  # evicted: built again, equal
    assert index.label_order(ids).sorted_labels == want
    # and by ids in all
    monkeypatch.setattr(index_module, "_ORDER_MAX_IDS", 10)
    index.label_order(_ids(*range(8)))
    index.label_order(_ids(*range(1, 9)))  # 16 ids: the older one goes
    assert index._order_ids == 8 and len(index._orders) == 1


def test_gaps_in_ids_never_match() -> None:
    index = LabelIndex()
    index.add(0, make_labels("a"))
    index.add(3, make_labels("b"))
    assert len(index) == 4
    assert index.series_count == 2
    assert index.select([]).tolist() == [0, 3]
    assert index.select([Matcher(NEQ, "__name__", "a")]).tolist() == [3]
    with pytest.raises(KeyError):
        index.labels(1)


def test_label_names_and_values() -> None:
    index = _index(SERIES)
    assert index.label_names() == ["__name__", "code", "env", "instance", "job", "mode"]
    assert index.label_names(_ids(0, 1)) == ["__name__", "env", "instance", "job"]
    assert index.label_names(_ids(5)) == ["__name__", "instance", "mode"]
    assert index.label_names(_ids()) == []
    assert index.label_values("job") == ["api", "web"]
    assert index.label_values("code", _ids(0, 1, 3)) == ["500"]
    assert index.label_values("job", _ids(5)) == []
    assert index.label_values("nosuch") == []
    # Unsorted, duplicated ids and ids never added are tolerated.
    assert index.label_values("job", _ids(4, 0, 4, 99)) == ["api", "web"]


@pytest.mark.parametrize("force_postings_path", [False, True])
def test_label_names_and_values_large_id_sets(force_postings_path: bool) -> None:
    series = [
        make_labels("m", shard=str(i % 3), **({"odd": "1"} if i % 2 else {})) for i in range(200)
    ]
    index = _index(series)
    evens = np.arange(0, 200, 2, dtype=np.int64)
    with contextlib.ExitStack() as stack:
        if force_postings_path:
            # Test names and values on postings instead of reading each series' labels.
            stack.enter_context(mock.patch.object(index_module, "_IDS_PER_VALUE_SCAN", 0))
            stack.enter_context(mock.patch.object(index_module, "_NAMES_SAMPLE", 1))
        assert index.label_names(evens) == ["__name__", "shard"]
        assert index.label_names(np.arange(200, dtype=np.int64)) == ["__name__", "odd", "shard"]
        assert index.label_names(_ids(0, 1)) == ["__name__", "odd", "shard"]
        assert index.label_values("shard", np.arange(0, 200, 3, dtype=np.int64)) == ["0"]
        assert index.label_values("shard", _ids(0, 4)) == ["0", "1"]
        assert index.label_values("odd", evens) == []


def test_remove() -> None:
    index = _index(SERIES)
    index.remove(_ids(1, 4, 4, 100))
    assert index.series_count == 4
    assert len(index) == 6
    assert index.select([]).tolist() == [0, 2, 3, 5]
    assert index.select([Matcher(EQ, "job", "web")]).tolist() == []
    assert index.select([Matcher(NEQ, "job", "api")]).tolist() == [5]
    assert index.select([Matcher(EQ, "env", "")]).tolist() == [0, 2, 3, 5]
    # Labels held only by removed series are gone.
    assert "env" not in index.label_names()
    assert index.label_values("job") == ["api"]
    assert index.label_values("instance") == ["a:1", "host-1"]
    assert index.label_names(_ids(1, 4)) == []
    # The labels of a removed series stay readable; adding continues after the highest id.
    assert index.labels(1) == SERIES[1]
    index.add(6, make_labels("up", job="web"))
    assert index.select([Matcher(EQ, "job", "web")]).tolist() == [6]
    index.remove(_ids(0, 2, 3, 5, 6))
    assert index.select([]).tolist() == []
    assert index.label_names() == []
    assert index.series_count_by_label() == []


def test_results_are_fresh_arrays() -> None:
    series = [make_labels("m", i=str(i % 2)) for i in range(4 * _CACHE_MIN_LEN)]
    index = _index(series)
    first = index.select([Matcher(EQ, "i", "0")])
    first[:] = -1  # must not corrupt a cached posting array
    again = index.select([Matcher(EQ, "i", "0")])
    assert again.tolist() == list(range(0, len(series), 2))


@pytest.mark.parametrize("refresh_max", [index_module._LABEL_REFRESH_MAX, 0])
def test_cached_postings_follow_adds_and_removes(
    refresh_max: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # refresh_max 0: the "has label" cache is rebuilt from postings rather than extended.
    monkeypatch.setattr(index_module, "_LABEL_REFRESH_MAX", refresh_max)
    index = LabelIndex()
    n = 3 * _CACHE_MIN_LEN
    index.add_many(0, [make_labels("m", k=str(i % 2)) for i in range(n)])
    has_k = [Matcher(NEQ, "k", "")]
    assert len(index.select([Matcher(EQ, "k", "1")])) == n // 2
    assert len(index.select(has_k)) == n
    index.add_many(n, [make_labels("m", k="1"), make_labels("m")])
    assert index.select([Matcher(EQ, "k", "1")]).tolist()[-1] == n
    assert index.select(has_k).tolist()[-1] == n
    index.remove(np.arange(0, n, 2, dtype=np.int64))
    assert index.select([Matcher(EQ, "k", "0")]).tolist() == []
    assert len(index.select(has_k)) == n // 2 + 1
    assert index.select([Matcher(EQ, "k", "")]).tolist() == [n + 1]


def test_series_count_by_label() -> None:
    index = _index(SERIES)
    rows = index.series_count_by_label()
    assert rows[0] == LabelCardinality("__name__", 3, 6)
    assert LabelCardinality("code", 2, 3) in rows
    assert [r.series_count for r in rows] == sorted((r.series_count for r in rows), reverse=True)


# ---- property test: select == brute force ------------------------------------------------------

_NAMES = ["a", "b", "c"]
_VALUES = ["x", "y", "xy", "yx", "x\ny", "X"]
_label_sets = st.lists(
    st.dictionaries(st.sampled_from(_NAMES), st.sampled_from(_VALUES), max_size=3),
    min_size=0,
    max_size=30,
)
_PATTERNS = ["", ".*", ".+", "x", "x|y", "x.*", ".*x", ".+x", "x.+", ".*x.*", "(?i)x", "x?y*",
             "x|", "[xy]+", "x.y", "y|x|xy", "(x|y)x"]  # fmt: skip
_names = st.sampled_from(_NAMES)
_matcher = st.one_of(
    st.builds(Matcher, st.sampled_from([EQ, NEQ]), _names, st.sampled_from(["", *_VALUES])),
    st.builds(Matcher, st.sampled_from([RE, NRE]), _names, st.sampled_from(_PATTERNS)),
)


# Each select strategy the index picks by size, forced on the small inputs hypothesis draws:
# (check candidates' labels instead of unions?, subtract through a mask over all ids?).
_TUNINGS = [(None, None), (True, 1), (False, 1), (True, 10**9), (False, 10**9)]


@settings(max_examples=500, deadline=None)
@given(
    _label_sets,
    st.lists(_matcher, max_size=4),
    st.lists(st.integers(0, 35), max_size=8),
    st.integers(0, 3),
    st.sampled_from(_TUNINGS),
)
def test_select_matches_brute_force(
    label_sets: list[dict[str, str]],
    matchers: list[Matcher],
    removed: list[int],
    gap: int,
    tuning: tuple[bool | None, int | None],
) -> None:
    prefer_filter, dense_fraction = tuning
    with contextlib.ExitStack() as stack:
        if prefer_filter is not None:
            stack.enter_context(
                mock.patch.object(index_module, "_prefer_filter", lambda _i, _v: prefer_filter)
            )
        if dense_fraction is not None:
            stack.enter_context(mock.patch.object(index_module, "_DENSE_FRACTION", dense_fraction))
        _check_against_brute_force(label_sets, matchers, removed, gap)


def _check_against_brute_force(
    label_sets: list[dict[str, str]], matchers: list[Matcher], removed: list[int], gap: int
) -> None:
    series = {i + gap * (i >= 5): make_labels("m", **ls) for i, ls in enumerate(label_sets)}
    index = LabelIndex()
    for sid, ls in series.items():
        index.add(sid, ls)
    assert index.select(matchers).tolist() == _brute(series, matchers)
    index.remove(np.array(removed, dtype=np.int64))
    gone = set(removed)
    assert index.select(matchers).tolist() == _brute(series, matchers, frozenset(gone))
    live = {sid: ls for sid, ls in series.items() if sid not in gone}
    assert index.label_names() == sorted({k for ls in live.values() for k, _ in ls})
    for name in _NAMES:
        assert index.label_values(name) == sorted(
            {labels_get(ls, name) for ls in live.values()} - {""}
        )
    some = np.array(sorted(series)[::2], dtype=np.int64)
    chosen = [ls for sid, ls in live.items() if sid in set(some.tolist())]
    assert index.label_names(some) == sorted({k for ls in chosen for k, _ in ls})
    assert index.label_values("a", some) == sorted({labels_get(ls, "a") for ls in chosen} - {""})


# ---- concurrency --------------------------------------------------------------------------------


def test_concurrent_add_and_select() -> None:
    index = LabelIndex()
    stop = threading.Event()
    errors: list[BaseException] = []
    queries = [
        [Matcher(EQ, "job", "j1")],
        [Matcher(NEQ, "job", "j1")],
        [Matcher(RE, "instance", "h-1.*"), Matcher(NRE, "mode", "idle")],
        [Matcher(EQ, "mode", "")],
        [],
    ]

    def make(sid: int) -> Labels:
        # Built directly (already sorted and valid): cheap, so the writer is mostly in add_many.
        mode = () if sid % 5 == 0 else (("mode", "idle" if sid % 2 else "user"),)
        return (
            ("__name__", "cpu"),
            ("instance", f"h-{sid % 50}"),
            ("job", f"j{sid % 3}"),
            *mode,
        )

    def writer() -> None:
        first = 0
        try:
            while not stop.is_set():
                index.add_many(first, [make(sid) for sid in range(first, first + 50)])
                first += 50
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader(matchers: list[Matcher]) -> None:
        previous = np.empty(0, dtype=np.int64)
        try:
            while not stop.is_set():
                got = index.select(matchers)
                assert bool(np.all(got[1:] > got[:-1])), "not sorted and unique"
                assert np.isin(previous, got).all(), "results went backwards"
                # Ids added while the select ran are where a torn read would show up.
                for sid in got[-10:].tolist():
                    ls = index.labels(sid)
                    assert all(m.matches(labels_get(ls, m.name)) for m in matchers), (sid, ls)
                previous = got
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader, args=(q,)) for q in queries
    ]
    # Switch threads often, so that selects land inside add_many calls.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        for t in threads:
            t.start()
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors[0]
    assert len(index) > 0
    final = [
        _brute(dict(enumerate(index.labels(i) for i in range(len(index)))), q) for q in queries
    ]
    assert [index.select(q).tolist() for q in queries] == final
