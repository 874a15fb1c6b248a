# ruff: noqa: E501
"""Generated cases that fail today because of engine bugs: test id -> reason.

Each is marked ``xfail(strict=True)``, so a fix makes its case pass and the suite fail until the
entry is removed here. Ids are ``s<data seed>:<family>:<expr>@<time or start..end/step>``.
"""

from __future__ import annotations

ANCHORED_MODIFIER = (
    "anchored/smoothed followed by offset or @ (rate(x[5m] anchored offset 1m), ... "
    "smoothed @ start()) is a parse error in obskit; Prometheus accepts it"
)
DATE = (
    "date functions take Go's int64(v) as the Unix time: truncation toward zero "
    "(hour(-0.23) and minute(-0.23) are 0, not 23 and 59), and values beyond int64 "
    "(±1.7e308, NaN) become MinInt64 (hour 15, year 292277026596)"
)
OR_NAME = (
    "range query `a or f(b)` with delayed name removal: Prometheus merges each step's "
    "samples into result series by their labels before dropping __name__, so f(b)'s points "
    "at steps where a is absent join a's named series; obskit returns them as a separate "
    "name-less series"
)

KNOWN_FAILURES: dict[str, str] = {
    "s1:anchored_smoothed:delta(request_duration_seconds_count[90s] smoothed offset -2m)@1709247599999": ANCHORED_MODIFIER,
    "s1:anchored_smoothed:delta(request_duration_seconds_count[90s] smoothed offset -2m)@1709249400000": ANCHORED_MODIFIER,
    "s1:anchored_smoothed:delta(request_duration_seconds_count[90s] smoothed offset -2m)@1709251830000..1709253334000/47000": ANCHORED_MODIFIER,
    "s1:anchored_smoothed:increase(const_metric[30s] smoothed offset 5m)@1709247599999..1709248319999/60000": ANCHORED_MODIFIER,
    "s1:anchored_smoothed:increase(const_metric[30s] smoothed offset 5m)@1709248650000": ANCHORED_MODIFIER,
    "s1:anchored_smoothed:increase(const_metric[30s] smoothed offset 5m)@1709250330000": ANCHORED_MODIFIER,
    "s1:anchored_smoothed:increase(extreme_metric[1m15s] anchored @ start())@1709248725000..1709249712000/47000": ANCHORED_MODIFIER,
    "s1:anchored_smoothed:increase(extreme_metric[1m15s] anchored @ start())@1709249625000": ANCHORED_MODIFIER,
    "s1:anchored_smoothed:increase(extreme_metric[1m15s] anchored @ start())@1709251395000": ANCHORED_MODIFIER,
    "s1:anchored_smoothed:rate(nan_counter_total[37s] smoothed offset -2m)@1709248395000": ANCHORED_MODIFIER,
    "s1:anchored_smoothed:rate(nan_counter_total[37s] smoothed offset -2m)@1709249535000": ANCHORED_MODIFIER,
    "s1:anchored_smoothed:rate(nan_counter_total[37s] smoothed offset -2m)@1709252100000..1709252220000/60000": ANCHORED_MODIFIER,
    "s1:edges:hour(extreme_metric)@1709248153348..1709249173348/60000": DATE,
    "s1:edges:hour(node_temperature_celsius / -100)@1709249400000": DATE,
    "s1:edges:hour(node_temperature_celsius / -100)@1709250450000..1709250900000/15000": DATE,
    "s1:edges:minute(node_temperature_celsius / 100)@1709249405154..1709249810154/15000": DATE,
    's1:fixed:http_requests_total{code="500"} or rate(http_requests_total{code="500"}[5m] offset 5m)@1709249100000..1709250300000/47000': OR_NAME,
    's2:anchored_smoothed:delta(http_requests_total{job="api",code!="200"}[1m] anchored offset 5m)@1709249895000..1709250630070/60000': ANCHORED_MODIFIER,
    's2:anchored_smoothed:delta(http_requests_total{job="api",code!="200"}[1m] anchored offset 5m)@1709250270000': ANCHORED_MODIFIER,
    's2:anchored_smoothed:delta(http_requests_total{job="api",code!="200"}[1m] anchored offset 5m)@1709252083870': ANCHORED_MODIFIER,
    's2:anchored_smoothed:delta(http_requests_total{job="api",code!="200"}[1m] smoothed @ start())@1709250195000': ANCHORED_MODIFIER,
    's2:anchored_smoothed:delta(http_requests_total{job="api",code!="200"}[1m] smoothed @ start())@1709252193189..1709257068052/300000': ANCHORED_MODIFIER,
    's2:anchored_smoothed:delta(http_requests_total{job="api",code!="200"}[1m] smoothed @ start())@1709252294558': ANCHORED_MODIFIER,
    's2:anchored_smoothed:increase(node_temperature_celsius{sensor=~"cpu|gpu"}[10m] smoothed @ end())@1709248560000': ANCHORED_MODIFIER,
    's2:anchored_smoothed:increase(node_temperature_celsius{sensor=~"cpu|gpu"}[10m] smoothed @ end())@1709250060000': ANCHORED_MODIFIER,
    's2:anchored_smoothed:increase(node_temperature_celsius{sensor=~"cpu|gpu"}[10m] smoothed @ end())@1709250641476..1709251816476/47000': ANCHORED_MODIFIER,
    "s2:anchored_smoothed:increase(up[1m15s] anchored @ start())@1709247599999": ANCHORED_MODIFIER,
    "s2:anchored_smoothed:increase(up[1m15s] anchored @ start())@1709249159438..1709249444438/15000": ANCHORED_MODIFIER,
    "s2:anchored_smoothed:increase(up[1m15s] anchored @ start())@1709253400000": ANCHORED_MODIFIER,
    "s2:edges:day_of_week(extreme_metric)@1709250989833": DATE,
    "s2:edges:day_of_week(extreme_metric)@1709252415000..1709252805000/10000": DATE,
    "s2:edges:hour(extreme_metric)@1709250645000": DATE,
    "s2:edges:hour(extreme_metric)@1709251020000..1709253120000/300000": DATE,
    "s2:edges:hour(extreme_metric)@1709251365074": DATE,
    "s2:edges:hour(node_temperature_celsius / -100)@1709248785000": DATE,
    "s2:edges:hour(node_temperature_celsius / -100)@1709249130000": DATE,
    "s2:edges:hour(node_temperature_celsius / -100)@1709252562996..1709253027996/15000": DATE,
    's2:fixed:http_requests_total{code="500"} or rate(http_requests_total{code="500"}[5m] offset 5m)@1709249100000..1709250300000/47000': OR_NAME,
    "s3:anchored_smoothed:delta(nan_counter_total[2m] anchored offset 5m)@1709249400000": ANCHORED_MODIFIER,
    "s3:anchored_smoothed:delta(nan_counter_total[2m] anchored offset 5m)@1709250890060..1709251180060/10000": ANCHORED_MODIFIER,
    "s3:anchored_smoothed:delta(nan_counter_total[2m] anchored offset 5m)@1709253000000": ANCHORED_MODIFIER,
    "s3:anchored_smoothed:increase(extreme_metric[90s] smoothed offset 1m)@1709248905000..1709249125000/10000": ANCHORED_MODIFIER,
    "s3:anchored_smoothed:increase(extreme_metric[90s] smoothed offset 1m)@1709249400000": ANCHORED_MODIFIER,
    's3:anchored_smoothed:increase(http_requests_total{code="500"}[37s] anchored offset -2m)@1709248469558': ANCHORED_MODIFIER,
    's3:anchored_smoothed:increase(http_requests_total{code="500"}[37s] anchored offset -2m)@1709250313982': ANCHORED_MODIFIER,
    's3:anchored_smoothed:increase(http_requests_total{code="500"}[37s] anchored offset -2m)@1709250777645..1709250847645/10000': ANCHORED_MODIFIER,
    "s3:anchored_smoothed:increase(up[10m] smoothed offset -2m)@1709248934871": ANCHORED_MODIFIER,
    "s3:anchored_smoothed:increase(up[10m] smoothed offset -2m)@1709249820000..1709260020000/300000": ANCHORED_MODIFIER,
    "s3:anchored_smoothed:increase(up[10m] smoothed offset -2m)@1709253170000": ANCHORED_MODIFIER,
    "s3:anchored_smoothed:rate(up[10m] smoothed @ start())@1709251147559..1709256087605/300000": ANCHORED_MODIFIER,
    "s3:anchored_smoothed:rate(up[10m] smoothed @ start())@1709252145000": ANCHORED_MODIFIER,
    "s3:anchored_smoothed:rate(up[10m] smoothed @ start())@1709252167041": ANCHORED_MODIFIER,
    "s3:edges:day_of_week(extreme_metric)@1709248459241": DATE,
    "s3:edges:day_of_week(extreme_metric)@1709251305000..1709252085000/30000": DATE,
    "s3:edges:hour(extreme_metric)@1709247820083..1709248050083/10000": DATE,
    "s3:edges:hour(extreme_metric)@1709252175000": DATE,
    "s3:edges:hour(extreme_metric)@1709253170000": DATE,
    "s3:edges:hour(node_temperature_celsius / -100)@1709248785000..1709248918850/47000": DATE,
    "s3:edges:hour(node_temperature_celsius / -100)@1709249400000": DATE,
    "s3:edges:hour(node_temperature_celsius / -100)@1709250165266": DATE,
    "s3:edges:minute(node_temperature_celsius / 100)@1709248290000..1709248754728/300000": DATE,
    "s3:edges:month(-node_temperature_celsius)@1709252919122..1709253189122/15000": DATE,
    's3:fixed:http_requests_total{code="500"} or rate(http_requests_total{code="500"}[5m] offset 5m)@1709249100000..1709250300000/47000': OR_NAME,
}
