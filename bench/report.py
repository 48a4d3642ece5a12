"""The bench's output: a table on stdout, bench/results/latest.json and latest.png."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from . import publish_docs, report_scale

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    from django import get_version
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kib = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=RESULTS_DIR
    )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "postgresql": pg_version,
        "python": platform.python_version(),
        "django": get_version(),
        "wrk": (wrk.stdout or wrk.stderr).split("[")[0].strip(),
        "commit": commit.stdout.strip(),
    }


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _target(name: str, value: float | None, limit: str, ok: bool, **extra) -> dict:
    return {"target": name, "value": value, "limit": limit, "pass": ok, **extra}


def targets(results: dict) -> list[dict]:
    service = {row["size"]: row for row in results["service"]}
    http = results["http"]
    raw_500 = service[500]["raw_sql"]["median_ms"]
    ratio = service[500]["ratio"]
    rows = [_target("500-id change_owner, service / raw SQL", ratio, "<= 2.0", ratio <= 2.0)]
    ratio = http["bulk_500"]["median_ms"] / raw_500
    rows.append(
        _target("500-id change_owner, HTTP / raw SQL transaction", ratio, "<= 3.0", ratio <= 3.0)
    )
    for connections, figures in http["single"]["change_owner"].items():
        # Each round on its own (the endpoints of a round ran back to back): the worst round.
        raw_runs = http["single"]["raw_sql"][connections]["runs"]
        ratio = min(
            ours["rps"] / raw["rps"] for ours, raw in zip(figures["runs"], raw_runs, strict=True)
        )
        name = f"single-record req/s, change_owner / raw-SQL endpoint, c={connections}, worst round"
        rows.append(_target(name, ratio, ">= 0.9", ratio >= 0.9))
    transfer = results.get("transfer", {})
    if "ratio" in transfer:
        ratio = transfer["ratio"]
        name = "related transfer (5,000 Tasks), job / raw SQL"
        rows.append(_target(name, ratio, "<= 2.0", ratio <= 2.0))
    counts = {row["size"]: row["queries"] for row in results["service"]}
    constant = len(set(counts.values())) == 1
    value = next(iter(counts.values())) if constant else None
    name = "queries per change_owner, 1..500 ids"
    rows.append(_target(name, value, "constant", constant, detail=counts))
    return rows + report_scale.targets(results)


def table(results: dict) -> str:
    lines = []
    m = results["machine"]
    lines.append(
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, "
        f"PostgreSQL {m['postgresql']}, Python {m['python']}, Django {m['django']}"
    )
    before, after = results.get("load_average_before"), results.get("load_average_after")
    if before and after:
        lines.append(
            f"Load average (1 min) before the HTTP part {before[0]:.2f}, at the end {after[0]:.2f}"
            " (the machine may be shared: ratios come from interleaved runs)"
        )
    lines.append("")
    lines.append("1. Service level, in process (ms; median / p95 over "
                 f"{results['service'][0]['service']['runs']} runs)")  # fmt: skip
    lines.append(
        "   change_owner(notify=True, related Tasks) vs the same writes and messages by hand;"
        " queries counted with BEGIN and COMMIT"
    )
    lines.append(f"{'ids':>5} {'queries':>7} {'service':>17} {'raw SQL':>17} {'ratio':>6}")
    for row in results["service"]:
        s, r = row["service"], row["raw_sql"]
        lines.append(
            f"{row['size']:>5} {row['queries']:>7} "
            f"{s['median_ms']:>8.2f} /{s['p95_ms']:>7.2f} "
            f"{r['median_ms']:>8.2f} /{r['p95_ms']:>7.2f} {row['ratio']:>6.2f}"
        )
    http = results["http"]
    g = http["gunicorn"]
    lines.append("")
    lines.append(
        f"2. HTTP, gunicorn {g['workers']} {g['worker_class']} workers x {g['threads']} thread, "
        f"load from {http['load_generator']}"
    )
    lines.append(
        f"{'endpoint':<17} {'conc':>4} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
    )
    for connections in next(iter(http["single"].values())):
        for name, by_conc in http["single"].items():
            f = by_conc[connections]
            lines.append(
                f"{name:<17} {connections:>4} {f['rps']:>8.0f} {f['p50_ms']:>7.2f} "
                f"{f['p99_ms']:>7.2f} {f['errors']:>6}"
            )
    single = http["single"]
    for connections in single["change_owner"]:
        ours = single["change_owner"][connections]["rps"]
        context = ", ".join(
            f"/ {name} {ours / by_conc[connections]['rps']:.2f}"
            for name, by_conc in single.items()
            if name not in ("change_owner", "raw_sql")
        )
        target = ours / single["raw_sql"][connections]["rps"]
        lines.append(
            f"c={connections}: change_owner / raw_sql {target:.2f} (target); context {context}"
        )
    b = http["bulk_500"]
    lines.append(
        f"500-id change_owner over HTTP: median {b['median_ms']:.1f} ms, p95 {b['p95_ms']:.1f} ms "
        f"({b['runs']} requests, one at a time)"
    )
    transfer = results.get("transfer", {})
    lines.append("")
    if "ratio" in transfer:
        job, raw = transfer["job"], transfer["raw_sql"]
        lines.append(
            f"3. Related transfer, {transfer['activities']:,} Tasks of {transfer['parents']} "
            f"parents (ms; median / p95 over {job['runs']} runs)"
        )
        lines.append(
            f"job (outbox.run_entry, in process)    {job['median_ms']:>8.1f} /{job['p95_ms']:>7.1f}"
        )
        lines.append(
            f"raw SQL (psycopg)                     {raw['median_ms']:>8.1f} /{raw['p95_ms']:>7.1f}"
        )
        lines.append(f"ratio {transfer['ratio']:.2f}")
    else:
        lines.append(f"3. Related transfer: {transfer.get('status', 'not measured')}")
    lines.append("")
    lines.append("4. Peak memory (VmHWM)")
    workers = http["memory_kib"]["workers"]
    peak = max(values["VmHWM"] for values in workers.values())
    lines.append(f"gunicorn worker after the 500-id load: {peak / 1024:.1f} MiB (max of workers)")
    celery = transfer.get("celery")
    if celery:
        lines.append(
            f"celery worker (prefork, 1 process) after a {transfer['activities']:,}-Task transfer: "
            f"{celery['peak_kib'] / 1024:.1f} MiB (request to job done: "
            f"{celery['request_to_done_ms']:.0f} ms)"
        )
    lines.extend(report_scale.lines(results))
    lines.append("")
    lines.append("Targets")
    for row in results["targets"]:
        value = "-" if row["value"] is None else f"{row['value']:.2f}"
        lines.append(f"{_verdict(row['pass'])}  {row['target']:<62} {value:>6} ({row['limit']})")
    return "\n".join(lines)


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 4.8))
    sizes = [str(row["size"]) for row in results["service"]]
    x = range(len(sizes))
    width = 0.38
    ax1.bar([i - width / 2 for i in x], [r["service"]["median_ms"] for r in results["service"]],
            width, label="change_owner service")  # fmt: skip
    ax1.bar([i + width / 2 for i in x], [r["raw_sql"]["median_ms"] for r in results["service"]],
            width, label="raw SQL (psycopg)")  # fmt: skip
    ax1.set_xticks(list(x), sizes)
    ax1.set_yscale("log")
    ax1.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax1.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax1.set_xlabel("record ids per call")
    ax1.set_ylabel("median ms (log)")
    ax1.set_title("1. Service level, in process")
    ax1.legend()

    single = results["http"]["single"]
    concurrency = list(next(iter(single.values())))
    x = range(len(concurrency))
    width = 0.27
    for n, (name, by_conc) in enumerate(single.items()):
        ax2.bar([i + (n - 1) * width for i in x], [by_conc[c]["rps"] for c in concurrency], width,
                label=name)  # fmt: skip
    ax2.set_xticks(list(x), [f"c={c}" for c in concurrency])
    ax2.set_ylabel("requests/s")
    g = results["http"]["gunicorn"]
    ax2.set_title(f"2. Single-record HTTP (gunicorn {g['workers']} {g['worker_class']})")
    ax2.legend()

    # Each ratio target as a bar, its limit as a black tick; the query count is not a ratio.
    short = {
        "500-id change_owner, service / raw SQL": "500 ids, service",
        "500-id change_owner, HTTP / raw SQL transaction": "500 ids, HTTP",
        "related transfer (5,000 Tasks), job / raw SQL": "related transfer",
    }
    ratios = [
        row for row in results["targets"] if row["limit"] != "constant" and not row.get("scale")
    ]
    labels = [
        short[row["target"]] if row["target"] in short else "req/s, " + row["target"].split(", ")[2]
        for row in ratios
    ]
    ax3.barh(labels, [row["value"] for row in ratios],
             color=["tab:green" if row["pass"] else "tab:red" for row in ratios])  # fmt: skip
    for y, row in enumerate(ratios):
        limit = float(row["limit"].split()[-1])
        ax3.plot([limit, limit], [y - 0.4, y + 0.4], color="black", linewidth=2)
    ax3.set_title("Ratios to the raw-SQL yardstick (tick: target)")
    ax3.set_xlabel("product / raw SQL (time) or product / raw SQL (req/s)")
    ax3.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def publish(results: dict) -> None:
    results["targets"] = targets(results)
    RESULTS_DIR.mkdir(exist_ok=True)
    text = table(results)
    results["table"] = text
    (RESULTS_DIR / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    chart(results, RESULTS_DIR / "latest.png")
    report_scale.chart(results, RESULTS_DIR / "scale.png")
    print(text)
    print(f"\nWrote {RESULTS_DIR / 'latest.json'}, {RESULTS_DIR / 'latest.png'} and scale.png")
    for path in publish_docs.publish():
        print(f"Rewrote the generated blocks of {path.relative_to(publish_docs.ROOT)}")


if __name__ == "__main__":
    # `python -m bench.report`: the table and charts again from bench/results/latest.json (the
    # figures of the last `make bench`, unchanged), e.g. after a change to the report itself.
    saved = json.loads((RESULTS_DIR / "latest.json").read_text())
    saved.pop("targets", None)
    saved.pop("table", None)
    publish(saved)
