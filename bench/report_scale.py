"""The table lines, targets and chart of the parts added for scale (bench/single.py, naive.py,
scale.py, transfer50k.py); bench/report.py calls these three functions."""

from __future__ import annotations

from pathlib import Path

# Issue 25's goals ("Performance at size").
SINGLE_GOAL = 1.2
TRANSFER_50K_GOAL_SECONDS = 1.0


def _target(name: str, value: float | None, limit: str, ok: bool) -> dict:
    return {"target": name, "value": value, "limit": limit, "pass": ok, "scale": True}


def targets(results: dict) -> list[dict]:
    rows = []
    for row in results.get("single", {}).get("rows", []):
        kind = "with jobs" if row["jobs"] else "without jobs"
        rows.append(
            _target(
                f"1-id change_owner {kind}, service / same-work raw SQL",
                row["ratio"],
                f"<= {SINGLE_GOAL}",
                row["ratio"] <= SINGLE_GOAL,
            )
        )
    for row in results.get("naive", {}).get("rows", []):
        if row["size"] == 500:
            rows.append(
                _target(
                    "500 ids over HTTP, naive DRF peer / product",
                    row["speedup"],
                    ">= 15",
                    row["speedup"] >= 15,
                )
            )
    cases = {case["name"]: case for case in results.get("scale", {}).get("cases", [])}
    for name, case in cases.items():
        if name.endswith("(page_token)") and not name.startswith("owner_id"):
            first = cases[name.split(" page ")[0] + " page 1"]
            ratio = case["http"]["median_ms"] / first["http"]["median_ms"]
            rows.append(_target(f"{name} / page 1, HTTP", ratio, "<= 2.0", ratio <= 2.0))
        if name.startswith("owner_id") and "(page_token)" not in name:
            value = case["http"]["median_ms"]
            rows.append(_target(f"{name}, HTTP ms", value, "< 20", value < 20))
    big = results.get("transfer_50k")
    if big:
        seconds = big["job"]["median_ms"] / 1000
        rows.append(
            _target(
                f"related transfer of {big['activities']:,} activities, s",
                seconds,
                f"<= {TRANSFER_50K_GOAL_SECONDS}",
                seconds <= TRANSFER_50K_GOAL_SECONDS,
            )
        )
    return rows


def lines(results: dict) -> list[str]:
    out = []
    single = results.get("single")
    if single:
        out += [
            "",
            "5. Single-record change_owner in process vs the same work by hand (ms; median /"
            " p95); 'with jobs' = notify + related Tasks: 2 outbox rows and 2 Celery messages"
            " on both sides",
        ]
        for row in single["rows"]:
            p, r = row["product"], row["raw_sql"]
            kind = "with jobs   " if row["jobs"] else "without jobs"
            out.append(
                f"   {kind} service {p['median_ms']:6.2f} /{p['p95_ms']:6.2f}   raw SQL "
                f"{r['median_ms']:6.2f} /{r['p95_ms']:6.2f}   ratio {row['ratio']:.2f}"
            )
    naive = results.get("naive")
    if naive:
        out += ["", "6. Naive DRF peer (bench/naive.py) vs the product, over HTTP (ms; median)"]
        for row in naive["rows"]:
            out.append(
                f"   {row['size']:>4} ids: product {row['product']['median_ms']:8.1f}"
                f"   naive {row['naive']['median_ms']:8.1f}   {row['speedup']:.1f}x"
            )
    scale = results.get("scale")
    if scale:
        loaded = scale.get("load_seconds")
        how = f"loaded in {loaded:.0f} s" if loaded else "kept from the previous run"
        out += [
            "",
            f"7. Reads at scale (bench/scale.py; data {how}), one request at a time"
            " (ms; median), floor = the same SQL by hand on psycopg",
        ]
        out.append(f"   {'case':<40} {'HTTP':>8} {'floor':>8}  plan root / buffers")
        for case in scale["cases"]:
            plan = case["explain"]
            root = plan["root"].split("  (cost")[0]
            index = ",".join(plan["indexes"]) or "-"
            out.append(
                f"   {case['name']:<40} {case['http']['median_ms']:8.2f} "
                f"{case['floor_sql']['median_ms']:8.2f}  {root} [{index}] "
                f"{plan['buffers']}"
            )
        settings = ", ".join(f"{key}={value}" for key, value in scale["settings"].items())
        out.append(f"   PostgreSQL settings: {settings}")
        sizes = ", ".join(f"{key} {value}" for key, value in scale["table_sizes"].items())
        out.append(f"   sizes: {sizes}")
    big = results.get("transfer_50k")
    if big:
        job, raw = big["job"], big["raw_sql"]
        out += [
            "",
            f"8. Related transfer of {big['activities']:,} Tasks ({big['parents']} "
            f"parents) in the large organization (ms; median / p95 over {job['runs']} runs)",
            f"   job (owners.outbox.run_entry) {job['median_ms']:8.1f} /{job['p95_ms']:8.1f}   "
            f"raw SQL {raw['median_ms']:8.1f} /{raw['p95_ms']:8.1f}   ratio "
            f"{big['ratio']:.2f}",
        ]
    return out


def chart(results: dict, path: Path) -> None:
    """Each measurement beside its floor, one panel per kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(20, 5))
    panels = []
    single = results.get("single", {}).get("rows", [])
    panels.append(
        (
            "1-id change_owner (ms)",
            [
                (
                    "with jobs" if r["jobs"] else "no jobs",
                    r["product"]["median_ms"],
                    r["raw_sql"]["median_ms"],
                )
                for r in single
            ],
        )
    )
    naive = results.get("naive", {}).get("rows", [])
    panels.append(
        (
            "naive peer vs product (ms, log; floor = product)",
            [
                (f"{r['size']} ids", r["naive"]["median_ms"], r["product"]["median_ms"])
                for r in naive
            ],
        )
    )
    cases = results.get("scale", {}).get("cases", [])
    panels.append(
        (
            "reads at scale, HTTP (ms, log; floor = SQL)",
            [(c["name"], c["http"]["median_ms"], c["floor_sql"]["median_ms"]) for c in cases],
        )
    )
    big = results.get("transfer_50k")
    panels.append(
        (
            "related transfer 50,000 (ms)",
            [("job", big["job"]["median_ms"], big["raw_sql"]["median_ms"])] if big else [],
        )
    )
    for ax, (title, rows) in zip(axes, panels, strict=True):
        labels = [row[0] for row in rows]
        y = range(len(rows))
        ax.barh([i - 0.2 for i in y], [row[1] for row in rows], 0.4, label="measured")
        ax.barh([i + 0.2 for i in y], [row[2] for row in rows], 0.4, label="floor")
        ax.set_yticks(list(y), labels, fontsize=7)
        ax.invert_yaxis()
        if "log" in title:
            ax.set_xscale("log")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
