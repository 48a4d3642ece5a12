"""The figures the docs quote, written by the commands that measure them.

A measured figure lives in the docs only inside a generated block:

    <!-- generated: NAME (COMMAND writes it; do not edit) -->
    ...
    <!-- end generated: NAME -->

`make bench` (bench/report.py, bench/offboarding.py), `python -m bench.sandbox` and `make fuzz`
rewrite their blocks from the results they save under bench/results/; `python -m
bench.publish_docs` rewrites every block from the saved results. tests/docs/test_claims.py
renders each block again from the committed results and fails when the docs say anything else,
and when a measured figure stands outside a block. No Django here: the docs test imports this
module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

BLOCK = re.compile(
    r"(<!-- generated: (?P<name>[\w-]+) \((?P<command>[^)]*)\) -->\n)(?P<body>.*?)"
    r"(<!-- end generated: (?P=name) -->)",
    re.DOTALL,
)


def _load(name: str) -> dict | None:
    path = RESULTS_DIR / name
    return json.loads(path.read_text()) if path.exists() else None


def _fenced(text: str) -> str:
    return f"```\n{text.rstrip()}\n```\n"


def bench_latest() -> str:
    results = _load("latest.json")
    if results is None:
        return "No `make bench` run is recorded in this tree (`bench/results/latest.json`).\n"
    machine = results["machine"]
    return (
        f"`bench/results/latest.json`: {machine['date']}, commit {machine['commit']}, load average"
        f" {results['load_average_before'][0]:.1f} before the HTTP part and"
        f" {results['load_average_after'][0]:.1f} at the end.\n\n" + _fenced(results["table"])
    )


def bench_targets() -> str:
    results = _load("latest.json")
    if results is None:
        return "No `make bench` run is recorded in this tree.\n"
    rows = [
        "| target | value | limit | |",
        "|---|---|---|---|",
        *(
            f"| {row['target']} | {row['value']:.2f} | {row['limit']} |"
            f" {'met' if row['pass'] else '**missed**'} |"
            for row in results["targets"]
        ),
    ]
    machine = results["machine"]
    return (
        f"Targets of the latest `make bench` ({machine['date']}, commit {machine['commit']}, load"
        f" average {results['load_average_before'][0]:.1f}):\n\n" + "\n".join(rows) + "\n"
    )


def verdicts(targets: list[dict]) -> list[str]:
    """A part's targets, one line each: PASS or MISS, the target, its value and its limit."""
    return [
        f"{'PASS' if row['pass'] else 'MISS'}  {row['target']:<62} {row['value']:>6.2f}"
        f" ({row['limit']})"
        for row in targets
    ]


def bench_offboarding() -> str:
    result = _load("offboarding.json")
    if result is None:
        return "No offboarding run is recorded in this tree (`bench/results/offboarding.json`).\n"
    from bench.offboarding import lines, targets  # imports nothing of Django at module level

    return _fenced("\n".join([*lines(result), *verdicts(targets(result))]))


def bench_metering() -> str:
    results = _load("latest.json") or {}
    metering = results.get("metering")
    if metering is None:
        return (
            "The latest recorded `make bench` run has no metering figures"
            " (`bench/results/latest.json`, key `metering`).\n"
        )
    in_process = ", ".join(
        f"{name} {value:.0f} us" for name, value in metering["in_process"].items()
    )
    http = metering["http"]
    return _fenced(
        f"admission + release per request: {in_process}\n"
        f"settings/modules over HTTP: {http['rps_metered']:.0f} req/s metered,"
        f" {http['rps_unmetered']:.0f} unmetered, ratio {http['ratio']:.3f}"
    )


def bench_records() -> str:
    result = _load("records.json")
    if result is None:
        return "No run of the record writes (`make bench`, part 9) is recorded in this tree.\n"
    from bench.records import lines  # imports nothing of Django at module level

    return _fenced("\n".join([*lines(result), *verdicts(result["targets"])]))


def fuzz_latest() -> str:
    result = _load("fuzz.json")
    if result is None:
        return "No `make fuzz` run is recorded in this tree yet.\n"
    return (
        f"The latest `make fuzz` ({result['date']}, commit {result['commit']}, seed"
        f" {result['seed']}, {result['max_examples']:,} examples per operation and phase):"
        f" {result['cases']:,} cases over {result['operations_tested']}/"
        f"{result['operations_total']} operations, {result['failures']} failing, in"
        f" {result['seconds'] / 60:.0f} minutes.\n"
    )


def bench_sandbox() -> str:
    result = _load("sandbox.json")
    if result is None:
        return "No sandbox bench is recorded in this tree (`bench/results/sandbox.json`).\n"
    from bench.sandbox import lines  # imports nothing of Django at module level

    verdicts = [
        f"{'PASS' if row['pass'] else 'MISS'}  {row['target']} {row['value']:.3f} ({row['limit']})"
        for row in result["targets"]
    ]
    return _fenced("\n".join([*lines(result), *verdicts]))


def bench_watch() -> str:
    result = _load("watch.json")
    if result is None or "sides" not in result:  # older results had two sides, not three
        return "No watch bench is recorded in this tree (`bench/results/watch.json`).\n"
    from bench.watch import lines  # imports nothing of Django at module level

    return _fenced("\n".join(lines(result)))


RENDERERS: dict[str, Callable[[], str]] = {
    "bench-latest": bench_latest,
    "bench-targets": bench_targets,
    "bench-offboarding": bench_offboarding,
    "bench-metering": bench_metering,
    "bench-records": bench_records,
    "fuzz-latest": fuzz_latest,
    "bench-sandbox": bench_sandbox,
    "bench-watch": bench_watch,
}


def blocks(text: str) -> list[re.Match]:
    return list(BLOCK.finditer(text))


def rewrite(text: str) -> str:
    return BLOCK.sub(
        lambda m: f"{m.group(1)}{RENDERERS[m.group('name')]()}{m.group(5)}",
        text,
    )


def publish() -> list[Path]:
    """Rewrite every generated block of the README and docs/ from bench/results/."""
    changed = []
    for path in DOC_FILES:
        text = path.read_text()
        new = rewrite(text)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


if __name__ == "__main__":
    for path in publish():
        print(f"rewrote the generated blocks of {path.relative_to(ROOT)}")
