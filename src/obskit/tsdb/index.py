"""In-memory label index: label pair → sorted series ids (postings), and matcher selection.

Series ids are dense int64 assigned by the store in creation order; ``add`` only appends, so a
posting list is a Python list that stays sorted and is turned into a numpy array lazily (cached,
extended in place of being rebuilt when it grew). Selection follows Prometheus'
``PostingsForMatchers``: intersect what the positive matchers select, subtract what the matchers
that also match an absent label reject. What does not live here: matcher semantics
(``obskit.model.matchers``) and on-disk postings (blocks carry series ids only).

Concurrency: one writer (the store's lock) and any number of readers. Posting lists only grow or
are replaced by new list objects, so readers work on lists without the lock; the lock guards
dict changes and the short snapshots readers take. A reader sees the index as of its start: ids
added later are cut off by the snapshot ``limit`` and removed ids by the ``dead`` mask.
"""

from __future__ import annotations

import itertools
import operator
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import SupportsIndex

import numpy as np
import numpy.typing as npt

from obskit.errors import InvalidBatchError
from obskit.model.labels import Labels
from obskit.model.matchers import Matcher

__all__ = ["LabelCardinality", "LabelIndex", "LabelOrder"]

IdArray = npt.NDArray[np.int64]
Pair = tuple[str, str]

# Posting lists shorter than this are converted on every use instead of cached: np.array on a
# short list costs about as much as the cache look-up, and a cache entry per rare value would
# cost ~200 bytes for each of possibly millions of values.
_CACHE_MIN_LEN = 64

# Once this few candidate series are left (or fewer than the label has values), the remaining
# scanning matchers are checked against each candidate's labels (~1 µs each) instead of building
# the union of the posting lists of every value they match.
_FILTER_MAX_IDS = 256

# _subtract switches from a binary search per id to a mask over all ids when the ids are at
# least this dense a fraction of all series (the mask costs ~1 ns per series, a search ~50 ns).
_DENSE_FRACTION = 32

# A cached "series that have label x" array is extended by reading the labels of the series
# added since (~0.3 µs each) up to this many; past that it is rebuilt from the postings.
_LABEL_REFRESH_MAX = 20_000

# label_names/label_values with ids: reading each series' labels beats testing each value's
# postings when there are fewer ids than this many times the number of values (measured cost
# ratio of the two per-item loops, rounded down).
_IDS_PER_VALUE_SCAN = 4

# label_names with many ids reads this many series first; their names need no postings test.
_NAMES_SAMPLE = 256

# label_order keeps the order of up to this many recent id sets (a dashboard's selectors,
# refreshed) holding at most _ORDER_MAX_IDS ids in all (~24 bytes each: ~6 MiB).
_ORDER_ENTRIES = 256
_ORDER_MAX_IDS = 1 << 18

_EMPTY: IdArray = np.empty(0, dtype=np.int64)
_EMPTY.flags.writeable = False


@dataclass(frozen=True, slots=True)
class LabelOrder:
    """Series ``ids`` (ascending) in label order: ``labels[i]`` is the label set of ``ids[i]``,
    ``ranks[i]`` its position in label order, ``in_order`` whether that is ``ids``' own
    order, and ``sorted_labels`` the label sets in label order. Shared between callers: do not
    change."""

    labels: list[Labels]
    ranks: IdArray
    in_order: bool
    sorted_labels: list[Labels]


@dataclass(frozen=True, slots=True)
class LabelCardinality:
    """How many distinct values and live series a label name has (a cardinality explorer row)."""

    name: str
    value_count: int
    series_count: int


def _member(haystack: IdArray, needles: IdArray) -> npt.NDArray[np.bool_]:
    """For each of ``needles``, whether it is in the sorted ``haystack`` (O(n log m))."""
    if len(haystack) == 0 or len(needles) == 0:
        return np.zeros(len(needles), dtype=np.bool_)
    pos = np.searchsorted(haystack, needles)
    np.minimum(pos, len(haystack) - 1, out=pos)
    return np.asarray(haystack[pos] == needles, dtype=np.bool_)


def _intersect(a: IdArray, b: IdArray) -> IdArray:
    """Sorted ids in both sorted ``a`` and ``b``: each of the shorter looked up in the longer."""
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return small[_member(large, small)]


def _subtract(ids: IdArray | None, rejected: IdArray, limit: int) -> IdArray:
    """Sorted ``ids`` (None: all ids below ``limit``) without ``rejected``, cut at ``limit``."""
    if ids is not None and (len(ids) < limit // _DENSE_FRACTION or len(rejected) == 0):
        return ids[~_member(rejected, ids)] if len(rejected) else ids
    # Many ids: one pass over a mask of every id beats a binary search per id.
    rejected = rejected[: int(np.searchsorted(rejected, limit))]
    if ids is None:
        mask = np.ones(limit, dtype=np.bool_)
    else:
        mask = np.zeros(limit, dtype=np.bool_)
        mask[ids[: int(np.searchsorted(ids, limit))]] = True
    mask[rejected] = False
    return np.flatnonzero(mask).astype(np.int64, copy=False)


def _prefer_filter(n_ids: int, n_values: int) -> bool:
    """Whether to check ``n_ids`` candidates' labels rather than scan ``n_values`` values."""
    return n_ids <= max(_FILTER_MAX_IDS, n_values)


def _is_lookup(m: Matcher) -> bool:
    """Whether the series ``m`` selects or rejects are found by looking literal values up."""
    return m.literal_values is not None and m.matches_empty is m.is_negative


def _sorted_unique(ids: IdArray) -> IdArray:
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        ids = np.unique(ids)
    return ids


class LabelIndex:
    """Postings for every series the store holds; see the module docstring for the design."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Labels by series id; None for ids that were never added (gaps).
        self._series: list[Labels | None] = []
        self._postings: dict[Pair, list[int]] = {}
        # Every distinct (name, value) pair once: stored label sets are tuples of these shared
        # pairs, so a value repeated across series (job, instance, __name__ ...) is held once.
        # A node_exporter-like series then takes ~0.15 KiB instead of ~1.3 KiB (its own tuple
        # and string per label); the dict costs ~50 B per distinct pair.
        self._pairs: dict[Pair, Pair] = {}
        # name → value → the same list objects as in _postings, for scans over a label's values.
        self._values: dict[str, dict[str, list[int]]] = {}
        # Cached arrays: (list they were built from, array of its first len(array) items).
        self._arrays: dict[Pair, tuple[list[int], IdArray]] = {}
        # name → (limit the array covers, sorted ids of live series that have the label).
        self._has_label: dict[str, tuple[int, IdArray]] = {}
        # True at removed ids and gaps; replaced, never changed in place (readers hold it).
        self._dead: npt.NDArray[np.bool_] = np.zeros(0, dtype=np.bool_)
        self._dead_count = 0
        self._removals = 0  # bumped by remove(): caches built from older lists are not stored
        # ids.tobytes() -> LabelOrder, most recent last. A series' labels never change and ids
        # are never reused, so an entry stays right for as long as it is kept.
        self._orders: dict[bytes, LabelOrder] = {}
        self._order_ids = 0  # ids in _orders

    # ---- writing -------------------------------------------------------------------------------

    def add(self, series_id: int, labels: Labels) -> Labels:
        """Index one series; ``series_id`` must be above every id added before. Returns the
        label set as stored (equal to ``labels``, made of the index's shared pairs): keep that
        one rather than ``labels``."""
        return self.add_many(series_id, [labels])[0]

    def add_many(self, first_id: int, labels: Sequence[Labels]) -> list[Labels]:
        """Index series ``first_id``, ``first_id + 1``, ... with these label sets; returns them
        as stored (see ``add``)."""
        with self._lock:
            series = self._series
            if first_id != len(series):
                self._check_next(first_id)
            sid = int(first_id)
            postings = self._postings
            shared = self._pairs
            stored: list[Labels] = []
            for ls in labels:
                ls = tuple([shared.setdefault(pair, pair) for pair in ls])
                for pair in ls:
                    lst = postings.get(pair)
                    if lst is None:
                        self._new_pair(pair, sid)
                    else:
                        lst.append(sid)
                # Last: a reader that counts this series (its snapshot limit) finds its postings.
                series.append(ls)
                stored.append(ls)
                sid += 1
            return stored

    def _check_next(self, series_id: int) -> None:
        """Accept an id above the next free one (marking the gap dead); refuse one below it."""
        if not isinstance(series_id, int | np.integer):
            raise InvalidBatchError(f"cannot index series {series_id!r}: id must be an int")
        series_id = int(series_id)
        if series_id < len(self._series):
            raise InvalidBatchError(
                f"cannot index series {series_id}: ids must increase, next free id is "
                f"{len(self._series)}"
            )
        self._mark_gap(series_id)

    def _new_pair(self, pair: Pair, sid: int) -> None:
        lst = self._postings[pair] = [sid]
        by_value = self._values.get(pair[0])
        if by_value is None:
            by_value = self._values[pair[0]] = {}
        by_value[pair[1]] = lst

    def _mark_gap(self, first_id: int) -> None:
        start = len(self._series)
        dead = np.zeros(first_id, dtype=np.bool_)
        dead[: len(self._dead)] = self._dead
        dead[start:first_id] = True
        # The mask first, so that no reader's snapshot limit covers a gap the mask does not.
        self._dead = dead
        self._dead_count += first_id - start
        self._series.extend([None] * (first_id - start))

    def remove(self, ids: IdArray) -> None:
        """Forget these series (deleted by retention): they never match nor report labels again.

        Their labels stay readable through ``labels(id)``, since ids are never reused and a
        reader may have selected them just before.
        """
        with self._lock:
            n = len(self._series)
            ids = _sorted_unique(ids)
            ids = ids[(ids >= 0) & (ids < n)]
            dead = np.zeros(n, dtype=np.bool_)
            dead[: len(self._dead)] = self._dead
            ids = ids[~dead[ids]]
            if len(ids) == 0:
                return
            dead[ids] = True
            # Publish the mask before replacing lists: a reader that sees a new list also sees it.
            self._dead = dead
            self._dead_count += len(ids)
            self._removals += 1
            affected: set[Pair] = set()
            for sid in ids.tolist():
                ls = self._series[sid]
                if ls is not None:
                    affected.update(ls)
            for pair in affected:
                self._drop_dead(pair, dead)
            self._has_label.clear()

    def _drop_dead(self, pair: Pair, dead: npt.NDArray[np.bool_]) -> None:
        old = np.array(self._postings[pair], dtype=np.int64)
        kept = old[~dead[old]].tolist()
        self._arrays.pop(pair, None)
        name, value = pair
        if kept:
            self._postings[pair] = self._values[name][value] = kept
            return
        del self._postings[pair]
        self._pairs.pop(pair, None)
        by_value = self._values[name]
        del by_value[value]
        if not by_value:
            del self._values[name]

    # ---- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        """One past the highest id added: the next id the store may assign."""
        return len(self._series)

    @property
    def series_count(self) -> int:
        """Number of live series (added, not removed)."""
        with self._lock:
            return len(self._series) - self._dead_count

    def labels(self, series_id: SupportsIndex) -> Labels:
        """The labels of a series (also of a removed one); KeyError for an id never added."""
        sid = operator.index(series_id)
        ls = self._series[sid] if 0 <= sid < len(self._series) else None
        if ls is None:
            raise KeyError(f"no series with id {sid}")
        return ls

    def label_order(self, ids: IdArray) -> LabelOrder:
        """The label sets of ``ids`` (ascending, all added) and their order by labels, as a
        select returns series; remembered for recent id sets, so a refreshed dashboard's
        selectors neither look up nor sort their label sets again."""
        key = ids.tobytes() if len(ids) <= _ORDER_MAX_IDS else None
        if key is not None:
            with self._lock:
                found = self._orders.pop(key, None)
                if found is not None:
                    self._orders[key] = found  # most recent last
                    return found
        labels = [self.labels(sid) for sid in ids.tolist()]
        by_labels = sorted(range(len(ids)), key=labels.__getitem__)
        ranks = np.empty(len(ids), np.int64)
        ranks[by_labels] = np.arange(len(ids))
        ranks.flags.writeable = False
        order = LabelOrder(
            labels,
            ranks,
            all(i == r for i, r in enumerate(by_labels)),
            [labels[i] for i in by_labels],
        )
        if key is not None:
            with self._lock:
                self._orders[key] = order
                self._order_ids += len(ids)
                while len(self._orders) > _ORDER_ENTRIES or self._order_ids > _ORDER_MAX_IDS:
                    self._order_ids -= len(self._orders.pop(next(iter(self._orders))).labels)
        return order

    def select(self, matchers: Sequence[Matcher]) -> IdArray:
        """Sorted ids of the live series that all ``matchers`` select; no matchers: all."""
        limit = len(self._series)
        # Matchers answered by looking literal values up come first: cheap, and an empty
        # result ends the work before any scan over a label's values.
        lookups = [m for m in matchers if _is_lookup(m)]
        scans = [m for m in matchers if not _is_lookup(m)]
        positive: list[IdArray] = []
        negative: list[IdArray] = []
        for m in lookups:
            if m.matches_empty:
                # Series without the label match; take away those whose value does not.
                negative.append(self._postings_where(m, want=False, limit=limit))
            else:
                selected = self._postings_where(m, want=True, limit=limit)
                if len(selected) == 0:
                    return np.empty(0, dtype=np.int64)
                positive.append(selected)
        ids: IdArray | None = None  # None: every series below limit
        if positive:
            positive.sort(key=len)
            ids = positive[0]
            for other in positive[1:]:
                ids = ids[_member(other, ids)]
        for rejected in negative:
            ids = _subtract(ids, rejected, limit)
        scans.sort(key=lambda m: len(self._values.get(m.name, ())))
        for i, m in enumerate(scans):
            if ids is not None and _prefer_filter(len(ids), len(self._values.get(m.name, ()))):
                # Few candidates left: reading their labels beats a union over many values.
                ids = self._filter(ids, scans[i:], limit)
                break
            if m.matches_empty:
                ids = _subtract(ids, self._postings_where(m, want=False, limit=limit), limit)
            else:
                selected = self._postings_where(m, want=True, limit=limit)
                ids = selected if ids is None else _intersect(ids, selected)
        if ids is None:
            ids = np.arange(limit, dtype=np.int64)
        return self._live(ids, limit)

    def _filter(self, ids: IdArray, matchers: Sequence[Matcher], limit: int) -> IdArray:
        """Those of ``ids`` (below ``limit``) whose labels all ``matchers`` accept."""
        ids = ids[: int(np.searchsorted(ids, limit))]
        series = self._series
        kept = []
        for sid in ids.tolist():
            ls = series[sid] or ()
            for m in matchers:
                name = m.name
                value = ""
                for k, v in ls:
                    if k == name:
                        value = v
                        break
                if not m.matches(value):
                    break
            else:
                kept.append(sid)
        return np.array(kept, dtype=np.int64)

    def _live(self, ids: IdArray, limit: int) -> IdArray:
        """``ids`` without those added after the snapshot ``limit`` or dead; never a cache."""
        cut = int(np.searchsorted(ids, limit))
        if cut < len(ids):
            ids = ids[:cut]
        # Read after the lists were: remove() publishes the mask before it replaces lists.
        dead = self._dead
        if len(dead) and len(ids):
            cut = int(np.searchsorted(ids, len(dead)))
            keep = ~dead[ids[:cut]]
            if not keep.all():
                ids = np.concatenate((ids[:cut][keep], ids[cut:]))
        return ids if ids.flags.writeable else ids.copy()

    def _postings_where(self, m: Matcher, *, want: bool, limit: int) -> IdArray:
        """Sorted ids of series having label ``m.name`` with a value v where matches(v) == want.

        May hold ids at or above ``limit`` (callers cut them off).
        """
        literals = m.literal_values
        # For =/=~ a value matches iff it is a literal; for !=/!~ iff it is not.
        if literals is not None and want is not m.is_negative:  # the _is_lookup case
            pairs = [(m.name, v) for v in literals]
            lists = [(p, lst) for p in pairs if (lst := self._postings.get(p)) is not None]
            return self._union(lists)
        with self._lock:
            values = list(self._values.get(m.name, {}).items())
        if literals is not None:
            keep = (not m.is_negative) is want
            chosen = [(v, lst) for v, lst in values if (v in literals) is keep]
        else:
            match = m.matches
            chosen = [(v, lst) for v, lst in values if match(v) is want]
        if len(chosen) == len(values) and values:
            return self._with_label(m.name, limit)
        return self._union([((m.name, v), lst) for v, lst in chosen])

    def _array(self, pair: Pair, lst: list[int]) -> IdArray:
        """The items of posting list ``lst`` (of ``pair``) as a read-only array; cached."""
        n = len(lst)
        if n < _CACHE_MIN_LEN:
            return np.array(lst, dtype=np.int64)
        cached = self._arrays.get(pair)
        if cached is not None and cached[0] is lst:
            arr = cached[1]
            if len(arr) >= n:
                return arr
            # Lists only grow, so the cached array is a prefix: convert only the tail.
            arr = np.concatenate((arr, np.array(lst[len(arr) : n], dtype=np.int64)))
        else:
            arr = np.array(lst[:n], dtype=np.int64)
        arr.flags.writeable = False
        with self._lock:
            if self._postings.get(pair) is lst:  # not replaced by remove() meanwhile
                self._arrays[pair] = (lst, arr)
        return arr

    def _union(self, lists: list[tuple[Pair, list[int]]]) -> IdArray:
        """Sorted union of posting lists of one label name (disjoint: one value per series)."""
        if not lists:
            return _EMPTY
        if len(lists) == 1:
            return self._array(*lists[0])
        # Long lists through their cached arrays, short ones in one pass over their items.
        parts = [self._array(p, lst) for p, lst in lists if len(lst) >= _CACHE_MIN_LEN]
        short = [lst for _p, lst in lists if len(lst) < _CACHE_MIN_LEN]
        if short:
            items = itertools.chain.from_iterable(short)
            parts.append(np.fromiter(items, dtype=np.int64))
        # Runs are sorted already; the stable sort (timsort on int64) merges them.
        return np.sort(np.concatenate(parts), kind="stable")

    def _with_label(self, name: str, limit: int) -> IdArray:
        """Sorted ids of the series below ``limit`` that have label ``name``; cached per name."""
        removals = self._removals
        cached = self._has_label.get(name)
        if cached is not None and cached[0] >= limit:
            return cached[1]
        if cached is not None and limit - cached[0] <= _LABEL_REFRESH_MAX:
            # Extend with the series added since: usually a few, read straight from their labels.
            start, arr = cached
            series = self._series
            fresh = [
                sid
                for sid in range(start, limit)
                if (ls := series[sid]) is not None and any(k == name for k, _v in ls)
            ]
            arr = np.concatenate((arr, np.array(fresh, dtype=np.int64)))
        else:
            with self._lock:
                values = list(self._values.get(name, {}).items())
            arr = self._union([((name, v), lst) for v, lst in values])
            arr = arr[: int(np.searchsorted(arr, limit))]
        arr.flags.writeable = False
        with self._lock:
            if self._removals == removals:
                self._has_label[name] = (limit, arr)
        return arr

    def label_names(self, ids: IdArray | None = None) -> list[str]:
        """Sorted label names of live series (of ``ids`` only, when given)."""
        with self._lock:
            names = list(self._values)
        if ids is None:
            return sorted(names)
        limit = len(self._series)
        ids = self._live(_sorted_unique(ids), limit)
        # Most names show up among the first few series; only the others need a postings test.
        head = ids if len(ids) <= _IDS_PER_VALUE_SCAN * len(names) else ids[:_NAMES_SAMPLE]
        found: set[str] = set()
        for sid in head.tolist():
            found.update(k for k, _v in self._series[sid] or ())
        if len(head) < len(ids):
            rest = ids[len(head) :]
            found.update(
                n
                for n in names
                if n not in found and _member(self._with_label(n, limit), rest).any()
            )
        return sorted(found)

    def label_values(self, name: str, ids: IdArray | None = None) -> list[str]:
        """Sorted values of label ``name`` among live series (of ``ids`` only, when given)."""
        with self._lock:
            values = list(self._values.get(name, {}).items())
        if ids is None:
            return sorted(v for v, _lst in values)
        ids = self._live(_sorted_unique(ids), len(self._series))
        if len(ids) <= _IDS_PER_VALUE_SCAN * len(values):
            found: set[str] = set()
            for sid in ids.tolist():
                for k, v in self._series[sid] or ():
                    if k == name:
                        found.add(v)
                        break
            return sorted(found)
        return sorted(v for v, lst in values if _member(ids, self._array((name, v), lst)).any())

    def series_count_by_label(self) -> list[LabelCardinality]:
        """Per label name, distinct values and live series; most series first."""
        with self._lock:
            rows = [
                LabelCardinality(name, len(by_value), sum(map(len, by_value.values())))
                for name, by_value in self._values.items()
            ]
        rows.sort(key=lambda r: (-r.series_count, r.name))
        return rows
