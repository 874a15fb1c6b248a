"""Aggregation operators (``sum by (job) (...)`` ...) over all steps at once.

Series are grouped by their ``by``/``without`` label key; rows of one group are reduced with
numpy along the series axis for every step together. ``topk``/``bottomk``/``limitk`` keep the
input series (with their labels) at the steps where they are selected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import xxhash

from obskit import kernels
from obskit.errors import QueryError
from obskit.kernels import buffers
from obskit.model.labels import METRIC_NAME, Labels
from obskit.promql.format import format_float
from obskit.promql.steps import NAME_LABELS, StepVector, without_name
from obskit.promql.windows import quantile_rows

__all__ = ["aggregate", "group_keys"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


def group_keys(
    labels: Sequence[Labels], grouping: Sequence[str], without: bool
) -> tuple[npt.NDArray[np.intp], list[Labels]]:
    """Group number of every series and the output label set of every group. ``labels`` are
    the raw label sets: ``by (__name__)`` still sees a name that is only marked for removal."""
    if not grouping and not without and len(labels):  # one group of all: sum(x), count(up)
        return np.zeros(len(labels), np.intp), [()]
    names = set(grouping)
    if without:
        names |= NAME_LABELS
        keys = [tuple([p for p in lab if p[0] not in names]) for lab in labels]
    else:
        keys = [tuple([p for p in lab if p[0] in names]) for lab in labels]
    ids: dict[Labels, int] = {}
    out = np.fromiter((ids.setdefault(k, len(ids)) for k in keys), np.intp, len(keys))
    return out, list(ids)


def _reduce_groups(ufunc: np.ufunc, data: F64, gid: npt.NDArray[np.intp], n_groups: int) -> F64:
    order = np.argsort(gid, kind="stable")
    sorted_g = gid[order]
    starts = np.flatnonzero(np.r_[True, sorted_g[1:] != sorted_g[:-1]])
    reduced = ufunc.reduceat(data[order], starts, axis=0)
    out = np.empty((n_groups, data.shape[1]), np.float64)
    out[sorted_g[starts]] = reduced
    return out


def aggregate(
    op: str,
    vec: StepVector,
    grouping: Sequence[str],
    without: bool,
    param: F64 | str | None,
) -> tuple[StepVector, list[str]]:
    """Evaluate aggregation ``op`` of ``vec``; ``param`` is k / q per step, or a label name.
    Returns the result and warnings (without positions)."""
    n_steps = vec.values.shape[1]
    warnings: list[str] = []
    if op in ("topk", "bottomk", "limitk", "limit_ratio"):
        assert isinstance(param, np.ndarray)
        if np.isnan(param).any():
            raise QueryError(
                "Ratio value is NaN" if op == "limit_ratio" else "Parameter value is NaN"
            )
        if op == "limit_ratio":
            bad = param[(param < -1) | (param > 1)]
            if len(bad):
                cap = 1 if bad[0] > 1 else -1
                warnings.append(
                    f"ratio value should be between -1 and 1, got {format_float(float(bad[0]))}"
                    f", capping to {cap}"
                )
                param = np.clip(param, -1, 1)
        return _select(op, vec, vec.effective_labels(), grouping, without, param), warnings
    if op == "count_values":
        assert isinstance(param, str)
        return _count_values(vec, vec.effective_labels(), grouping, without, param), warnings
    if op == "quantile":
        assert isinstance(param, np.ndarray)
        bad = param[np.isnan(param) | (param < 0) | (param > 1)]
        if len(bad):
            warnings.append(
                f"quantile value should be between 0 and 1, got {format_float(float(bad[0]))}"
            )
    if len(vec) == 0:
        return StepVector.empty(n_steps), warnings
    by_name = not without and METRIC_NAME in grouping
    # Keys never hold a name label unless grouped by one: only then can a marked name matter.
    raw = by_name or without or not NAME_LABELS.intersection(grouping)
    gid, keys = group_keys(vec.labels if raw else vec.effective_labels(), grouping, without)
    g = len(keys)
    present = vec.present
    drop = np.zeros(g, np.bool_)
    if by_name:
        np.logical_or.at(drop, gid, vec.drop_name)
    vals = vec.values
    kind = kernels.PQ_GROUP_KINDS.get(op, kernels.PQ_GROUP_KINDS["count"])
    # One pass (C) gives the count of every group and step, and the Kahan/Welford op itself.
    reduced, count = kernels.pq_group_reduce(kind, vals, present, gid, g)
    anyp = count > 0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if op == "count":
            out = count
        elif op == "group":
            out = np.ones((g, n_steps))
        elif op == "min":
            out = _reduce_groups(np.fmin, np.where(present, vals, np.nan), gid, g)
        elif op == "max":
            out = _reduce_groups(np.fmax, np.where(present, vals, np.nan), gid, g)
        elif op in ("sum", "avg", "stddev", "stdvar"):
            out = reduced
        elif op == "quantile":
            assert isinstance(param, np.ndarray)
            out = np.full((g, n_steps), np.nan)
            for k in range(g):
                rows = np.flatnonzero(gid == k)
                out[k] = quantile_rows(param, vals[rows].T, present[rows].T)
        else:
            raise QueryError(f"unsupported aggregation {op!r}")
    return StepVector(keys, out, anyp, drop), warnings


def _select(
    op: str,
    vec: StepVector,
    labels: list[Labels],
    grouping: Sequence[str],
    without: bool,
    param: F64 | str | None,
) -> StepVector:
    assert isinstance(param, np.ndarray)
    n_steps = vec.values.shape[1]
    if len(vec) == 0:
        return StepVector.empty(n_steps)
    gid, keys = group_keys(labels, grouping, without)
    keep = np.zeros_like(vec.present)
    if op == "limit_ratio":
        ratio = param
        # Deterministic per-series sample in [0, 1) from the label set, as a hash would give.
        h = np.array([_label_fraction(lab) for lab in vec.labels])
        keep = np.where(
            ratio[None, :] >= 0, h[:, None] < ratio[None, :], h[:, None] >= 1 + ratio[None, :]
        )
        keep &= vec.present
    else:
        with np.errstate(invalid="ignore"):
            k_steps = np.clip(param, -1, 1e9).astype(np.int64)
        # Rows of each group in label order: the order Prometheus' storage hands series over.
        label_rank = np.empty(len(vec), np.intp)
        label_rank[sorted(range(len(vec)), key=vec.labels.__getitem__)] = np.arange(len(vec))
        by_group = np.lexsort((label_rank, gid))
        bounds = np.searchsorted(gid[by_group], np.arange(len(keys) + 1))
        if op != "limitk":
            key_all = _selection_keys(vec, -1.0 if op == "topk" else 1.0)
        for grp in range(len(keys)):
            rows = by_group[bounds[grp] : bounds[grp + 1]]
            if op == "limitk":
                p = vec.present[rows]
                rank = np.cumsum(p, axis=0) - 1
                keep[rows] = p & (rank < k_steps[None, :])
                continue
            if len(keys) == 1:  # every row: views, no copies (rows gives the label order)
                keep[:] = _smallest_k(op, key_all, vec, slice(None), rows, k_steps)
            else:
                keep[rows] = _smallest_k(op, key_all, vec, rows, np.arange(len(rows)), k_steps)
    out = StepVector(vec.labels, vec.values, keep, vec.drop_name)
    if n_steps == 1 and op in ("topk", "bottomk"):
        sign = -1.0 if op == "topk" else 1.0
        rows = np.flatnonzero(keep[:, 0])
        v = vec.values[rows, 0]
        key = np.where(np.isnan(v), np.inf, sign * v)
        order = rows[np.lexsort((key, gid[rows]))]
        return out.take(order)
    return out.compact()


# _selection_keys: a present NaN ranks after every number (+Inf included), an absent row last.
_KEY_NAN = np.int64(0x7FF0000000000001)
_KEY_ABSENT = np.int64(np.iinfo(np.int64).max)


def _selection_keys(vec: StepVector, sign: float) -> I64:
    """topk/bottomk preference as int64 keys, smallest preferred: ``sign * value`` ordered as
    floats (-0 equal to +0, as Prometheus compares them), then present NaNs (Prometheus' heap
    ranks NaN below every number), then absent rows."""
    shape = vec.values.shape
    # pooled temporaries: fresh big arrays would be faulted in anew on every query
    vals = np.multiply(vec.values, sign, out=buffers.empty(shape, np.float64))
    nan = np.isnan(vals, out=buffers.empty(shape, np.bool_))
    vals += 0.0  # -0.0 + 0.0 is +0.0
    keys: I64 = vals.view(np.int64)  # in place: negative floats' bits count down, so flip them
    flip = np.right_shift(keys, 63, out=buffers.empty(shape, np.int64))
    flip &= np.int64(0x7FFFFFFFFFFFFFFF)
    keys ^= flip
    np.putmask(keys, nan, _KEY_NAN)
    np.logical_not(vec.present, out=nan)
    np.putmask(keys, nan, _KEY_ABSENT)
    return keys


def _smallest_k(
    op: str,
    key_all: I64,
    vec: StepVector,
    sub: slice | npt.NDArray[np.intp],
    label_order: npt.NDArray[np.intp],
    k_steps: npt.NDArray[np.int64],
) -> Bool:
    """topk/bottomk of one group (the rows ``sub`` of the vector; ``label_order`` lists its
    rows, as positions in ``sub``, in label order) at every step: the ``k`` smallest keys. Only
    where the k-th and (k+1)-th keys tie does the choice depend on the order of the rows:
    there Prometheus' heap is replayed over the rows in label order."""
    key, p, v = key_all[sub], vec.present[sub], vec.values[sub]
    n, n_steps = key.shape
    k0 = int(k_steps[0]) if n_steps else 0
    if n_steps and (k_steps == k0).all():  # the usual case: k is a number
        if k0 <= 0:
            return np.zeros_like(p)
        if k0 >= n:
            return p.copy()
        # the k-th and (k+1)-th smallest key per step, without sorting (keys along rows)
        part = buffers.empty((n_steps, n), np.int64)
        np.copyto(part, key.T)
        part.partition((k0 - 1, k0), axis=1)
        a, b = part[:, k0 - 1].copy(), part[:, k0].copy()
        sel: Bool = p & (key <= a[None, :])
        cut = np.arange(n_steps)
    else:
        order = np.argsort(key, axis=0, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(n)[:, None], axis=0)
        sel = p & (rank < k_steps[None, :])
        srt = np.take_along_axis(key, order, axis=0)
        cut = np.flatnonzero((k_steps >= 1) & (k_steps < n))
        a, b = srt[k_steps[cut] - 1, cut], srt[k_steps[cut], cut]
    tie = (a == b) & (a != _KEY_ABSENT)
    for step in cut[tie].tolist():
        sel[:, step] = False
        rows = label_order[p[label_order, step]]
        chosen = _go_heap_select(v[rows, step], int(k_steps[step]), op)
        sel[rows[chosen], step] = True
    return sel


def _go_heap_select(values: F64, k: int, op: str) -> list[int]:
    """Indices Prometheus' topk/bottomk keep for one step and group: a bounded heap filled in
    input order, with Go's container/heap sifting (this decides ties)."""
    vals = values.tolist()
    if op == "topk":

        def less(x: float, y: float) -> bool:
            return math.isnan(x) or x < y
    else:

        def less(x: float, y: float) -> bool:
            return math.isnan(x) or x > y

    heap: list[int] = []

    def up(j: int) -> None:
        while True:
            i = (j - 1) // 2
            if j <= 0 or i == j or not less(vals[heap[j]], vals[heap[i]]):
                break
            heap[i], heap[j] = heap[j], heap[i]
            j = i

    def down(i0: int) -> bool:
        i, n = i0, len(heap)
        while True:
            j1 = 2 * i + 1
            if j1 >= n:
                break
            j = j1
            if j1 + 1 < n and less(vals[heap[j1 + 1]], vals[heap[j1]]):
                j = j1 + 1
            if not less(vals[heap[j]], vals[heap[i]]):
                break
            heap[i], heap[j] = heap[j], heap[i]
            i = j
        return i > i0

    for idx, x in enumerate(vals):
        if len(heap) < k:
            heap.append(idx)
            up(len(heap) - 1)
            continue
        top = vals[heap[0]]
        better = top < x if op == "topk" else top > x
        if better or (math.isnan(top) and not math.isnan(x)):
            heap[0] = idx
            if k > 1 and not down(0):
                up(0)
    return heap


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _label_fraction(lab: Labels) -> float:
    """Prometheus' sampling offset of a series: the xxhash64 of its label set in Prometheus'
    own label encoding (uvarint length + bytes, name then value, label by label) over the
    largest uint64 (as a float64)."""
    data = bytearray()
    for k, v in lab:
        kb, vb = k.encode(), v.encode()
        data += _uvarint(len(kb)) + kb + _uvarint(len(vb)) + vb
    return float(xxhash.xxh64_intdigest(bytes(data))) / float(2**64 - 1)


def _count_values(
    vec: StepVector,
    labels: list[Labels],
    grouping: Sequence[str],
    without: bool,
    label: str,
) -> StepVector:
    """Prometheus sets the value label on each series first and then groups: ``by`` keeps the
    value label, ``without (label)`` removes it again. Vectorised over samples: only the
    distinct values are formatted, only the series' base keys are built in Python."""
    n_steps = vec.values.shape[1]
    names = set(grouping)
    s_idx, k_idx = np.nonzero(vec.present)
    if len(s_idx) == 0:
        return StepVector.empty(n_steps)
    # Each series' key without the value label, numbered.
    if without:
        dropped = names | NAME_LABELS | {label}
        base = [tuple(p for p in lab if p[0] not in dropped) for lab in labels]
    else:
        base = [tuple(p for p in lab if p[0] in names and p[0] != label) for lab in labels]
    base_ids: dict[Labels, int] = {}
    series_base = np.array([base_ids.setdefault(b, len(base_ids)) for b in base], np.int64)
    # Distinct values by bit pattern (every NaN prints as "NaN", so NaNs are made one).
    bits = vec.values[s_idx, k_idx].view(np.uint64).copy()
    bits[np.isnan(vec.values[s_idx, k_idx])] = np.uint64(0x7FF8000000000000)
    distinct, value_idx = np.unique(bits, return_inverse=True)
    with_value = not (without and label in names)
    combined = series_base[s_idx] * len(distinct) + (value_idx if with_value else 0)
    rows, row_of = np.unique(combined, return_inverse=True)
    counts = np.zeros((len(rows), n_steps))
    np.add.at(counts, (row_of, k_idx), 1.0)
    base_list = list(base_ids)
    texts = [format_float(float(v)) for v in distinct.view(np.float64)]
    out_labels: list[Labels] = []
    for row in rows.tolist():
        key = base_list[row // len(distinct)]
        if with_value:
            key = tuple(sorted((*key, (label, texts[row % len(distinct)]))))
        out_labels.append(key)
    return StepVector(
        [without_name(lab) for lab in out_labels],
        counts,
        counts > 0,
        np.zeros(len(out_labels), np.bool_),
    )
