"""The sandbox controls (docs/sandbox.md): what an organization per test costs, what a reset
costs, and what the journal and the fault check add to a change of owner.

Over HTTP, against gunicorn (1 sync worker) on PostgreSQL, as a test suite calls them:

1. create + delete an organization with RECORDS_SMALL (100) records and two users (with tokens
   and a self client): CREATE_RUNS of each, timed from the client;
2. reset of an organization with RECORDS_RESET (10,000) records to its creation snapshot, after a
   change of owner each time (so there is history and pending work to drop): RESET_RUNS;
3. a single-record change_owner (a new owner each call) on two servers over the same database,
   one with SANDBOX_API on (the organization is journaled and checked for faults: it has none)
   and one with it off, calls alternating between them, OVERHEAD_CALLS each after a warm-up:
   the median of the differences between each call on and the call off after it, as a share of
   the median call off.

Results in bench/results/sandbox.json; bench/publish_docs.py writes them into docs/sandbox.md.
Alone: `.venv/bin/python -m bench.sandbox` (DATABASE_URL and REDIS_URL as `make bench` uses,
unless set); sizes from BENCH_SANDBOX_* variables. No Django at module level (publish_docs
imports `lines` and `targets`).
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

RECORDS_SMALL = int(os.environ.get("BENCH_SANDBOX_RECORDS", "100"))
RECORDS_RESET = int(os.environ.get("BENCH_SANDBOX_RESET_RECORDS", "10000"))
CREATE_RUNS = int(os.environ.get("BENCH_SANDBOX_CREATE_RUNS", "20"))
RESET_RUNS = int(os.environ.get("BENCH_SANDBOX_RESET_RUNS", "5"))
OVERHEAD_CALLS = int(os.environ.get("BENCH_SANDBOX_OVERHEAD_CALLS", "1000"))
OVERHEAD_WARMUP = 50
KEY = "bench-sandbox-key-" + uuid.uuid4().hex
GUNICORN = {"workers": 1, "worker_class": "sync", "threads": 1}
RESULTS_DIR = Path(__file__).resolve().parent / "results"
GOAL_SECONDS = 1.0
GOAL_OVERHEAD = 0.05
TIMEOUT = 120


def _organization_body(records: int, tag: str) -> dict:
    contacts = [
        {"module": "Contacts", "name": f"Contact {n}", "fields": {"Last_Name": f"Contact {n}"}}
        for n in range(records)
    ]
    return {
        "name": f"Bench sandbox {tag} {uuid.uuid4().hex[:8]}",
        "users": [
            {
                "full_name": "Bench Admin",
                "email": f"admin.{tag}.{uuid.uuid4().hex[:8]}@bench.test",
                "profile": "Administrator",
            },
            {
                "full_name": "Bench Rep",
                "email": f"rep.{tag}.{uuid.uuid4().hex[:8]}@bench.test",
                "profile": "Standard",
            },
        ],
        "records": contacts,
    }


def _call(port: int, method: str, path: str, body=None, headers=None) -> tuple[int, dict | None]:
    """One call on a fresh connection, waiting up to TIMEOUT (an organization of 10,000 records
    takes a few seconds to create)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        connection.request(
            method, path, body=payload, headers={"X-Sandbox-Key": KEY, **(headers or {})}
        )
        answer = connection.getresponse()
        status, content = answer.status, answer.read()
    finally:
        connection.close()
    return status, json.loads(content) if content else None


def _timed(port: int, method: str, path: str, body=None, expected: int = 200):
    started = time.perf_counter()
    status, answer = _call(port, method, path, body)
    seconds = time.perf_counter() - started
    if status != expected:
        raise RuntimeError(f"{method} {path} answered {status}: {str(answer)[:300]}")
    return seconds, answer


def _summary(seconds: list[float]) -> dict:
    return {
        "runs": len(seconds),
        "median_s": statistics.median(seconds),
        "max_s": max(seconds),
        "all_s": seconds,
    }


def _create_delete(port: int) -> dict:
    create, delete = [], []
    for run in range(CREATE_RUNS):
        seconds, created = _timed(
            port,
            "POST",
            "/sandbox/v1/organizations",
            _organization_body(RECORDS_SMALL, f"c{run}"),
            201,
        )
        create.append(seconds)
        seconds, _ = _timed(
            port, "DELETE", f"/sandbox/v1/organizations/{created['organization']['id']}", None, 204
        )
        delete.append(seconds)
    return {"records": RECORDS_SMALL, "create": _summary(create), "delete": _summary(delete)}


def _reset(port: int) -> dict:
    create_seconds, created = _timed(
        port, "POST", "/sandbox/v1/organizations", _organization_body(RECORDS_RESET, "reset"), 201
    )
    org_id = created["organization"]["id"]
    token = created["users"][0]["access_token"]
    rep = created["users"][1]["id"]
    ids = [record["id"] for record in created["records"][:500]]
    resets = []
    for _ in range(RESET_RUNS):
        status, _ = _call(
            port,
            "POST",
            "/bigin/v2/Contacts/actions/change_owner",
            {"ids": ids, "owner": {"id": rep}, "related_modules": [{"api_name": "Tasks"}]},
            {"Authorization": f"Zoho-oauthtoken {token}"},
        )
        if status != 200:
            raise RuntimeError(f"change_owner answered {status}")
        seconds, answer = _timed(port, "POST", f"/sandbox/v1/organizations/{org_id}/actions/reset")
        if answer["reset"]["records"] != RECORDS_RESET:
            raise RuntimeError(f"reset restored {answer['reset']['records']} records")
        resets.append(seconds)
    snapshot_seconds, _ = _timed(
        port, "POST", f"/sandbox/v1/organizations/{org_id}/snapshots", {"name": "bench"}, 201
    )
    _timed(port, "DELETE", f"/sandbox/v1/organizations/{org_id}", None, 204)
    return {
        "records": RECORDS_RESET,
        "create_s": create_seconds,
        "snapshot_s": snapshot_seconds,
        "reset": _summary(resets),
    }


def _overhead(on_port: int, off_port: int) -> dict:
    _, created = _timed(
        on_port, "POST", "/sandbox/v1/organizations", _organization_body(50, "overhead"), 201
    )
    headers = {"Authorization": f"Zoho-oauthtoken {created['users'][0]['access_token']}"}
    owners = [user["id"] for user in created["users"]]
    records = [record["id"] for record in created["records"]]
    latencies: dict[str, list[float]] = {"on": [], "off": []}
    from .load import request

    for call in range((OVERHEAD_CALLS + OVERHEAD_WARMUP) * 2):
        # Alternating servers; every call gives a record a new owner (a pass over the records
        # gives them all the rep, the next gives them back), so both servers write alike.
        server = ("on", "off")[call % 2]
        port = on_port if server == "on" else off_port
        body = {
            "ids": [records[call % len(records)]],
            "owner": {"id": owners[(call // len(records) + 1) % 2]},
        }
        started = time.perf_counter()
        status, content = request(
            port, "POST", "/bigin/v2/Contacts/actions/change_owner", body, headers
        )
        latencies[server].append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"change_owner answered {status}: {content[:300]!r}")
    _timed(
        on_port, "DELETE", f"/sandbox/v1/organizations/{created['organization']['id']}", None, 204
    )
    # Past the warm-up, each call with the controls on is paired with the call off that follows
    # it: the median of their differences follows the machine's drift less than the difference
    # of two medians.
    on_calls, off_calls = latencies["on"][OVERHEAD_WARMUP:], latencies["off"][OVERHEAD_WARMUP:]
    on, off = statistics.median(on_calls), statistics.median(off_calls)
    added = statistics.median(a - b for a, b in zip(on_calls, off_calls, strict=True))
    return {
        "calls": len(on_calls),
        "median_ms_on": on,
        "median_ms_off": off,
        "mean_ms_on": statistics.fmean(on_calls),
        "mean_ms_off": statistics.fmean(off_calls),
        "median_added_ms": added,
        "overhead": added / off,
    }


def targets(result: dict) -> list[dict]:
    small, reset, overhead = result["create_delete"], result["reset"], result["overhead"]
    records = f"{small['records']:,} records"
    rows = [
        (f"create an organization with {records} (median s)", small["create"]["median_s"]),
        (f"delete an organization with {records} (median s)", small["delete"]["median_s"]),
        (f"reset {reset['records']:,} records (median s)", reset["reset"]["median_s"]),
    ]
    out = [
        {
            "target": name,
            "value": value,
            "limit": f"< {GOAL_SECONDS:g}",
            "pass": value < GOAL_SECONDS,
        }
        for name, value in rows
    ]
    out.append(
        {
            "target": "journal + fault check on change_owner (median latency, added share)",
            "value": overhead["overhead"],
            "limit": f"<= {GOAL_OVERHEAD:g}",
            "pass": overhead["overhead"] <= GOAL_OVERHEAD,
        }
    )
    return out


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def lines(result: dict) -> list[str]:
    small, reset, overhead = result["create_delete"], result["reset"], result["overhead"]
    added = overhead.get("median_added_ms", overhead["median_ms_on"] - overhead["median_ms_off"])
    create, delete, resets = small["create"], small["delete"], reset["reset"]
    return [
        f"{result['date']}, commit {result['commit']},"
        f" load average {result['load_average'][0]:.1f}",
        f"organization with {small['records']:,} records and 2 users, {create['runs']} runs:"
        f" create {_ms(create['median_s'])} median ({_ms(create['max_s'])} max),"
        f" delete {_ms(delete['median_s'])} median ({_ms(delete['max_s'])} max)",
        f"organization with {reset['records']:,} records: create {_ms(reset['create_s'])},"
        f" snapshot {_ms(reset['snapshot_s'])}, reset {_ms(resets['median_s'])} median"
        f" ({_ms(resets['max_s'])} max, {resets['runs']} runs)",
        f"change_owner, 1 record, {overhead['calls']} calls each:"
        f" {overhead['median_ms_on']:.2f} ms median with the controls on,"
        f" {overhead['median_ms_off']:.2f} ms off; each call on against the next off:"
        f" {added:+.2f} ms median ({overhead['overhead']:+.1%})",
    ]


def measure() -> dict:
    from .load import gunicorn

    env = {**os.environ, "SANDBOX_API_KEY": KEY}
    with (
        gunicorn(**GUNICORN, env={**env, "SANDBOX_API": "true"}) as (on_port, _),
        gunicorn(**GUNICORN, env={**env, "SANDBOX_API": "false"}) as (off_port, _),
    ):
        result = {"create_delete": _create_delete(on_port)}
        print("bench.sandbox: create and delete done", flush=True)
        result["reset"] = _reset(on_port)
        print("bench.sandbox: reset done", flush=True)
        result["overhead"] = _overhead(on_port, off_port)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=RESULTS_DIR
    )
    result.update(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        commit=commit.stdout.strip(),
        load_average=os.getloadavg(),
    )
    result["targets"] = targets(result)
    return result


def publish(result: dict) -> None:
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "sandbox.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(lines(result)))
    for row in result["targets"]:
        verdict = "PASS" if row["pass"] else "MISS"
        print(f"{verdict}  {row['target']:<70} {row['value']:>7.3f} ({row['limit']})")
    from . import publish_docs

    for path in publish_docs.publish():
        print(f"Rewrote the generated blocks of {path.relative_to(publish_docs.ROOT)}")


def main() -> None:
    from .environment import configure_environment, ensure_database

    configure_environment()
    ensure_database(os.environ["DATABASE_URL"])
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    publish(measure())


if __name__ == "__main__":
    main()
