"""Put obskit's and the reference's answers in one shape and say how they differ.

Floats are equal within ``REL_TOL`` relative (NaN equals NaN, infinities must match exactly); label
sets must be equal exactly, ``__name__`` included, except where topk/bottomk break a tie: there
Prometheus' choice follows its internal series order, which varies from run to run after some
functions and operators (seen in promref_test.go), so the same values per step suffice. Vectors
compare by label set, and in the order of the result too when the query sorts at the top (by
value sequence for ``sort``/``sort_desc``, whose ties may come in either order; by label
sequence for ``sort_by_label*``). Errors compare by kind: ``bad_data`` is obskit's
``ParseError``, every other kind a ``QueryError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from obskit.errors import ParseError, QueryError
from obskit.promql import Matrix, QueryResult, Scalar, String, Vector

REL_TOL = 1e-9
MAX_REPORTED = 6  # series or points shown per mismatch

Labels = tuple[tuple[str, str], ...]


@dataclass
class Answer:
    """``kind`` is the result type or ``error``; ``series`` maps a label set to its points."""

    kind: str
    series: dict[Labels, list[tuple[int, float]]] = field(default_factory=dict)
    order: list[Labels] = field(default_factory=list)
    scalar: tuple[int, float | str] | None = None
    error: str = ""


def from_reference(res: dict[str, Any]) -> Answer:
    if "error" in res:
        return Answer("error", error=f"{res['errorType']}: {res['error']}")
    kind = res["resultType"]
    if kind in ("scalar", "string"):
        item = res["result"]
        v = float(item["v"]) if kind == "scalar" else item["v"]
        return Answer(kind, scalar=(int(item["t"]), v))
    ans = Answer(kind)
    for item in res["result"]:
        lab = tuple(sorted(item.get("metric", {}).items()))
        if kind == "vector":
            points = [(int(item["t"]), float(item["v"]))]
        else:
            points = [(int(t), float(v)) for t, v in zip(item["t"], item["v"], strict=True)]
        ans.series[lab] = points
        ans.order.append(lab)
    return ans


def from_obskit(res: QueryResult | QueryError) -> Answer:
    if isinstance(res, QueryError):
        kind = "bad_data" if isinstance(res, ParseError) else "execution"
        return Answer("error", error=f"{kind}: {res}")
    value = res.value
    if isinstance(value, Scalar):
        return Answer("scalar", scalar=(value.t_ms, value.value))
    if isinstance(value, String):
        return Answer("string", scalar=(value.t_ms, value.value))
    ans = Answer("vector" if isinstance(value, Vector) else "matrix")
    if isinstance(value, Vector):
        for lab, v in zip(value.labels, value.values.tolist(), strict=True):
            ans.series[lab] = [(value.t_ms, v)]
            ans.order.append(lab)
    else:
        assert isinstance(value, Matrix)
        for s in value.series:
            pts = zip(s.timestamps_ms.tolist(), s.values.tolist(), strict=True)
            ans.series[s.labels] = list(pts)
            ans.order.append(s.labels)
    return ans


def close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    if math.isinf(a) or math.isinf(b):
        return False
    return abs(a - b) <= REL_TOL * max(abs(a), abs(b))


def _fmt_labels(lab: Labels) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in lab) + "}"


def _points_differ(want: list[tuple[int, float]], got: list[tuple[int, float]]) -> str:
    wt, gt = [t for t, _ in want], [t for t, _ in got]
    if wt != gt:
        only_want = sorted(set(wt) - set(gt))[:MAX_REPORTED]
        only_got = sorted(set(gt) - set(wt))[:MAX_REPORTED]
        return f"{len(wt)} points, got {len(gt)}: only expected at {only_want}, got at {only_got}"
    bad = [(t, w, g) for (t, w), (_, g) in zip(want, got, strict=True) if not close(w, g)]
    if not bad:
        return ""
    shown = ", ".join(f"@{t}: want {w!r} got {g!r}" for t, w, g in bad[:MAX_REPORTED])
    return f"{len(bad)} of {len(want)} points differ: {shown}"


def _order_differs(expr: str, want: Answer, got: Answer) -> str:
    head = expr.lstrip("(").split("(", 1)[0].strip()
    if head.startswith("sort_by_label"):
        if want.order != got.order:
            want_order, got_order = map(_fmt_labels, want.order), map(_fmt_labels, got.order)
            return f"order {list(want_order)} != {list(got_order)}"
    elif head in ("sort", "sort_desc"):
        wv = [want.series[x][0][1] for x in want.order]
        gv = [got.series[x][0][1] for x in got.order]
        if not all(close(a, b) for a, b in zip(wv, gv, strict=True)):
            return f"order of values {wv} != {gv}"
    return ""


def diff(expr: str, want: Answer, got: Answer) -> str:
    """How ``got`` differs from ``want``, or ``""`` when they are the same answer."""
    if want.kind == "error" or got.kind == "error":
        if want.kind != got.kind:
            return f"want {want.kind} {want.error}; got {got.kind} {got.error}"
        if want.error.split(":", 1)[0] != got.error.split(":", 1)[0]:
            return f"error kinds differ: want {want.error!r}; got {got.error!r}"
        return ""
    if want.kind != got.kind:
        return f"result type: want {want.kind}, got {got.kind}"
    if want.scalar is not None or got.scalar is not None:
        assert want.scalar is not None and got.scalar is not None
        (wt, wv), (gt, gv) = want.scalar, got.scalar
        same = wv == gv if want.kind == "string" else close(float(wv), float(gv))
        return "" if same and wt == gt else f"want {want.scalar}, got {got.scalar}"
    problems = []
    missing = [lab for lab in want.series if lab not in got.series]
    extra = [lab for lab in got.series if lab not in want.series]
    if len(got.order) != len(got.series):
        problems.append(f"duplicate label sets in {len(got.order)} series")
    for what, labs, src in (("missing", missing, want), ("unexpected", extra, got)):
        if labs:
            shown = "; ".join(f"{_fmt_labels(x)} {src.series[x][:3]}" for x in labs[:MAX_REPORTED])
            problems.append(f"{len(labs)} {what} series: {shown}")
    for lab, points in want.series.items():
        if lab in got.series and (d := _points_differ(points, got.series[lab])):
            problems.append(f"{_fmt_labels(lab)}: {d}")
    if not problems and want.kind == "vector" and (d := _order_differs(expr, want, got)):
        problems.append(d)
    if problems and ("topk" in expr or "bottomk" in expr) and _same_values_per_step(want, got):
        return ""  # a tie broken the other way: Prometheus' own choice varies from run to run
    return "\n".join(problems[: MAX_REPORTED * 2])


def _same_values_per_step(want: Answer, got: Answer) -> bool:
    def per_step(ans: Answer) -> dict[int, list[float]]:
        steps: dict[int, list[float]] = {}
        for points in ans.series.values():
            for t, v in points:
                steps.setdefault(t, []).append(v)
        return {t: sorted(vs, key=lambda v: (math.isnan(v), v)) for t, vs in steps.items()}

    ws, gs = per_step(want), per_step(got)
    return ws.keys() == gs.keys() and all(
        len(ws[t]) == len(gs[t]) and all(map(close, ws[t], gs[t])) for t in ws
    )
