# ruff: noqa: E501
"""Generated cases that fail today because of engine bugs: test id -> reason.

Each is marked ``xfail(strict=True)``, so a fix makes its case pass and the suite fail until the
entry is removed here. Ids are ``s<data seed>:<family>:<expr>@<time or start..end/step>``.
"""

from __future__ import annotations

DATE = (
    "date functions convert the value as Go's int64(v): truncation toward zero (-0.5 -> 0), "
    "and NaN, ±Inf and values beyond int64 -> MinInt64 (year 292277026596)"
)
DES = (
    "double_exponential_smoothing must fail on a smoothing or trend factor outside (0, 1) "
    "as soon as one series has a sample in a window (Prometheus checks before the "
    "two-sample minimum)"
)
INF_ARITH = (
    "rate over values near ±1.7e308: Prometheus' arithmetic overflows to -Inf where obskit gets NaN"
)
INSTANT_RATE = (
    "irate/idelta raise IndexError (windows._instant_rate) when the selected series hold a "
    "single sample between them; Prometheus returns no result"
)
LIMIT_RATIO = (
    "limit_ratio: Prometheus' sampling offset is xxhash64 of the label set in its "
    "stringlabels encoding (1-byte length before each name and value, __name__ included) / "
    "MaxUint64"
)
NAN_ORDER = (
    "quantile, quantile_over_time: Prometheus sorts NaN first and returns the sample itself "
    "when the rank falls on one (weight 0); obskit gets NaN there (±Inf times 0 in the "
    "interpolation, or NaN sorted last)"
)

KNOWN_FAILURES: dict[str, str] = {
    "s1:double_exponential_smoothing:double_exponential_smoothing(sparse_metric[5m], 1, 1)@1709249400000": DES,
    "s1:edges:month(extreme_metric)@1709247660000": DATE,
    "s1:edges:month(extreme_metric)@1709248650000": DATE,
    "s1:edges:month(extreme_metric)@1709251486884..1709252943884/47000": DATE,
    "s1:edges:rate(extreme_metric[5m])@1709248710000..1709258010000/300000": INF_ARITH,
    "s1:idelta:idelta(sparse_metric[30s] @ start())@1709249310000": INSTANT_RATE,
    "s1:idelta:idelta(sparse_metric[37s] offset -2m)@1709250975000": INSTANT_RATE,
    's1:irate:irate(http_requests_total{job="api",code!="200"}[90s])@1709247599999': INSTANT_RATE,
    's1:limitk:limit_ratio by () (-0.5, http_requests_total{code="500"})@1709247599999..1709248079999/30000': LIMIT_RATIO,
    's1:limitk:limit_ratio by () (-0.5, http_requests_total{code="500"})@1709249700000': LIMIT_RATIO,
    "s1:limitk:limit_ratio without (code) (-0.5, up)@1709247885000": LIMIT_RATIO,
    "s1:limitk:limit_ratio without (code) (-0.5, up)@1709250330000..1709258414362/300000": LIMIT_RATIO,
    "s1:rate:rate(extreme_metric[1m] offset 5m)@1709250165000..1709251951000/47000": INF_ARITH,
    "s1:rate:rate(extreme_metric[2m])@1709250452068..1709251489571/30000": INF_ARITH,
    "s1:rate:rate(extreme_metric[2m])@1709251290000": INF_ARITH,
    "s2:edges:irate(single_sample[10m])@1709248185000..1709248605000/60000": INSTANT_RATE,
    "s2:edges:rate(extreme_metric[5m])@1709249685000..1709250023010/15000": INF_ARITH,
    "s2:irate:irate(sparse_metric[2m] offset -2m)@1709251590000": INSTANT_RATE,
    "s2:limitk:limit_ratio by (job) (-0.5, up)@1709250030000..1709250720000/30000": LIMIT_RATIO,
    "s2:limitk:limit_ratio by (job) (-0.5, up)@1709253165000": LIMIT_RATIO,
    "s2:rate:rate(extreme_metric[10m] @ start())@1709250570000..1709251770000/60000": INF_ARITH,
    "s3:double_exponential_smoothing:double_exponential_smoothing(sparse_metric[90s] offset -2m, 1, 0.9)@1709249910000..1709250325150/15000": DES,
    "s3:edges:irate(single_sample[10m])@1709248488367": INSTANT_RATE,
    's3:edges:quantile_over_time(1, node_temperature_celsius{sensor="disk"}[10m])@1709250435000': NAN_ORDER,
    "s3:edges:rate(extreme_metric[5m])@1709248442286..1709249492286/30000": INF_ARITH,
    "s3:idelta:idelta(sparse_metric[90s] offset 1m)@1709249361972": INSTANT_RATE,
    's3:limitk:limit_ratio by (instance) (0.5, http_requests_total{instance=~"i[01]"})@1709249456604..1709250596604/60000': LIMIT_RATIO,
    's3:limitk:limit_ratio by (instance) (0.5, http_requests_total{instance=~"i[01]"})@1709251185450': LIMIT_RATIO,
    's3:limitk:limit_ratio by (instance) (0.5, http_requests_total{instance=~"i[01]"})@1709253030000': LIMIT_RATIO,
    "s3:limitk:limit_ratio without (code) (-0.5, extreme_metric offset 1m)@1709249060316..1709259054121/300000": LIMIT_RATIO,
    "s3:limitk:limit_ratio without (code) (-0.5, extreme_metric offset 1m)@1709251505555": LIMIT_RATIO,
    's3:limitk:limit_ratio without (code) (0.5, rate(http_requests_total{job="api",code!="200"}[5m] offset 5m))@1709250615000': LIMIT_RATIO,
    's3:limitk:limit_ratio without (code) (0.5, rate(http_requests_total{job="api",code!="200"}[5m] offset 5m))@1709250630000..1709250990000/15000': LIMIT_RATIO,
    's3:limitk:limit_ratio without (code) (0.5, rate(http_requests_total{job="api",code!="200"}[5m] offset 5m))@1709251065114': LIMIT_RATIO,
    's3:quantile:quantile by (job) (0.9, node_temperature_celsius{sensor="disk"})@1709247724610..1709253424610/300000': NAN_ORDER,
}
