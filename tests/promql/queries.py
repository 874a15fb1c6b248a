"""Generated PromQL queries over the series of ``data.py``, each evaluated at generated times.

A family is a function of a seeded ``random.Random`` that returns one expression; ``cases(seed)``
draws a few expressions per family and pairs each with instant times (on the scrape grid, off it,
on a lookback boundary, before and after the data) and one range (start on or off the grid, steps
that do and do not divide the scrape interval). The family name is what a mismatch is reported
under.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .data import END_MS, SCRAPE_MS, T0_MS

COUNTERS = (
    "http_requests_total",
    'http_requests_total{code="500"}',
    'http_requests_total{instance=~"i[01]"}',
    'http_requests_total{job="api",code!="200"}',
    "request_duration_seconds_count",
    "nan_counter_total",
)
GAUGES = (
    "node_temperature_celsius",
    'node_temperature_celsius{sensor="disk"}',
    'node_temperature_celsius{sensor=~"cpu|gpu"}',
    "up",
    "sparse_metric",
    "const_metric",
    "extreme_metric",
)
ANY = COUNTERS + GAUGES + ("single_sample", "build_info", "nonexistent_metric")
RANGES = ("30s", "1m", "90s", "2m", "5m", "10m", "37s", "1m15s")
MODIFIERS = ("", "", "", " offset 1m", " offset -2m", " @ start()", " @ end()", " offset 5m")
AGGS = ("sum", "avg", "min", "max", "count", "group", "stddev", "stdvar")
GROUPINGS = ("", " by (instance)", " by (job)", " without (code)", " without (instance)", " by ()")
OVER_TIME = (
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "last_over_time",
    "first_over_time",
    "present_over_time",
    "mad_over_time",
)
MATH = (
    "abs",
    "ceil",
    "floor",
    "exp",
    "sqrt",
    "ln",
    "log2",
    "log10",
    "sgn",
    "round",
    "deg",
    "rad",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "tanh",
    "asinh",
    "acosh",
    "atanh",
)
DATES = (
    "year",
    "month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "hour",
    "minute",
)
ARITH = ("+", "-", "*", "/", "%", "^", "atan2")
COMPARE = ("==", "!=", ">", "<", ">=", "<=")
BROKEN = ("no_inf", "not_monotonic", "le_twice")
QUANTILES = ("0", "0.25", "0.5", "0.9", "0.99", "1", "-0.5", "1.5")

Family = Callable[[random.Random], str]


def _sel(r: random.Random, pool: tuple[str, ...] = ANY) -> str:
    return r.choice(pool)


def _rsel(r: random.Random, pool: tuple[str, ...]) -> str:
    return f"{r.choice(pool)}[{r.choice(RANGES)}]{r.choice(MODIFIERS)}"


def _vec(r: random.Random) -> str:
    """A small instant-vector expression to feed functions and operators."""
    return r.choice(
        (
            _sel(r, GAUGES) + r.choice(MODIFIERS),
            f"rate({_rsel(r, COUNTERS)})",
            f"sum by (instance) ({_sel(r, COUNTERS)})",
            _sel(r, COUNTERS),
        )
    )


def _tree(r: random.Random, depth: int) -> str:
    """A random instant-vector expression nesting functions, aggregations and operators."""
    if depth <= 0 or r.random() < 0.2:
        return r.choice(
            (
                _sel(r, ANY) + r.choice(MODIFIERS),
                f"{r.choice(('rate', 'increase', 'irate', 'delta', 'deriv'))}({_rsel(r, ANY)})",
                f"{r.choice(OVER_TIME)}({_rsel(r, ANY)})",
            )
        )
    sub = _tree(r, depth - 1)
    grouping = r.choice(GROUPINGS)
    return r.choice(
        (
            f"{r.choice(AGGS)}{grouping} ({sub})",
            f"{r.choice(('topk', 'bottomk'))}{grouping} ({r.choice(('1', '2'))}, {sub})",
            f"quantile{grouping} ({r.choice(QUANTILES)}, {sub})",
            f"{r.choice(MATH)}({sub})",
            f"({sub}) {r.choice(ARITH + COMPARE)} {r.choice(('0', '1.5', '-2', '100'))}",
            f"{r.choice(('2', '-1', '0'))} {r.choice(ARITH)} ({sub})",
            f"({sub}) {r.choice(COMPARE)} bool {r.choice(('0', '30'))}",
            f"({sub}) {r.choice(ARITH + COMPARE + ('and', 'or', 'unless'))}"
            f"{r.choice(('', ' on (instance)', ' ignoring (code)', ' on ()'))} "
            f"({_tree(r, depth - 1)})",
            f"{r.choice(OVER_TIME)}(({sub})"
            f"[{r.choice(('5m', '2m', '10m'))}:{r.choice(('', '1m', '20s'))}])",
            f"clamp({sub}, {r.choice(('-1', '0', '10'))}, {r.choice(('5', '50', '1e6'))})",
            f'label_replace({sub}, "x", "$1", "instance", "i(.*)")',
            f"absent({sub})",
            f"timestamp({sub})",
            f"scalar({sub}) * {_sel(r, GAUGES)}",
            f"sort_desc({sub})",
            f"-({sub})",
        )
    )


DRAW_FACTOR = {"random_tree": 4}  # families that get more than ``per_family`` expressions
FAMILIES: dict[str, Family] = {
    "random_tree": lambda r: _tree(r, 3),
    "selector": lambda r: _sel(r) + r.choice(MODIFIERS),
    "range_selector": lambda r: _rsel(r, ANY),
    "rate": lambda r: f"rate({_rsel(r, COUNTERS + GAUGES)})",
    "irate": lambda r: f"irate({_rsel(r, COUNTERS + GAUGES)})",
    "increase": lambda r: f"increase({_rsel(r, COUNTERS)})",
    "delta": lambda r: f"delta({_rsel(r, GAUGES)})",
    "idelta": lambda r: f"idelta({_rsel(r, GAUGES)})",
    "deriv": lambda r: f"deriv({_rsel(r, GAUGES + COUNTERS)})",
    "predict_linear": lambda r: (
        f"predict_linear({_rsel(r, GAUGES)}, {r.choice(('0', '60', '600', '-300', '0.5'))})"
    ),
    "resets": lambda r: f"resets({_rsel(r, COUNTERS + GAUGES)})",
    "changes": lambda r: f"changes({_rsel(r, GAUGES + COUNTERS)})",
    "over_time": lambda r: f"{r.choice(OVER_TIME)}({_rsel(r, ANY)})",
    "quantile_over_time": lambda r: (
        f"quantile_over_time({r.choice(QUANTILES)}, {_rsel(r, GAUGES + COUNTERS)})"
    ),
    "absent": lambda r: r.choice(
        (
            f"absent({_sel(r)})",
            'absent(nonexistent_metric{job="x"})',
            'absent(nonexistent_metric{job="x", instance=~"i.*"})',
            'absent(sum(nonexistent_metric{job="x"}))',
            f"absent_over_time({_rsel(r, ANY)})",
            'absent_over_time(nonexistent_metric{job="y"}[5m])',
        )
    ),
    "histogram_quantile": lambda r: r.choice(
        (
            f"histogram_quantile({r.choice(QUANTILES)}, "
            f"sum by (le{r.choice(('', ', instance'))}) "
            f"(rate(request_duration_seconds_bucket[{r.choice(RANGES)}])))",
            f"histogram_quantile({r.choice(QUANTILES)}, request_duration_seconds_bucket)",
            f"histogram_quantile({r.choice(('0.5', 'NaN'))}, "
            'request_duration_seconds_bucket{le=~"0.1|1|\\\\+Inf"})',
            f"histogram_quantile(0.9, rate(request_duration_seconds_bucket[{r.choice(RANGES)}]))",
        )
    ),
    "histogram_quantile_broken": lambda r: r.choice(
        (
            f"histogram_quantile({r.choice(QUANTILES)}, broken_bucket)",
            f"histogram_quantile({r.choice(QUANTILES)}, "
            f'broken_bucket{{case="{r.choice(BROKEN)}"}})',
            f"histogram_quantile({r.choice(QUANTILES)}, sum by (le, case) "
            f"(rate(broken_bucket[{r.choice(RANGES)}])))",
        )
    ),
    "double_exponential_smoothing": lambda r: (
        f"double_exponential_smoothing({_rsel(r, GAUGES)}, "
        f"{r.choice(('0.1', '0.5', '0.9', '0', '1'))}, {r.choice(('0.1', '0.5', '0.9', '1'))})"
    ),
    "errors": lambda r: r.choice(
        (
            "http_requests_total + on (instance) up",
            "build_info * on (instance) http_requests_total",
            "http_requests_total * on (instance) group_left up",
            'label_replace(up, "1bad", "x", "job", "(.*)")',
            'label_replace(up, "dst", "x", "job", "(")',
            'label_replace(up, "instance", "same", "instance", ".*")',
            "rate(up)",
            "topk(up, up)",
            "sum(up[5m])",
            "http_requests_total and on (instance) group_left up",
            "1 > 2",
            f"quantile_over_time({r.choice(('up', '0.5'))}, up[5m])",
            "scalar(up[1m])",
            '{job=~".*"}',
            'count_values("1bad", up)',
            "max_over_time(up[5m:0s])",
            "sum by (instance) (up) * on (job) up",
        )
    ),
    # feature-flagged in Prometheus, on in its test engine (and in promref)
    "anchored_smoothed": lambda r: (
        f"{r.choice(('rate', 'increase', 'delta'))}({r.choice(COUNTERS + GAUGES)}"
        f"[{r.choice(RANGES)}] {r.choice(('anchored', 'smoothed'))}{r.choice(MODIFIERS)})"
    ),
    "duration_expressions": lambda r: r.choice(
        (
            f"sum_over_time({_sel(r, GAUGES)}[{r.choice(('1m+1m', '10m/2', '2*45s', '5m-30s'))}])",
            f"{_sel(r, COUNTERS)} offset {r.choice(('1m+30s', '2*1m', 'step()', '-step()'))}",
            f"max_over_time({_sel(r, GAUGES)}[step()])",
            f"rate({_sel(r, COUNTERS)}[{r.choice(('step()*4', 'step()+1m', 'range()'))}])",
            f"avg_over_time({_sel(r, GAUGES)}[5m:step()])",
        )
    ),
    "utf8_names": lambda r: r.choice(
        (
            '{"my.dotted.metric"}',
            '{"my.dotted.metric", "service.name"="cart"}',
            f'sum by ("service.name") (rate({{"my.dotted.metric"}}[{r.choice(RANGES)}]))',
            'label_replace({"my.dotted.metric"}, "new.label", "$1", "service.name", "(c.*)")',
            'label_join({"my.dotted.metric"}, "joined", "/", "service.name", "instance")',
            'count_values("service.name", {"my.dotted.metric"} > 0)',
            'weird_labels{v=~"a.b"}',
            'weird_labels{v!~"a.b"}',
            'weird_labels{v=~"a\\nb"}',
            'sum by (v) (weird_labels{v=~".*b"})',
            'label_replace(weird_labels, "w", "$1", "v", "a(.)b")',
        )
    ),
    "label_replace": lambda r: r.choice(
        (
            f'label_replace({_vec(r)}, "dst", "$1-x", "instance", "i(.*)")',
            f'label_replace({_vec(r)}, "instance", "", "instance", ".*")',
            f'label_replace({_vec(r)}, "__name__", "renamed_$1", "__name__", "(.+)")',
            f'label_replace({_vec(r)}, "job", "$2$1", "instance", "(i)([0-9])")',
            f'label_replace({_vec(r)}, "x", "y", "nolabel", "no match")',
        )
    ),
    "label_join": lambda r: r.choice(
        (
            f'label_join({_vec(r)}, "dst", "-", "instance", "job")',
            f'label_join({_vec(r)}, "instance", "", "job")',
            f'label_join({_vec(r)}, "dst", ",", "__name__", "code", "missing")',
        )
    ),
    "clamp": lambda r: r.choice(
        (
            f"clamp({_vec(r)}, {r.choice(('-10', '0', '30'))}, {r.choice(('0', '40', '1e3'))})",
            f"clamp_min({_vec(r)}, {r.choice(('0', '35.5', '-Inf'))})",
            f"clamp_max({_vec(r)}, {r.choice(('0', '35.5', 'NaN'))})",
        )
    ),
    "math": lambda r: f"{r.choice(MATH)}({_vec(r)})" if r.random() < 0.95 else "pi() * 2",
    "round_to": lambda r: f"round({_vec(r)}, {r.choice(('0.5', '10', '0.001', '-2', '3'))})",
    "date": lambda r: r.choice(
        (
            f"{r.choice(DATES)}()",
            f"{r.choice(DATES)}(timestamp({_sel(r, GAUGES)}))",
            f"{r.choice(DATES)}(vector(time() + {r.choice(('0', '3600', '-86400', '2.5e6'))}))",
            f"{r.choice(DATES)}({_sel(r, GAUGES)})",
        )
    ),
    "timestamp": lambda r: r.choice(
        (
            f"timestamp({_sel(r)}{r.choice(MODIFIERS)})",
            f"time() - timestamp({_sel(r, GAUGES)})",
            "time()",
            f"timestamp(rate({_rsel(r, COUNTERS)}))",
        )
    ),
    "sort": lambda r: r.choice(
        (
            f"sort({_vec(r)})",
            f"sort_desc({_vec(r)})",
            f'sort_by_label({_vec(r)}, "instance", "code")',
            f'sort_by_label_desc({_vec(r)}, "instance")',
        )
    ),
    "vector_scalar": lambda r: r.choice(
        (
            f"vector({r.choice(('1', '-2.5', 'NaN', 'time()'))})",
            f"scalar({_vec(r)})",
            'scalar(node_temperature_celsius{sensor="cpu"})',
            f"scalar(sum({_sel(r, COUNTERS)})) * {_vec(r)}",
        )
    ),
    "aggregation": lambda r: f"{r.choice(AGGS)}{r.choice(GROUPINGS)} ({_vec(r)})",
    "topk_bottomk": lambda r: (
        f"{r.choice(('topk', 'bottomk'))}{r.choice(GROUPINGS)} "
        f"({r.choice(('1', '2', '5', '0', '-1', '2.7'))}, {_vec(r)})"
    ),
    "quantile": lambda r: f"quantile{r.choice(GROUPINGS)} ({r.choice(QUANTILES)}, {_vec(r)})",
    "count_values": lambda r: (
        f'count_values{r.choice(GROUPINGS)} ("{r.choice(("value", "instance", "le"))}", '
        f"{r.choice(('up', 'floor(node_temperature_celsius / 10)', 'broken_bucket'))})"
    ),
    "limitk": lambda r: (
        f"{r.choice(('limitk', 'limit_ratio'))}{r.choice(GROUPINGS)} "
        f"({r.choice(('1', '2', '0.5', '-0.5'))}, "
        f"{_sel(r, COUNTERS + GAUGES) if r.random() < 0.6 else _vec(r)})"
    ),
    "arithmetic": lambda r: r.choice(
        (
            f"{_vec(r)} {r.choice(ARITH)} {r.choice(('2', '-1', '0', '0.5'))}",
            f"{r.choice(('10', '-3', '0'))} {r.choice(ARITH)} {_vec(r)}",
            f"{_sel(r, COUNTERS)} {r.choice(ARITH)} {_sel(r, COUNTERS)}",
            f"{_sel(r, COUNTERS)} {r.choice(ARITH)} on (instance, code) {_sel(r, COUNTERS)}"
            f"{r.choice(MODIFIERS)}",
            f"-{_vec(r)}",
            f"{r.choice(('1', '2.5', 'NaN', 'Inf'))} {r.choice(ARITH)} "
            f"{r.choice(('3', '0', '-Inf', '0.5'))}",
        )
    ),
    "comparison": lambda r: r.choice(
        (
            f"{_vec(r)} {r.choice(COMPARE)} {r.choice(('0', '40', 'NaN'))}",
            f"{_vec(r)} {r.choice(COMPARE)} bool {r.choice(('0', '40', '1'))}",
            f"{r.choice(('1', '40'))} {r.choice(COMPARE)} bool {_vec(r)}",
            f"{_sel(r, COUNTERS)} {r.choice(COMPARE)} {_sel(r, COUNTERS)} offset 1m",
            f"up {r.choice(COMPARE)} bool ignoring (job) up offset 2m",
            f"1 {r.choice(COMPARE)} bool 2",
        )
    ),
    "set_ops": lambda r: (
        f"{_sel(r, ANY)} {r.choice(('and', 'or', 'unless'))}"
        f"{r.choice(('', ' on (instance)', ' ignoring (code)', ' on ()'))} {_vec(r)}"
    ),
    "vector_matching": lambda r: r.choice(
        (
            "http_requests_total * on (instance) group_left (version) build_info",
            "http_requests_total / ignoring (code) group_left sum without (code) "
            "(http_requests_total)",
            "build_info * on (instance) group_right (version) up",
            "sum by (instance) (rate(http_requests_total[5m])) / on (instance) "
            'group_left () up{job="api"}',
            f"{_sel(r, COUNTERS)} + on (instance) {_sel(r, GAUGES)}",
            "http_requests_total + ignoring (code) http_requests_total",
            f"up * on (instance) group_left (sensor) node_temperature_celsius{r.choice(MODIFIERS)}",
            "request_duration_seconds_sum / request_duration_seconds_count",
            "rate(request_duration_seconds_sum[5m]) / ignoring (le) "
            "rate(request_duration_seconds_count[5m])",
        )
    ),
    "at_modifier": lambda r: (
        f"{r.choice(('rate', 'max_over_time', 'count_over_time'))}"
        f"({r.choice(COUNTERS)}[{r.choice(RANGES)}] "
        f"@ {r.choice(('start()', 'end()', str((T0_MS + 1_800_000) / 1000), '1709250000.5'))}"
        f"{r.choice(('', ' offset 2m', ' offset -1m'))})"
    ),
    "subquery": lambda r: r.choice(
        (
            f"max_over_time(rate({_rsel(r, COUNTERS)})[{r.choice(('5m', '10m'))}:"
            f"{r.choice(('', '1m', '30s', '45s'))}])",
            f"avg_over_time({_sel(r, GAUGES)}[{r.choice(RANGES)}:{r.choice(('', '15s', '20s'))}])",
            f"rate({_sel(r, COUNTERS)}[5m:])",
            f"min_over_time(sum by (instance) ({_sel(r, COUNTERS)})[10m:1m]{r.choice(MODIFIERS)})",
            f"sum_over_time(({_sel(r, GAUGES)} > 40)[5m:30s] @ end())",
            f"{_sel(r, GAUGES)}[5m:1m]",
        )
    ),
    "nested": lambda r: r.choice(
        (
            "sum by (job) (rate(http_requests_total[5m])) / "
            "on (job) sum by (job) (rate(http_requests_total[10m]))",
            f"topk(2, sum by (instance) (increase({_rsel(r, COUNTERS)})))",
            f"count(count by (instance) ({_sel(r, ANY)}))",
            f"max by (instance) (deriv({_rsel(r, GAUGES)})) > bool 0",
            f"avg(quantile_over_time(0.5, {_rsel(r, GAUGES)}))",
            "1 - avg without (code) (rate(http_requests_total[5m]) / "
            "ignoring (code) group_left sum without (code) (rate(http_requests_total[5m])))",
        )
    ),
    "literals": lambda r: r.choice(
        (
            f"{r.choice(('1', '0x1f', '1e3', '-Inf', 'NaN', '.5'))}",
            '"a string"',
            "(1 + 2) * 3 ^ 2 ^ 0.5",
            "-(-2)",
            f"{r.choice(('1', '5'))} {r.choice(COMPARE)} {r.choice(('1', '5'))}",
        )
    ),
}


# Fixed expressions at known edges (NaN and ±Inf in order statistics, values beyond int64
# seconds or between -1 and 0 in date functions, windows with one sample), all run for every seed.
EDGES = (
    'quantile_over_time(1, node_temperature_celsius{sensor="disk"}[10m])',
    'quantile_over_time(0, node_temperature_celsius{sensor="disk"}[10m])',
    'quantile_over_time(0, node_temperature_celsius{sensor="disk"}[30s])',
    'quantile_over_time(0.5, node_temperature_celsius{sensor="disk"}[45s])',
    "quantile(1, node_temperature_celsius)",
    "quantile(0, node_temperature_celsius)",
    "quantile(0.5, extreme_metric)",
    "max_over_time(node_temperature_celsius[10m])",
    "min(node_temperature_celsius)",
    "hour(extreme_metric)",
    "day_of_week(extreme_metric)",
    "month(-node_temperature_celsius)",
    "hour(node_temperature_celsius / -100)",
    "minute(node_temperature_celsius / 100)",
    "irate(single_sample[10m])",
    "idelta(single_sample[10m])",
    "sort_desc(node_temperature_celsius)",
    "topk(1, node_temperature_celsius)",
    "bottomk(1, node_temperature_celsius)",
    "rate(extreme_metric[5m])",
    "sum(extreme_metric)",
    "avg(extreme_metric)",
    "stddev(extreme_metric)",
    "avg_over_time(extreme_metric[2m])",
    "stdvar_over_time(extreme_metric[2m])",
    "deriv(extreme_metric[2m])",
)


# Fixed evaluations for edges that random times rarely hit: ``or`` across the 7-minute gap of
# http_requests_total{instance="i2",code="500"} (name removal delayed past the merge of the
# range result), order statistics over sums that overflow.
FIXED_RANGES = (
    'http_requests_total{code="500"} or rate(http_requests_total{code="500"}[5m] offset 5m)',
    'rate(http_requests_total{code="500"}[5m]) or http_requests_total{code="500"}',
    "quantile by (instance) (0.5, increase(extreme_metric[1m]))",
    "quantile(0.25, extreme_metric)",
    "mad_over_time(extreme_metric[1m15s])",
)


@dataclass(frozen=True, slots=True)
class Case:
    """One query evaluation: instant at ``time_ms``, or range over ``start_ms..end_ms``."""

    family: str
    expr: str
    time_ms: int | None = None
    start_ms: int = 0
    end_ms: int = 0
    step_ms: int = 0

    @property
    def id(self) -> str:
        if self.time_ms is not None:
            return f"{self.family}:{self.expr}@{self.time_ms}"
        return f"{self.family}:{self.expr}@{self.start_ms}..{self.end_ms}/{self.step_ms}"


def _instant_time(r: random.Random, sample_times_ms: Sequence[int]) -> int:
    k = r.randrange(0, SPAN_STEPS + 1)
    return r.choice(
        (
            # exactly on a (jittered) sample, or where a window or the lookback starts on it
            r.choice(sample_times_ms) + r.choice((0, 0, 60_000, 300_000, 600_000, 1, -1)),
            T0_MS + k * SCRAPE_MS,  # exactly on the grid of the unjittered series
            T0_MS + k * SCRAPE_MS + r.randrange(1, SCRAPE_MS),  # between scrapes
            T0_MS + 300_000 + k * SCRAPE_MS,  # a lookback boundary
            T0_MS - r.choice((1, 60_000)),  # before the data
            END_MS + r.choice((0, 170_000, 400_000)),  # after the last scrape
            T0_MS + 1_800_000,
        )
    )


SPAN_STEPS = (END_MS - T0_MS) // SCRAPE_MS


def _range(r: random.Random) -> tuple[int, int, int]:
    step = r.choice((15_000, 30_000, 60_000, 10_000, 47_000, 300_000))
    start = T0_MS + r.randrange(-8, SPAN_STEPS) * SCRAPE_MS
    if r.random() < 0.4:
        start += r.randrange(1, SCRAPE_MS)
    elif r.random() < 0.3:  # on the first sample, a lookback before it, or a late series' first
        start = r.choice((T0_MS, T0_MS - 300_000, T0_MS + 1_200_000, T0_MS - 1))
    n = r.randrange(1, 40)
    return start, start + n * step + (r.randrange(0, step) if r.random() < 0.3 else 0), step


def _draw(r: random.Random, make: Family, n: int, seen: set[str]) -> list[str]:
    """Up to ``n`` expressions from ``make`` not drawn before (for any family)."""
    exprs: list[str] = []
    for _ in range(n * 4):
        expr = make(r)
        if expr not in seen:
            seen.add(expr)
            exprs.append(expr)
        if len(exprs) == n:
            break
    return exprs


def cases(seed: int, per_family: int, sample_times_ms: Sequence[int]) -> list[Case]:
    """``per_family`` expressions per family, each as two instant queries and one range query;
    ``sample_times_ms`` are the data's timestamps, for evaluation times exactly on samples."""
    out: list[Case] = []
    seen: set[str] = set()
    families: list[tuple[str, Family | None]] = [*FAMILIES.items(), ("edges", None)]
    for family, make in families:
        r = random.Random(f"{seed}:{family}")  # a family's cases stay put when others change
        n = per_family * DRAW_FACTOR.get(family, 1)
        exprs = list(EDGES) if make is None else _draw(r, make, n, seen)
        for expr in exprs:
            out.extend(
                Case(family, expr, time_ms=_instant_time(r, sample_times_ms)) for _ in range(2)
            )
            start, end, step = _range(r)
            out.append(Case(family, expr, start_ms=start, end_ms=end, step_ms=step))
    out.extend(
        Case("fixed", expr, start_ms=T0_MS + 1_500_000, end_ms=T0_MS + 2_700_000, step_ms=47_000)
        for expr in FIXED_RANGES
    )
    return list({case.id: case for case in out}.values())  # the same time drawn twice runs once
