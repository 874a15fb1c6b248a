"""Relabeling against Prometheus' documented behaviour; the table follows the cases of
Prometheus' model/relabel tests (inputs, rules, expected outputs), plus template edge cases."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from obskit.errors import ConfigError
from obskit.ingest.scrape import RelabelConfig, Relabeler
from obskit.ingest.scrape.relabel import compile_regex, expand_template

ABC = {"a": "foo", "b": "bar", "c": "baz"}
PORTS = {"__tmp_port": "1234", "__port1": "1234", "__port2": "5678"}

CASES: list[tuple[str, dict[str, str], list[dict[str, Any]], dict[str, str] | None]] = [
    (
        "replace with ${1}",
        ABC,
        [
            {
                "source_labels": ["a"],
                "regex": "f(.*)",
                "target_label": "d",
                "replacement": "ch${1}-ch${1}",
            }
        ],
        {**ABC, "d": "choo-choo"},
    ),
    (
        "replace chained, $1$2 and separator",
        ABC,
        [
            {
                "source_labels": ["a", "b"],
                "regex": "f(.*);(.*)r",
                "target_label": "a",
                "replacement": "b${1}${2}m",
            },
            {
                "source_labels": ["c", "a"],
                "regex": "(b).*b(.*)ba(.*)",
                "target_label": "d",
                "replacement": "$1$2$2$3",
            },
        ],
        {"a": "boobam", "b": "bar", "c": "baz", "d": "boooom"},
    ),
    (
        "drop before replace",
        {"a": "foo"},
        [
            {"source_labels": ["a"], "regex": ".*o.*", "action": "drop"},
            {
                "source_labels": ["a"],
                "regex": "f(.*)",
                "target_label": "d",
                "replacement": "ch$1-ch$1",
            },
        ],
        None,
    ),
    (
        "drop",
        {"a": "foo", "b": "bar"},
        [{"source_labels": ["a"], "regex": ".*o.*", "action": "drop"}],
        None,
    ),
    (
        "replace with inner group",
        {"a": "abc"},
        [{"source_labels": ["a"], "regex": ".*(b).*", "target_label": "d", "replacement": "$1"}],
        {"a": "abc", "d": "b"},
    ),
    (
        "drop no match",
        {"a": "foo"},
        [{"source_labels": ["a"], "regex": "no-match", "action": "drop"}],
        {"a": "foo"},
    ),
    (
        "drop is anchored",
        {"a": "foo"},
        [{"source_labels": ["a"], "regex": "f|o", "action": "drop"}],
        {"a": "foo"},
    ),
    (
        "keep no match",
        {"a": "foo"},
        [{"source_labels": ["a"], "regex": "no-match", "action": "keep"}],
        None,
    ),
    (
        "keep match",
        {"a": "foo"},
        [{"source_labels": ["a"], "regex": "f.*", "action": "keep"}],
        {"a": "foo"},
    ),
    (
        "no replacement without a match",
        {"a": "boo"},
        [{"source_labels": ["a"], "regex": "f", "target_label": "b", "replacement": "bar"}],
        {"a": "boo"},
    ),
    (
        "hashmod",
        ABC,
        [{"source_labels": ["c"], "target_label": "d", "action": "hashmod", "modulus": 1000}],
        {**ABC, "d": "976"},
    ),
    (
        "hashmod of a value with a newline",
        {"a": "foo\nbar"},
        [{"source_labels": ["a"], "target_label": "b", "action": "hashmod", "modulus": 1000}],
        {"a": "foo\nbar", "b": "734"},
    ),
    (
        "labelmap",
        {"a": "foo", "b1": "bar", "b2": "baz"},
        [{"regex": "(b.*)", "replacement": "bar_${1}", "action": "labelmap"}],
        {"a": "foo", "b1": "bar", "b2": "baz", "bar_b1": "bar", "bar_b2": "baz"},
    ),
    (
        "labelmap of meta labels",
        {"a": "foo", "__meta_my_bar": "aaa", "__meta_my_baz": "bbb", "__meta_other": "ccc"},
        [{"regex": "__meta_(my.*)", "replacement": "${1}", "action": "labelmap"}],
        {
            "a": "foo",
            "__meta_my_bar": "aaa",
            "__meta_my_baz": "bbb",
            "__meta_other": "ccc",
            "my_bar": "aaa",
            "my_baz": "bbb",
        },
    ),
    (
        "templated target label",
        {"a": "some-name-value"},
        [
            {
                "source_labels": ["a"],
                "regex": "some-([^-]+)-([^,]+)",
                "replacement": "${2}",
                "target_label": "${1}",
            }
        ],
        {"a": "some-name-value", "name": "value"},
    ),
    (
        "empty replacement deletes (nothing to delete)",
        {"a": "some-name-value"},
        [
            {
                "source_labels": ["a"],
                "regex": "some-([^-]+)-([^,]+)",
                "replacement": "${3}",
                "target_label": "${1}",
            }
        ],
        {"a": "some-name-value"},
    ),
    (
        "target label expanding to empty is skipped",
        {"a": "some-name-0"},
        [
            {
                "source_labels": ["a"],
                "regex": "some-([^-]+)-([^,]+)",
                "replacement": "${1}",
                "target_label": "${3}",
            }
        ],
        {"a": "some-name-0"},
    ),
    (
        "real-life tags",
        {"__meta_sd_tags": "path:/secret,job:some-job,label:foo=bar"},
        [
            {
                "source_labels": ["__meta_sd_tags"],
                "regex": "(?:.+,|^)path:(/[^,]+).*",
                "replacement": "${1}",
                "target_label": "__metrics_path__",
            },
            {
                "source_labels": ["__meta_sd_tags"],
                "regex": "(?:.+,|^)job:([^,]+).*",
                "replacement": "${1}",
                "target_label": "job",
            },
            {
                "source_labels": ["__meta_sd_tags"],
                "regex": "(?:.+,|^)label:([^=]+)=([^,]+).*",
                "replacement": "${2}",
                "target_label": "${1}",
            },
        ],
        {
            "__meta_sd_tags": "path:/secret,job:some-job,label:foo=bar",
            "__metrics_path__": "/secret",
            "job": "some-job",
            "foo": "bar",
        },
    ),
    (
        "labeldrop then replace then keep (prometheus#12283)",
        {
            "__meta_kubernetes_pod_container_port_name": "foo",
            "__meta_kubernetes_pod_annotation_XXX_metrics_port": "9091",
        },
        [
            {"regex": "^__meta_kubernetes_pod_container_port_name$", "action": "labeldrop"},
            {
                "source_labels": ["__meta_kubernetes_pod_annotation_XXX_metrics_port"],
                "regex": "(.+)",
                "replacement": "metrics",
                "target_label": "__meta_kubernetes_pod_container_port_name",
            },
            {
                "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                "regex": "^metrics$",
                "action": "keep",
            },
        ],
        {
            "__meta_kubernetes_pod_annotation_XXX_metrics_port": "9091",
            "__meta_kubernetes_pod_container_port_name": "metrics",
        },
    ),
    (
        "labelkeep",
        {"a": "foo", "b1": "bar", "b2": "baz"},
        [{"regex": "(b.*)", "action": "labelkeep"}],
        {"b1": "bar", "b2": "baz"},
    ),
    (
        "labeldrop",
        {"a": "foo", "b1": "bar", "b2": "baz"},
        [{"regex": "(b.*)", "action": "labeldrop"}],
        {"a": "foo"},
    ),
    (
        "uppercase and lowercase",
        {"foo": "bAr123Foo"},
        [
            {"source_labels": ["foo"], "action": "uppercase", "target_label": "foo_uppercase"},
            {"source_labels": ["foo"], "action": "lowercase", "target_label": "foo_lowercase"},
        ],
        {"foo": "bAr123Foo", "foo_lowercase": "bar123foo", "foo_uppercase": "BAR123FOO"},
    ),
    (
        "keepequal keeps",
        PORTS,
        [{"source_labels": ["__tmp_port"], "action": "keepequal", "target_label": "__port1"}],
        PORTS,
    ),
    (
        "dropequal drops",
        PORTS,
        [{"source_labels": ["__tmp_port"], "action": "dropequal", "target_label": "__port1"}],
        None,
    ),
    (
        "dropequal keeps",
        PORTS,
        [{"source_labels": ["__tmp_port"], "action": "dropequal", "target_label": "__port2"}],
        PORTS,
    ),
    (
        "keepequal drops",
        PORTS,
        [{"source_labels": ["__tmp_port"], "action": "keepequal", "target_label": "__port2"}],
        None,
    ),
    (
        "unmatched optional group expands to empty",
        {"a": "foo"},
        [
            {
                "source_labels": ["a"],
                "regex": "f(x)?(.*)",
                "target_label": "d",
                "replacement": "[$1][$2]",
            }
        ],
        {"a": "foo", "d": "[][oo]"},
    ),
    (
        "default replace copies a label; missing sources join as empty",
        {"a": "foo"},
        [{"source_labels": ["a", "missing"], "target_label": "d"}],
        {"a": "foo", "d": "foo;"},
    ),
    (
        "replace of an empty match deletes the target",
        {"a": "foo", "d": "x"},
        [{"source_labels": ["missing"], "target_label": "d"}],
        {"a": "foo"},
    ),
    (
        "dot matches newline (prometheus 3)",
        {"a": "foo\nbar"},
        [{"source_labels": ["a"], "regex": "foo.bar", "action": "drop"}],
        None,
    ),
    (
        "named group",
        {"a": "host:9100"},
        [
            {
                "source_labels": ["a"],
                "regex": "(?P<host>[^:]+):(?P<port>.*)",
                "target_label": "p",
                "replacement": "${port}-$host",
            }
        ],
        {"a": "host:9100", "p": "9100-host"},
    ),
    (
        "action is case-insensitive",
        {"a": "foo"},
        [{"source_labels": ["a"], "regex": "foo", "action": "Drop"}],
        None,
    ),
]


@pytest.mark.parametrize(
    ("given", "rules", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_relabel_matches_prometheus(
    given: dict[str, str], rules: list[dict[str, Any]], expected: dict[str, str] | None
) -> None:
    relabeler = Relabeler([RelabelConfig.model_validate(rule) for rule in rules])
    result = relabeler.relabel(given.items())
    assert result == (None if expected is None else tuple(sorted(expected.items())))


def test_hashmod_is_md5_low_eight_bytes_big_endian() -> None:
    cfg = RelabelConfig(source_labels=("a", "b"), target_label="h", action="hashmod", modulus=2**32)
    want = int.from_bytes(hashlib.md5(b"x;y").digest()[8:], "big") % 2**32
    assert Relabeler([cfg]).relabel([("a", "x"), ("b", "y")]) == (
        ("a", "x"),
        ("b", "y"),
        ("h", str(want)),
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$1", "foo"),
        ("${1}", "foo"),
        ("$1x", ""),  # names group "1x", as Go's Expand
        ("${1}x", "foox"),
        ("$$1", "$1"),
        ("$", "$"),
        ("${", "${"),
        ("${}", "${}"),
        ("a$-b", "a$-b"),
        ("$2", "bar"),
        ("$3", ""),  # out of range
        ("$01", ""),  # leading zero: a name, not a number
        ("$name", "bar"),
        ("${name}!", "bar!"),
        ("$missing", ""),
    ],
)
def test_expand_template_as_go(template: str, expected: str) -> None:
    regex = compile_regex("(foo)-(?P<name>bar)")
    match = regex.fullmatch("foo-bar")
    assert match is not None
    assert expand_template(template, "foo-bar", match) == expected


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"action": "hashmod", "target_label": "x"}, "requires non-zero modulus"),
        ({"action": "replace", "source_labels": ["a"]}, "requires 'target_label'"),
        ({"action": "lowercase"}, "requires 'target_label'"),
        ({"action": "labeldrop", "regex": "a", "target_label": "x"}, "requires only 'regex'"),
        (
            {"action": "keepequal", "target_label": "x", "regex": "a"},
            "requires only 'source_labels'",
        ),
        ({"action": "bogus"}, "action"),
        ({"regex": "a)|(b", "target_label": "x"}, "invalid relabel regex"),
        ({"target_label": "x", "extra": 1}, "unknown key"),
    ],
)
def test_invalid_rules_are_refused(rule: dict[str, Any], message: str) -> None:
    from obskit.ingest.scrape import ScrapeConfigs

    with pytest.raises(ConfigError, match=message):
        ScrapeConfigs.parse_obj_checked(
            {"scrape_configs": [{"job_name": "j", "relabel_configs": [rule]}]}
        )
