"""Which evals of a ``.test`` file obskit runs, and why the others are skipped.

Every eval gets a ``Classification``: the experimental features it uses (it runs when all of
them are enabled) or the one reason it cannot run here:

* native histograms — an expected value is a ``{{...}}`` literal, or a selector of the
  expression matches a series loaded with ``{{...}}`` values or made by ``load_with_nhcb``
  (decided per series, not per ``load`` block: blocks mix float and histogram series);
* start timestamps — a selector matches a series loaded with ``@st`` offsets;
* experimental syntax — ``promql-parser`` (the parser obskit's engine uses) rejects the
  expression; the reason names the construct when it is a known one;
* an experimental feature that is not enabled (functions Prometheus keeps behind
  ``--enable-feature=promql-experimental-functions``, ``limitk``/``limit_ratio``, ``fill``
  modifiers, ``__type__``/``__unit__`` labels: selected, matched or expected).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import promql_parser

from conformance.seriesdesc import HistogramLiteral, SeriesLabels
from conformance.testfile import Clear, Eval, Load, TestFile
from obskit.model.matchers import Matcher, MatchType

__all__ = [
    "DEFAULT_EXPERIMENTAL",
    "EXPERIMENTAL_FEATURES",
    "Classification",
    "classify_file",
]

# Prometheus' experimental PromQL functions (parser/functions.go, "Experimental: true"; min_of and
# max_of as promql-parser knows them).
_EXPERIMENTAL_FUNCTIONS = frozenset(
    {
        "double_exponential_smoothing",
        "end",
        "first_over_time",
        "histogram_quantiles",
        "info",
        "integral",
        "mad_over_time",
        "max_of",
        "min_of",
        "range",
        "sort_by_label",
        "sort_by_label_desc",
        "start",
        "step",
        "ts_of_first_over_time",
        "ts_of_last_over_time",
        "ts_of_max_over_time",
        "ts_of_min_over_time",
    }
)
_EXPERIMENTAL_AGGREGATIONS = frozenset({"limitk", "limit_ratio"})
FILL_MODIFIERS = "fill_modifiers"
TYPE_AND_UNIT = "type_and_unit_labels"  # __type__/__unit__ treated like __name__

EXPERIMENTAL_FEATURES = frozenset(
    _EXPERIMENTAL_FUNCTIONS | _EXPERIMENTAL_AGGREGATIONS | {FILL_MODIFIERS, TYPE_AND_UNIT}
)
"""Names ``Classification.experimental`` uses: function or aggregation names, and two more."""

# Enabled by default: the cheap and useful ones ../shared/specs/prometheus-versions.md asks the
# engine to implement. Everything else experimental is skipped unless asked for.
DEFAULT_EXPERIMENTAL = frozenset(
    {
        "double_exponential_smoothing",
        "info",
        "limit_ratio",
        "limitk",
        "mad_over_time",
        "sort_by_label",
        "sort_by_label_desc",
    }
)

SKIP_HISTOGRAMS = "native histograms"
SKIP_START_TIMESTAMPS = "start timestamps (@st)"
SKIP_SYNTAX = "experimental syntax"
SKIP_EXPERIMENTAL = "experimental feature off"

# What promql-parser rejects, by the construct responsible (checked in this order).
_SYNTAX_CONSTRUCTS = (
    (re.compile(r"\b(anchored|smoothed)\b"), "anchored/smoothed range modifiers"),
    (
        re.compile(r"\b(step|range)\(\)|\b(min|max)\(|\[[^\]]*[-+*/%^(]", re.IGNORECASE),
        "duration expressions",
    ),
    (re.compile(r"\boffset\s*[-(]|@\s*\("), "duration expressions"),
    (re.compile(r"\bfill(_left|_right)?\s*\("), FILL_MODIFIERS),
    (re.compile(r"\binfo\s*\("), "info()"),
)


@dataclass(frozen=True, slots=True)
class Classification:
    """``skip`` is None when the eval runs; then ``experimental`` lists what it relies on."""

    skip: str | None
    detail: str = ""
    experimental: frozenset[str] = frozenset()

    @property
    def runs(self) -> bool:
        return self.skip is None


@dataclass(frozen=True, slots=True)
class _Selector:
    groups: tuple[tuple[Matcher, ...], ...]  # alternatives ("or" inside braces)

    def matches(self, labels: SeriesLabels) -> bool:
        values = dict(labels)
        return any(all(m.matches(values.get(m.name, "")) for m in g) for g in self.groups)


# promql-parser's MatchOp is not hashable: a list of pairs, not a dict.
_OPS = [
    (promql_parser.MatchOp.Equal, MatchType.EQ),
    (promql_parser.MatchOp.NotEqual, MatchType.NEQ),
    (promql_parser.MatchOp.Re, MatchType.RE),
    (promql_parser.MatchOp.NotRe, MatchType.NRE),
]


def _matcher(m: promql_parser.Matcher) -> Matcher:
    for op, kind in _OPS:
        if m.op == op:
            return Matcher(kind, m.name, m.value)
    raise AssertionError(f"BUG: unknown matcher operator {m.op}")


def _selector(node: promql_parser.VectorSelector) -> _Selector:
    name = [Matcher(MatchType.EQ, "__name__", node.name)] if node.name else []
    base = tuple(name + [_matcher(m) for m in node.matchers.matchers])
    alternatives = tuple(
        tuple(name + [_matcher(m) for m in group]) for group in node.matchers.or_matchers
    )
    return _Selector(alternatives or (base,))


@dataclass(frozen=True, slots=True)
class _Inspection:
    selectors: list[_Selector]
    features: frozenset[str]


def _inspect(expr: promql_parser.Expr) -> _Inspection:
    selectors: list[_Selector] = []
    features: set[str] = set()

    def visit(node: object, *_: object) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            selectors.append(_selector(node))
            groups = [node.matchers.matchers, *node.matchers.or_matchers]
            if any(m.name in ("__type__", "__unit__") for g in groups for m in g):
                features.add(TYPE_AND_UNIT)
        elif isinstance(node, promql_parser.Call):
            if node.func.name in _EXPERIMENTAL_FUNCTIONS or node.func.experimental:
                features.add(node.func.name)
        elif isinstance(node, promql_parser.AggregateExpr):
            op = str(node.op)
            if op in _EXPERIMENTAL_AGGREGATIONS:
                features.add(op)
        elif isinstance(node, promql_parser.BinaryExpr):
            modifier = node.modifier
            if modifier is not None and _has_fill(modifier):
                features.add(FILL_MODIFIERS)
        return True

    promql_parser.walk(expr, visit)
    return _Inspection(selectors, frozenset(features))


def _has_fill(modifier: promql_parser.BinModifier) -> bool:
    fill = getattr(modifier, "fill_values", None)
    if fill is None:
        return False
    return getattr(fill, "lhs", None) is not None or getattr(fill, "rhs", None) is not None


def _syntax_construct(expr: str) -> str:
    for pattern, name in _SYNTAX_CONSTRUCTS:
        if pattern.search(expr):
            return name
    return "rejected by promql-parser"


def _names_in(expr: str) -> set[str]:
    """Identifiers and quoted strings of an expression promql-parser cannot parse (a fallback
    for the histogram check)."""
    return set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)) | set(
        re.findall(r"\"([^\"\\]*)\"", expr)
    )


@dataclass
class _State:
    histogram_series: set[SeriesLabels]
    nhcb_series: set[SeriesLabels]
    start_ts_series: set[SeriesLabels]
    type_unit_series: set[SeriesLabels]

    def clear(self) -> None:
        self.histogram_series.clear()
        self.nhcb_series.clear()
        self.start_ts_series.clear()
        self.type_unit_series.clear()

    def load(self, cmd: Load) -> None:
        for s in cmd.series:
            if any(isinstance(v, HistogramLiteral) for v in s.values):
                self.histogram_series.add(s.labels)
            if s.start_offsets_ms is not None and any(o is not None for o in s.start_offsets_ms):
                self.start_ts_series.add(s.labels)
            if any(k in ("__type__", "__unit__") for k, _ in s.labels):
                self.type_unit_series.add(s.labels)
            if cmd.with_nhcb:
                converted = _nhcb_target(s.labels)
                if converted is not None:
                    self.nhcb_series.add(converted)


def _nhcb_target(labels: SeriesLabels) -> SeriesLabels | None:
    """The native-histogram series ``load_with_nhcb`` builds from a classic histogram part."""
    name = dict(labels).get("__name__", "")
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix):
            if suffix == "_bucket" and "le" not in dict(labels):
                return None
            base = name[: -len(suffix)]
            return tuple(
                sorted(((k, base if k == "__name__" else v) for k, v in labels if k != "le"))
            )
    return None


def _first_match(selectors: Iterable[_Selector], series: set[SeriesLabels]) -> bool:
    return any(sel.matches(s) for sel in selectors for s in series)


def _classify(ev: Eval, state: _State, enabled: frozenset[str]) -> Classification:
    if any(isinstance(v, HistogramLiteral) for s in ev.series for v in s.values):
        return Classification(SKIP_HISTOGRAMS, "expected value is a histogram")
    try:
        parsed = promql_parser.parse(ev.expr)
    except ValueError as exc:
        names = _names_in(ev.expr)
        touched = state.histogram_series | state.nhcb_series
        if any(dict(s).get("__name__") in names for s in touched):
            return Classification(SKIP_HISTOGRAMS, "selects a histogram series")
        return Classification(SKIP_SYNTAX, f"{_syntax_construct(ev.expr)}: {exc}")
    inspection = _inspect(parsed)
    if _first_match(inspection.selectors, state.histogram_series):
        return Classification(SKIP_HISTOGRAMS, "selects a series loaded with {{...}}")
    if _first_match(inspection.selectors, state.nhcb_series):
        return Classification(SKIP_HISTOGRAMS, "selects a series made by load_with_nhcb")
    if _first_match(inspection.selectors, state.start_ts_series):
        return Classification(SKIP_START_TIMESTAMPS, "selects a series with start timestamps")
    features = set(inspection.features)
    # Series carrying __type__/__unit__ give results that depend on the feature (the labels go
    # with __name__), whether or not the expression names them.
    if any(k in ("__type__", "__unit__") for s in ev.series for k, _ in s.labels) or (
        _first_match(inspection.selectors, state.type_unit_series)
    ):
        features.add(TYPE_AND_UNIT)
    off = sorted(features - enabled)
    if off:
        return Classification(SKIP_EXPERIMENTAL, ", ".join(off), frozenset(features))
    return Classification(None, "", frozenset(features))


def classify_file(
    test: TestFile, enabled: frozenset[str] = DEFAULT_EXPERIMENTAL
) -> dict[int, Classification]:
    """Classification of every eval of ``test``, by the eval's line number."""
    state = _State(set(), set(), set(), set())
    out: dict[int, Classification] = {}
    for cmd in test.commands:
        if isinstance(cmd, Clear):
            state.clear()
        elif isinstance(cmd, Load):
            state.load(cmd)
        else:
            out[cmd.line] = _classify(cmd, state, enabled)
    return out
