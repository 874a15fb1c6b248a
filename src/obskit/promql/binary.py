"""Binary operators: arithmetic, comparison (with ``bool``), ``and``/``or``/``unless`` and vector
matching (``on``/``ignoring``, ``group_left``/``group_right``), over all steps at once.

Matching works on series signatures (the label values the match looks at); rows are paired
once, then the operator runs on ``[rows, steps]`` arrays. Duplicate signatures are allowed as
long as no two of them have a point at the same step, exactly where Prometheus would fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from obskit.errors import QueryError
from obskit.model.labels import Labels
from obskit.promql.steps import NAME_LABELS, StepScalar, StepVector

__all__ = ["Matching", "arith", "compare", "scalar_binop", "vector_binop", "vector_scalar_binop"]

F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]

ARITH = {"+", "-", "*", "/", "%", "^", "atan2"}
COMPARE = {"==", "!=", ">", "<", ">=", "<="}
SET_OPS = {"and", "or", "unless"}


@dataclass(frozen=True, slots=True)
class Matching:
    card: str  # "one-to-one", "many-to-one", "one-to-many", "many-to-many"
    on: bool
    labels: tuple[str, ...]
    include: tuple[str, ...]
    return_bool: bool
    fill_left: float | None = None
    fill_right: float | None = None


def arith(op: str, a: F64, b: F64) -> F64:
    with np.errstate(all="ignore"):
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        if op == "%":
            return np.fmod(a, b)
        if op == "^":
            return np.power(a, b)
        if op == "atan2":
            return np.arctan2(a, b)
    raise QueryError(f"unknown arithmetic operator {op!r}")


def compare(op: str, a: F64, b: F64) -> Bool:
    return np.asarray(_compare(op, a, b), np.bool_)


def _compare(op: str, a: F64, b: F64) -> object:
    with np.errstate(invalid="ignore"):
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        if op == ">":
            return a > b
        if op == "<":
            return a < b
        if op == ">=":
            return a >= b
        if op == "<=":
            return a <= b
    raise QueryError(f"unknown comparison operator {op!r}")


def scalar_binop(op: str, a: StepScalar, b: StepScalar) -> StepScalar:
    if op in COMPARE:
        return StepScalar(compare(op, a.values, b.values).astype(np.float64))
    return StepScalar(arith(op, a.values, b.values))


def vector_scalar_binop(
    op: str, vec: StepVector, scalar: StepScalar, scalar_left: bool, return_bool: bool
) -> StepVector:
    s = scalar.values[None, :]
    left, right = (s, vec.values) if scalar_left else (vec.values, s)
    if op in COMPARE:
        cond = compare(op, left, right)
        if return_bool:
            vals = cond.astype(np.float64)
            return StepVector(vec.labels, vals, vec.present.copy(), np.ones(len(vec), np.bool_))
        return StepVector(vec.labels, vec.values, vec.present & cond, vec.drop_name).compact()
    vals = arith(op, left, right)
    return StepVector(vec.labels, vals, vec.present.copy(), np.ones(len(vec), np.bool_))


def format_labels(lab: Labels) -> str:
    """A label set as Prometheus prints it in errors: ``{__name__="x", job="a"}``."""
    inner = ", ".join(f"{k}={_go_quote(v)}" for k, v in lab)
    return "{" + inner + "}"


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _signature(lab: Labels, m: Matching) -> Labels:
    if m.on:
        names = set(m.labels)
        return tuple(p for p in lab if p[0] in names)
    names = set(m.labels)
    return tuple(p for p in lab if p[0] not in names and p[0] not in NAME_LABELS)


def _merge_by_signature(
    vec: StepVector, labels: list[Labels], m: Matching, side: str
) -> tuple[dict[Labels, int], F64, Bool, list[int]]:
    """Rows of one side collapsed per signature: values/present [G, N] and a representative row;
    fails where two series of one signature have a point at the same step."""
    ids: dict[Labels, int] = {}
    rows: list[list[int]] = []
    for i, lab in enumerate(labels):
        sig = _signature(lab, m)
        g = ids.setdefault(sig, len(ids))
        if g == len(rows):
            rows.append([])
        rows[g].append(i)
    n = vec.values.shape[1]
    vals = np.zeros((len(rows), n))
    pres = np.zeros((len(rows), n), np.bool_)
    rep = []
    for g, members in enumerate(rows):
        if len(members) == 1:
            vals[g] = vec.values[members[0]]
            pres[g] = vec.present[members[0]]
        else:
            p = vec.present[members]
            if (p.sum(axis=0) > 1).any():
                sig = next(k for k, v in ids.items() if v == g)
                raise QueryError(
                    f"found duplicate series for the match group {format_labels(sig)} on the "
                    f"{side} hand-side of the operation: "
                    f"[{', '.join(format_labels(labels[r]) for r in members[:2])}];"
                    "many-to-many matching not allowed: matching labels must be unique on one side"
                )
            idx = np.argmax(p, axis=0)
            vals[g] = vec.values[np.asarray(members)[idx], np.arange(n)]
            pres[g] = p.any(axis=0)
        rep.append(members[0])
    return ids, vals, pres, rep


def _set_op(op: str, lhs: StepVector, rhs: StepVector, m: Matching) -> StepVector:
    l_labels, r_labels = lhs.effective_labels(), rhs.effective_labels()
    n = lhs.values.shape[1] if len(lhs) else rhs.values.shape[1]
    r_sig: dict[Labels, Bool] = {}
    for i, lab in enumerate(r_labels):
        sig = _signature(lab, m)
        prev = r_sig.get(sig)
        r_sig[sig] = rhs.present[i] if prev is None else prev | rhs.present[i]
    none = np.zeros(n, np.bool_)
    if op in ("and", "unless"):
        keep = np.array(
            [r_sig.get(_signature(lab, m), none) for lab in l_labels], np.bool_
        ).reshape(len(lhs), n)
        mask = lhs.present & (keep if op == "and" else ~keep)
        return StepVector(lhs.labels, lhs.values, mask, lhs.drop_name).compact()
    l_sig: dict[Labels, Bool] = {}
    for i, lab in enumerate(l_labels):
        sig = _signature(lab, m)
        prev = l_sig.get(sig)
        l_sig[sig] = lhs.present[i] if prev is None else prev | lhs.present[i]
    blocked = np.array([l_sig.get(_signature(lab, m), none) for lab in r_labels], np.bool_).reshape(
        len(rhs), n
    )
    r_mask = rhs.present & ~blocked
    return StepVector(
        lhs.labels + rhs.labels,
        np.concatenate([lhs.values, rhs.values]),
        np.concatenate([lhs.present, r_mask]),
        np.concatenate([lhs.drop_name, rhs.drop_name]),
    ).compact()


def _result_labels(lab: Labels, one: Labels | None, m: Matching) -> Labels:
    out = dict(lab)
    if m.card == "one-to-one":
        if m.on:
            keep = set(m.labels)
            out = {k: v for k, v in out.items() if k in keep}
        else:
            for k in m.labels:
                out.pop(k, None)
    if m.include and one is not None:
        one_d = dict(one)
        for k in m.include:
            if one_d.get(k):
                out[k] = one_d[k]
            else:
                out.pop(k, None)
    return tuple(sorted(out.items()))


def vector_binop(op: str, lhs: StepVector, rhs: StepVector, m: Matching) -> StepVector:
    n = lhs.values.shape[1] if len(lhs) else rhs.values.shape[1]
    if op in SET_OPS:
        return _set_op(op, lhs, rhs, m)
    # Prometheus swaps the sides for group_right; fill_left then fills the "many" side and
    # fill_right the "one" side, whichever operand that is.
    fill_many, fill_one = m.fill_left, m.fill_right
    if (len(lhs) == 0 and fill_many is None and fill_one is None) or (
        len(rhs) == 0 and fill_many is None and fill_one is None
    ):
        return StepVector.empty(n)
    swap = m.card == "one-to-many"
    many, one = (rhs, lhs) if swap else (lhs, rhs)
    many_labels, one_labels = many.effective_labels(), one.effective_labels()
    one_side = "left" if swap else "right"
    ids, o_vals, o_pres, o_rep = _merge_by_signature(one, one_labels, m, one_side)
    match_group = [ids.get(_signature(lab, m), -1) for lab in many_labels]
    mg_all = np.asarray(match_group, np.intp)
    # Without fill_right only matched many-side rows take part.
    mr = np.flatnonzero(mg_all >= 0) if fill_one is None else np.arange(len(many_labels))
    mg = mg_all[mr]
    mv, mp = many.values[mr], many.present[mr]
    matched = mg >= 0
    safe_g = np.where(matched, mg, 0)
    if len(ids):
        ov = np.where(matched[:, None], o_vals[safe_g], np.nan)
        op_ = np.where(matched[:, None], o_pres[safe_g], False)
    else:
        ov = np.full(mv.shape, np.nan)
        op_ = np.zeros(mv.shape, np.bool_)
    if fill_one is not None:
        ov = np.where(op_, ov, fill_one)
        present = mp.copy()
    else:
        present = mp & op_
    if m.card == "one-to-one" and len(mg):
        counts = np.zeros((max(len(ids), 1), n), np.int64)
        np.add.at(counts, safe_g[matched], (present & op_)[matched].astype(np.int64))
        if (counts > 1).any():
            raise QueryError(
                "multiple matches for labels: many-to-one matching must be explicit "
                "(group_left/group_right)"
            )
    out_labels = []
    for i, g in zip(mr.tolist(), mg.tolist(), strict=True):
        one_lab = one.labels[o_rep[g]] if (m.include and g >= 0) else None
        out_labels.append(_result_labels(many.labels[i], one_lab, m))
    drop_name = many.drop_name[mr].copy()
    if fill_many is not None and len(ids):
        # One-side groups with no many-side series at a step get a filled many-side value.
        many_pres = np.zeros((len(ids), n), np.bool_)
        if matched.any():
            np.logical_or.at(many_pres, mg[matched], mp[matched])
        extra_pres = o_pres & ~many_pres
        rows = np.flatnonzero(extra_pres.any(axis=1))
        if len(rows):
            sigs = list(ids)
            mv = np.concatenate([mv, np.full((len(rows), n), fill_many)])
            ov = np.concatenate([ov, o_vals[rows]])
            present = np.concatenate([present, extra_pres[rows]])
            out_labels.extend(sigs[r] for r in rows.tolist())
            drop_name = np.concatenate([drop_name, np.zeros(len(rows), np.bool_)])
    if not out_labels:
        return StepVector.empty(n)
    lv, rv = (ov, mv) if swap else (mv, ov)
    is_cmp = op in COMPARE
    drop = not is_cmp or m.return_bool
    if is_cmp:
        cond = compare(op, lv, rv)
        if m.return_bool:
            values = cond.astype(np.float64)
        else:
            values = lv
            present = present & cond
    else:
        values = arith(op, lv, rv)
    drop_name = drop_name | drop
    result = StepVector(out_labels, values, present, drop_name).compact()
    _check_unique(result)
    return result


def _check_unique(vec: StepVector) -> None:
    seen: dict[Labels, int] = {}
    labels = vec.effective_labels()
    for i, lab in enumerate(labels):
        j = seen.setdefault(lab, i)
        if j != i and (vec.present[i] & vec.present[j]).any():
            raise QueryError("vector cannot contain metrics with the same labelset")


def merge_duplicates(vec: StepVector, labels: Sequence[Labels]) -> StepVector:
    """Series with equal (final) label sets merged into one row; an error where two of them
    have a point at the same step."""
    groups: dict[Labels, list[int]] = {}
    for i, lab in enumerate(labels):
        groups.setdefault(lab, []).append(i)
    if len(groups) == len(labels):
        return StepVector(list(labels), vec.values, vec.present, np.zeros(len(vec), np.bool_))
    n = vec.values.shape[1]
    vals = np.zeros((len(groups), n))
    pres = np.zeros((len(groups), n), np.bool_)
    for g, members in enumerate(groups.values()):
        p = vec.present[members]
        if (p.sum(axis=0) > 1).any():
            raise QueryError("vector cannot contain metrics with the same labelset")
        idx = np.argmax(p, axis=0)
        vals[g] = vec.values[np.asarray(members)[idx], np.arange(n)]
        pres[g] = p.any(axis=0)
    return StepVector(list(groups), vals, pres, np.zeros(len(groups), np.bool_))
