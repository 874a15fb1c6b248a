"""Per-file conformance counts of obskit's PromQL engine on Prometheus' ``.test`` scripts.

Run from the repository root (after ``python setup.py -q build_ext --inplace``)::

    PYTHONPATH=src:tests python -m conformance.report                 # table per file
    PYTHONPATH=src:tests python -m conformance.report --failures functions.test
    PYTHONPATH=src:tests python -m conformance.report --markdown docs/promql-conformance.md
    PYTHONPATH=src:tests python -m conformance.report --update-baseline

``--update-baseline`` records the evals that pass now in ``baseline.json``; the pytest module
fails when one of them stops passing. Exit status: 0, or 2 for bad usage.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from conformance.classify import (
    DEFAULT_EXPERIMENTAL,
    EXPERIMENTAL_FEATURES,
    SKIP_EXPERIMENTAL,
    SKIP_HISTOGRAMS,
    SKIP_START_TIMESTAMPS,
    SKIP_SYNTAX,
)
from conformance.runner import EvalOutcome, FileOutcome, RunOptions, run_file

__all__ = [
    "BASELINE",
    "REPO",
    "TESTDATA",
    "find_test_files",
    "load_baseline",
    "main",
    "regressions",
]

REPO = Path(__file__).resolve().parents[2]
TESTDATA = REPO.parent / "shared" / "conformance" / "promql-testdata"
BASELINE = Path(__file__).with_name("baseline.json")


def find_test_files(directory: Path = TESTDATA) -> list[Path]:
    return sorted(directory.glob("*.test"))


def _baseline_files(path: Path) -> dict[str, dict[str, list[int]]]:
    if not path.exists():
        return {}
    files: dict[str, dict[str, list[int]]] = json.loads(path.read_text(encoding="utf-8"))["files"]
    return files


def load_baseline(path: Path = BASELINE) -> dict[str, list[int]]:
    """Lines of the evals that passed when the baseline was recorded, per file, without those
    marked ``flaky`` by hand (an engine result that changes from run to run)."""
    out = {}
    for name, entry in _baseline_files(path).items():
        flaky = set(entry.get("flaky", []))
        out[name] = [line for line in entry["passed"] if line not in flaky]
    return out


def regressions(outcome: FileOutcome, recorded: list[int]) -> list[EvalOutcome]:
    """Evals recorded as passing that do not pass now."""
    wanted = set(recorded)
    return [o for o in outcome.outcomes if o.line in wanted and o.status != "passed"]


def _write_baseline(outcomes: list[FileOutcome], path: Path) -> None:
    old = _baseline_files(path)
    files: dict[str, dict[str, object]] = {}
    for o in outcomes:
        flaky = old.get(o.name, {}).get("flaky", [])
        files[o.name] = {
            "passed": [line for line in o.passed_lines if line not in flaky],
            "run": o.count("passed") + o.count("failed"),
            "evals": len(o.outcomes),
        }
        if flaky:
            files[o.name]["flaky"] = flaky  # kept from the old file: marked by hand
    note = (
        "evals passing when recorded (report.py --update-baseline); pytest fails on regressions. "
        "'flaky' lists evals whose result changes between runs; they are never required to pass."
    )
    text = json.dumps({"note": note, "files": files}, indent=1, sort_keys=True)
    path.write_text(text + "\n", encoding="utf-8")


def _rate(passed: int, run: int) -> str:
    return f"{100.0 * passed / run:.1f}%" if run else "-"


def _core(o: FileOutcome) -> tuple[int, int]:
    """(passed, run) over the evals that use no experimental feature."""
    core = [x for x in o.outcomes if x.status != "skipped" and not x.experimental]
    return sum(x.status == "passed" for x in core), len(core)


_SKIP_COLUMNS = (
    (SKIP_HISTOGRAMS, "skip hist"),
    (SKIP_START_TIMESTAMPS, "skip @st"),
    (SKIP_SYNTAX, "skip syntax"),
    (SKIP_EXPERIMENTAL, "skip exp"),
)
_COLUMNS = (
    "file",
    "evals",
    *(title for _, title in _SKIP_COLUMNS),
    "run",
    "passed",
    "failed",
    "pass rate",
    "core",
)


def _row(name: str, counts: Counter[str]) -> tuple[str, ...]:
    run = counts["passed"] + counts["failed"]
    return (
        name,
        str(counts["evals"]),
        *(str(counts[reason]) for reason, _ in _SKIP_COLUMNS),
        str(run),
        str(counts["passed"]),
        str(counts["failed"]),
        _rate(counts["passed"], run),
        f"{counts['core_passed']}/{counts['core_run']}",
    )


def _rows(outcomes: list[FileOutcome]) -> list[tuple[str, ...]]:
    """Per file: evals, skipped by reason, run, passed, failed, rates; then the totals."""
    rows = []
    totals = Counter[str]()
    for o in outcomes:
        core_passed, core_run = _core(o)
        counts = Counter[str](
            evals=len(o.outcomes),
            passed=o.count("passed"),
            failed=o.count("failed"),
            core_passed=core_passed,
            core_run=core_run,
        )
        counts.update(o.skipped_by_reason())
        rows.append(_row(o.name, counts))
        totals.update(counts)
    rows.append(_row("total", totals))
    return rows


def _text_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    text = ("files", "expression", "kind", "detail")
    align = ["---" if i == 0 or h in text else "---:" for i, h in enumerate(header)]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _skip_rows(outcomes: list[FileOutcome]) -> list[tuple[str, ...]]:
    """Skipped evals per reason (with detail for experimental features), with their files."""
    by_reason: dict[str, Counter[str]] = {}
    for o in outcomes:
        for x in o.outcomes:
            if x.status != "skipped":
                continue
            key = x.reason
            if x.reason.startswith("experimental"):
                key = f"{x.reason}: {x.detail.split(':')[0]}"
            by_reason.setdefault(key, Counter())[o.name] += 1
    rows: list[tuple[str, ...]] = []
    for key in sorted(by_reason, key=lambda k: (-sum(by_reason[k].values()), k)):
        files = ", ".join(f"{n} ({c})" for n, c in sorted(by_reason[key].items()))
        rows.append((key, str(sum(by_reason[key].values())), files))
    return rows


def _failure_rows(outcomes: list[FileOutcome]) -> list[tuple[str, ...]]:
    kinds = Counter[str]()
    for o in outcomes:
        kinds.update(o.failed_by_reason())
    return [(k, str(n)) for k, n in kinds.most_common()]


def _print_failures(outcome: FileOutcome, limit: int) -> None:
    shown = 0
    for x in outcome.outcomes:
        if x.status != "failed" or shown >= limit:
            continue
        shown += 1
        print(f"\n{outcome.name}:{x.line}  {x.expr}")
        print(f"  {x.reason}: {x.detail}")
        for line in x.expected:
            print(f"  - {line}")
        for line in x.got:
            print(f"  + {line}")
    failed = outcome.count("failed")
    if failed > shown:
        print(f"\n{outcome.name}: {failed - shown} more failures (raise --limit)")


def _git_head() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "log", "-1", "--format=%h"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return out.stdout.strip()


def _markdown(outcomes: list[FileOutcome], options: RunOptions) -> str:
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    enabled = ", ".join(sorted(options.experimental)) or "none"
    parts = [
        "# PromQL conformance",
        "",
        "obskit's PromQL engine on Prometheus' own acceptance scripts "
        "(`../shared/conformance/promql-testdata/*.test`, see `FORMAT.md` there).",
        f"Recorded {today} at `{_git_head()}` with",
        "`PYTHONPATH=src:tests python -m conformance.report --markdown docs/promql-conformance.md`"
        + (" --range-check" if options.range_mode_check else "")
        + ".",
        "",
        "*Skip hist*: native histograms; *skip @st*: start timestamps; *skip syntax*: "
        "experimental syntax the parser rejects; *skip exp*: experimental feature not enabled "
        "(see the end of this page). *Run* counts the evals obskit executes; *core* is passed/run "
        f"without those that use an enabled experimental feature (enabled: {enabled}). "
        "Regressions against "
        "`tests/conformance/baseline.json` fail `tests/conformance/test_promql_conformance.py`.",
        "",
        "## Pass counts per file",
        "",
        _md_table(_rows(outcomes), _COLUMNS),
        "",
        "## Skipped evals by reason",
        "",
        _md_table(_skip_rows(outcomes), ("reason", "evals", "files")),
        "",
    ]
    failures = _failure_rows(outcomes)
    if failures:
        parts += ["## Failures by kind", "", _md_table(failures, ("kind", "evals")), ""]
    failing = [
        (f"{o.name}:{x.line}", _md_cell(x.expr, 70), x.reason, _md_cell(x.detail, 90))
        for o in outcomes
        for x in o.outcomes
        if x.status == "failed"
    ]
    if failing:
        parts += [
            "## Failing evals",
            "",
            "`python -m conformance.report --failures FILE` shows each with expected and got.",
            "",
            _md_table(failing, ("eval", "expression", "kind", "detail")),
            "",
        ]
    parts += _METHOD
    return "\n".join(parts)


def _md_cell(text: str, width: int) -> str:
    text = text if len(text) <= width else text[: width - 1] + "…"
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`"


_METHOD = [
    "## How evals are classified and compared",
    "",
    "- **native histograms**: an expected value is a `{{...}}` literal, or a selector of the "
    "expression matches a series loaded with `{{...}}` values or built by `load_with_nhcb` "
    "(per series, not per `load` block).",
    "- **start timestamps (@st)**: a selector matches a series loaded with `@st` offsets.",
    "- **experimental syntax**: the engine's parser (`promql-parser` after the "
    "`promql/rewrite.py` pass for duration expressions and `anchored`/`smoothed`) rejects the "
    "expression; the construct is named when known (`info()`).",
    "- **experimental feature off**: the expression uses an experimental function Prometheus "
    "keeps behind a feature flag, `limitk`/`limit_ratio`, `fill` modifiers, duration "
    "expressions, `anchored`/`smoothed`, or series with "
    "`__type__`/`__unit__` labels, and that feature is not enabled "
    "(`--experimental all|none|name,...`).",
    "- Comparison follows upstream's harness (`FORMAT.md` §6): relative tolerance 1e-6 (exact "
    "against 0), staleness NaN distinct from NaN, complete label sets with `__name__`, order "
    "only with `expect ordered`, range results sorted by labels with points on the step grid, "
    "annotations checked only when the eval has `expect warn|info|no_warn|no_info`, error "
    "text exact (`msg:`) or RE2 (`regex:`). Python warnings the engine emits are recorded, "
    "not counted as failures. `--range-check` adds upstream's range-mode cross-check.",
    "- One deviation from `FORMAT.md`: inside a value sequence `0x59` is 0 repeated 60 times, "
    "not hexadecimal (Prometheus' lexer disables hex there; `functions.test` relies on it). "
    "Hexadecimal is read on scalar expectation lines only.",
    "",
]


def _experimental(text: str) -> frozenset[str]:
    if text == "default":
        return DEFAULT_EXPERIMENTAL
    if text == "all":
        return EXPERIMENTAL_FEATURES
    if text == "none":
        return frozenset()
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    unknown = names - EXPERIMENTAL_FEATURES
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown experimental feature(s) {', '.join(sorted(unknown))}; known: "
            + ", ".join(sorted(EXPERIMENTAL_FEATURES))
        )
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="conformance.report", description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", help="file names (default: every *.test)")
    parser.add_argument("--dir", type=Path, default=TESTDATA, help="folder of the .test files")
    parser.add_argument("--failures", action="store_true", help="list failures with a diff")
    parser.add_argument("--limit", type=int, default=20, help="failures listed per file")
    parser.add_argument("--range-check", action="store_true", help="upstream's range-mode check")
    parser.add_argument(
        "--experimental",
        type=_experimental,
        default=DEFAULT_EXPERIMENTAL,
        help="experimental features to run: default, all, none, or a comma-separated list",
    )
    parser.add_argument("--markdown", type=Path, help="write the tables to this Markdown file")
    parser.add_argument("--update-baseline", action="store_true", help="record passing evals")
    args = parser.parse_args(argv)
    if not args.dir.is_dir():
        parser.error(f"no .test files: {args.dir} is not a directory")
    paths = find_test_files(args.dir)
    if args.files:
        wanted = {f if f.endswith(".test") else f + ".test" for f in args.files}
        paths = [p for p in paths if p.name in wanted]
        missing = wanted - {p.name for p in paths}
        if missing:
            parser.error(f"no such file(s) in {args.dir}: {', '.join(sorted(missing))}")
    options = RunOptions(args.experimental, args.range_check)
    custom = args.range_check or args.experimental != DEFAULT_EXPERIMENTAL or args.files
    if args.update_baseline and custom:
        parser.error("--update-baseline records the default run: all files, default options")
    outcomes = [run_file(p, options) for p in paths]
    print(_text_table(_rows(outcomes), _COLUMNS))
    print("\nskipped by reason:")
    for reason, count, _files in _skip_rows(outcomes):
        print(f"  {count:>5}  {reason}")
    failures = _failure_rows(outcomes)
    if failures:
        print("\nfailures by kind:")
        for kind, count in failures:
            print(f"  {count:>5}  {kind}")
    noisy = [(o.name, x) for o in outcomes for x in o.outcomes if x.python_warnings]
    if noisy:
        print(f"\nevals during which the engine emitted Python warnings: {len(noisy)}")
    if args.failures:
        for o in outcomes:
            _print_failures(o, args.limit)
        for name, x in noisy[: args.limit]:
            print(f"\n{name}:{x.line}  {x.expr}\n  " + "\n  ".join(x.python_warnings))
    if args.markdown:
        args.markdown.write_text(_markdown(outcomes, options), encoding="utf-8")
        print(f"\nwrote {args.markdown}")
    if args.update_baseline:
        _write_baseline(outcomes, BASELINE)
        print(f"wrote {BASELINE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
