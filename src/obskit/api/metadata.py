"""Prometheus' look-up endpoints, answered from the store's index without reading samples:
``/api/v1/series``, ``/api/v1/labels``, ``/api/v1/label/<name>/values`` (``U__``-escaped names
as Grafana sends them) and ``/api/v1/metadata`` (always ``{}``: obskit keeps no metric metadata,
and Grafana reads element 0 of any list it gets, so an empty map is the only safe answer).

``start``/``end`` default to all time and ``match[]`` may repeat (the answer is the union of
what each selector finds), as in Prometheus; ``limit`` truncates with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from obskit.api.promhttp import prom_endpoint, query_services, read_form, respond
from obskit.api.promjson import success_body
from obskit.api.promparams import (
    MAX_TIME_MS,
    MIN_TIME_MS,
    BadParameter,
    Form,
    parse_limit,
    parse_matchers,
    time_param,
    unescape_label_name,
)
from obskit.model.labels import Labels
from obskit.model.matchers import Matcher

__all__ = ["router"]

router = APIRouter()

_TRUNCATED = "results truncated due to limit"


def _time_range(form: Form) -> tuple[int | None, int | None]:
    """``start``/``end`` in ms; None for Prometheus' all-time defaults (the store's own)."""
    start_ms = time_param(form, "start", MIN_TIME_MS)
    end_ms = time_param(form, "end", MAX_TIME_MS)
    return (
        None if start_ms == MIN_TIME_MS else start_ms,
        None if end_ms == MAX_TIME_MS else end_ms,
    )


def _union(
    sets: list[list[Matcher]], look_up: Callable[[list[Matcher]], Iterable[str]]
) -> list[str]:
    """Sorted union of ``look_up`` over the selector sets (no selector: one unrestricted call)."""
    if not sets:
        return sorted(look_up([]))
    out: set[str] = set()
    for matchers in sets:
        out.update(look_up(matchers))
    return sorted(out)


def _truncate(items: list[str], limit: int) -> tuple[list[str], list[str]]:
    if limit and len(items) > limit:
        return items[:limit], [_TRUNCATED]
    return items, []


async def _series(request: Request) -> Response:
    svc = query_services(request)
    form = await read_form(request)
    selectors = form.getlist("match[]")
    if not selectors:
        raise BadParameter("no match[] parameter provided")
    limit = parse_limit(form)
    mint_ms, maxt_ms = _time_range(form)
    sets = parse_matchers(selectors)

    def body() -> bytes:
        found: set[Labels] = set()
        for matchers in sets:
            found.update(svc.querier.series(matchers, mint_ms, maxt_ms))
        series = sorted(found)
        warnings = []
        if limit and len(series) > limit:
            series, warnings = series[:limit], [_TRUNCATED]
        return success_body(orjson.dumps([dict(labels) for labels in series]), warnings)

    return await respond(request, svc, body)


async def _label_names(request: Request) -> Response:
    svc = query_services(request)
    form = await read_form(request)
    limit = parse_limit(form)
    mint_ms, maxt_ms = _time_range(form)
    sets = parse_matchers(form.getlist("match[]"))

    def body() -> bytes:
        names = _union(sets, lambda m: svc.querier.label_names(m, mint_ms, maxt_ms))
        names, warnings = _truncate(names, limit)
        return success_body(orjson.dumps(names), warnings)

    return await respond(request, svc, body)


async def _label_values(request: Request) -> Response:
    svc = query_services(request)
    name = unescape_label_name(request.path_params["name"])
    if name == "":
        raise BadParameter('invalid label name: ""')
    form = await read_form(request)
    limit = parse_limit(form)
    mint_ms, maxt_ms = _time_range(form)
    sets = parse_matchers(form.getlist("match[]"))

    def body() -> bytes:
        values = _union(sets, lambda m: svc.querier.label_values(name, m, mint_ms, maxt_ms))
        values, warnings = _truncate(values, limit)
        return success_body(orjson.dumps(values), warnings)

    return await respond(request, svc, body)


async def _metadata(request: Request) -> Response:
    svc = query_services(request)
    form = await read_form(request)
    parse_limit(form)
    return await respond(request, svc, lambda: success_body(b"{}"))


for _path, _handler, _methods in [
    ("/api/v1/series", _series, ["GET", "POST"]),
    ("/api/v1/labels", _label_names, ["GET", "POST"]),
    ("/api/v1/label/{name}/values", _label_values, ["GET"]),
    ("/api/v1/metadata", _metadata, ["GET"]),
]:
    router.add_api_route(_path, prom_endpoint(_handler), methods=_methods)
