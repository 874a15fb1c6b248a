"""Parsing whole ``.test`` scripts: commands, headers, expectations and format errors."""

from __future__ import annotations

import textwrap

import pytest

from conformance.seriesdesc import HistogramLiteral
from conformance.testfile import Clear, Eval, Load, TestFileError, parse_test_file

SCRIPT = textwrap.dedent(
    """\
    # a comment
    load 5m
      http_requests{job="api", instance="0"}  0+10x2
      other 1 _ stale
      other 9

    load_with_nhcb 1m
      h_bucket{le="1"} 1 2
      h_bucket{le="+Inf"} 2 4

    eval instant at 50m rate(http_requests[10m])
      expect no_warn
      expect info msg: PromQL info: something (1:6)
      {job="api", instance="0"} 0.03333333333333333

    eval range from 0 to 10m step 5m http_requests
      expect warn regex: PromQL warning: .* \\([0-9]+:[0-9]+\\)
      http_requests{job="api", instance="0"} 0 10 20

    clear
    eval_fail instant at 0 -{job="api"}
      expected_fail_message vector cannot contain metrics with the same labelset

    eval_ordered instant at 1m sort(x)
      x{a="1"} 1
      x{a="2"} 2

    eval instant at 1m ceil(y)
      expect fail msg:vector cannot contain metrics with the same labelset

    eval instant at 1h30m 12.34e6
      12340000

    eval instant at 50m ("Foo")
      expect string `Foo`

    eval instant at 1m some_metric[1m]
      expect range vector from 10s to 1m step 10s
      some_metric{env="a"} 2 3 4 5 6

    eval instant at 0 nothing
    """
)


def test_commands_in_order() -> None:
    commands = parse_test_file(SCRIPT).commands
    kinds = [type(c).__name__ for c in commands]
    assert kinds == ["Load", "Load", "Eval", "Eval", "Clear"] + ["Eval"] * 7
    load = commands[0]
    assert isinstance(load, Load) and load.interval_ms == 300_000 and not load.with_nhcb
    # a series listed twice in one block keeps only its last line
    assert [s.values for s in load.series] == [[0.0, 10.0, 20.0], [9.0]]
    nhcb = commands[1]
    assert isinstance(nhcb, Load) and nhcb.with_nhcb and nhcb.interval_ms == 60_000
    assert isinstance(commands[4], Clear) and commands[4].line == 20


def _evals() -> list[Eval]:
    return [c for c in parse_test_file(SCRIPT).commands if isinstance(c, Eval)]


def test_instant_and_range_headers() -> None:
    instant, ranged = _evals()[:2]
    assert instant.instant and instant.eval_ms == 3_000_000 and instant.line == 11
    assert instant.expr == "rate(http_requests[10m])"
    assert instant.no_warn and not instant.no_info
    assert [e.message for e in instant.info] == ["PromQL info: something (1:6)"]
    assert instant.series[0].labels == (("instance", "0"), ("job", "api"))
    assert not ranged.instant
    assert (ranged.start_ms, ranged.end_ms, ranged.step_ms) == (0, 600_000, 300_000)
    assert ranged.warn[0].regex == "PromQL warning: .* \\([0-9]+:[0-9]+\\)"
    assert ranged.warn[0].matches("PromQL warning: mixed (1:5)")
    assert not ranged.warn[0].matches("PromQL warning: mixed")


def test_deprecated_headers_and_fail_forms() -> None:
    failing, ordered, fail_msg = _evals()[2:5]
    assert failing.fail is not None
    assert failing.fail.message == "vector cannot contain metrics with the same labelset"
    assert ordered.ordered and [s.labels[1][1] for s in ordered.series] == ["1", "2"]
    assert fail_msg.fail is not None and fail_msg.fail.matches(
        "vector cannot contain metrics with the same labelset"
    )


def test_scalar_string_range_vector_and_empty() -> None:
    scalar, string, range_vector, empty = _evals()[5:]
    assert scalar.scalar == 12_340_000.0 and scalar.eval_ms == 5_400_000
    assert string.string == "Foo"
    assert range_vector.range_vector == (10_000, 60_000, 10_000)
    assert range_vector.eval_ms == 60_000  # the query runs at the end of the range vector
    assert range_vector.series[0].values == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert empty.series == [] and empty.scalar is None and empty.fail is None


def test_comment_ends_a_block() -> None:
    # "b 2" after the comment would start a new command, and is not a command word
    with pytest.raises(TestFileError, match="line 4: invalid command"):
        parse_test_file("load 1m\n  a 1\n# note\n  b 2\n")


def test_tabs_are_blanks() -> None:
    (ev,) = parse_test_file("eval instant at 1m x\n\t\texpect ordered\n\tx\t1\n").commands
    assert isinstance(ev, Eval) and ev.ordered and ev.series[0].values == [1.0]


def test_histogram_values_are_kept_as_literals() -> None:
    (load,) = parse_test_file("load 1m\n  h {{schema:0 sum:1 count:1}}x1 2\n").commands
    assert isinstance(load, Load)
    values = load.series[0].values
    assert isinstance(values[0], HistogramLiteral) and values[2] == 2.0


def test_start_timestamp_lines() -> None:
    text = 'load 1m\n  c{t="a"}@st _ -30s-1mx1\n  c{t="a"} 1 2 3\n  d 5\n'
    (load,) = parse_test_file(text).commands
    assert isinstance(load, Load)
    c, d = load.series
    assert c.start_offsets_ms == [None, -30_000, -90_000] and d.start_offsets_ms is None


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("bogus 1m\n", 1),
        ("load 1m\n  a 1\n  {bad 1\n", 3),
        ("load 1x\n  a 1\n", 1),
        ("eval instant at 1m a\n  a 1 2\n", 2),  # several values for an instant query
        ("eval instant at 1m a\n  expect warn\n  expect no_warn\n", 1),
        ("eval instant at 1m a\n  expect fail\n  expect fail\n", 3),
        ("eval instant at 1m a\n  expect sometimes\n", 2),
        ("eval instant at 1m a\n  expect string Foo\n", 2),
        ("eval instant at 1m a\n  1\n  a 1\n", 3),  # nothing after a scalar
        ("eval range from 2m to 1m step 1m a\n", 1),
        ("load 1m\n  c@st -1m\n  c 1 2\n", 2),  # @st and sample lines differ in length
        ("load 1m\n  c@st -1m\n  d 1\n", 2),  # @st for another series
        ("load 1m\n  c@st -1m\n", 2),  # @st without a sample line
    ],
)
def test_format_errors_name_the_line(text: str, line: int) -> None:
    with pytest.raises(TestFileError) as info:
        parse_test_file(text)
    assert info.value.line == line
