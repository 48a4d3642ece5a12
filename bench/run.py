"""`make bench`: the product against the physical limit, each figure beside its yardstick.

1. service level, in process: `change_owner` of 1..500 records vs the same writes in raw SQL;
2. HTTP: gunicorn + wrk, single-record change_owner vs a raw-SQL endpoint and a no-op endpoint,
   and the latency of a 500-id request;
3. related transfer: the job moving 5,000 Tasks vs the raw-SQL equivalent;
4. peak memory of a gunicorn worker and of a celery worker;
5.-8. the parts for scale: the single-record change_owner with and without jobs against
   same-work yardsticks (bench/single.py), the naive DRF peer (bench/naive.py), reads at 1M and 5M
   records (bench/scale.py) and the related transfer of 50,000 activities
   (bench/transfer50k.py), on a large organization kept between runs (bench/bigdata.py);
9. records a client writes: adding and updating 100 records vs the same writes in raw SQL, and
   search by email at 1,000,000 contacts (bench/records.py).

Prints a table, writes bench/results/latest.json and latest.png. Targets are reported, never
asserted. Runs against DATABASE_URL (default: the `bigin_bench` database, created if missing).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from time import perf_counter

from .environment import configure_environment, ensure_database

SIZES = (1, 10, 100, 500)
SERVICE_RUNS = int(os.environ.get("BENCH_SERVICE_RUNS", "40"))
WARMUP_RUNS = 3
HTTP_SECONDS = int(os.environ.get("BENCH_HTTP_SECONDS", "5"))
HTTP_ROUNDS = int(os.environ.get("BENCH_HTTP_ROUNDS", "3"))
HTTP_CONCURRENCY = (1, 8, 32)
BULK_HTTP_RUNS = 20
GUNICORN = {"workers": 2, "worker_class": "sync", "threads": 1}
HTTP_POOL = 20_000
OWNER_COUNT = 64
TRANSFER_PARENTS = 500
TASKS_PER_PARENT = 10
TRANSFER_RUNS = int(os.environ.get("BENCH_TRANSFER_RUNS", "5"))
SCOPE = "ZohoBigin.change_owner.CREATE"
# What the 500-id requests ask for besides the owner: a notification and the related Tasks, so
# they write outbox rows as the service calls of part 1 do.
BULK_OPTIONS = {"notify": True, "related_modules": [{"api_name": "Tasks"}]}


class _Alternating:
    """Owners A and B in turn, starting with A: the sets start owned by B, so every run changes
    every row."""

    def __init__(self, data) -> None:
        self.data, self.current = data, data.owner_b

    def next(self):
        data = self.data
        self.current = data.owner_a if self.current == data.owner_b else data.owner_b
        return self.current


def service_level(data) -> list[dict]:
    """Part 1: the service in process vs the same writes by hand, interleaved run by run."""
    import psycopg
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from owners import publisher
    from owners.services import RelatedSelection, change_owner

    from . import rawsql
    from .load import summary
    from .seed import CONTACTS
    from .single import publish

    raw_conn = psycopg.connect(rawsql.dsn_from_django())
    related = RelatedSelection(modules=("Tasks",))

    def service_once(size: int, owners: _Alternating) -> float:
        owner = owners.next()
        start = perf_counter()
        result = change_owner(
            organization=data.organization,
            actor=data.actor,
            module=CONTACTS,
            record_ids=data.service_sets[size],
            new_owner=owner,
            notify=True,
            related=related,
            source="api",
        )
        elapsed = (perf_counter() - start) * 1000
        assert len(result.changed_ids) == size and len(result.jobs) == 2
        assert publisher.flush()  # outside the timed part, as the yardstick's (bench/single.py)
        return elapsed

    def raw_once(size: int, owners: _Alternating) -> float:
        owner = owners.next()
        job_ids: list[int] = []
        start = perf_counter()
        _, changed = rawsql.change_owner_sql(
            raw_conn,
            organization_id=data.organization.id,
            module_id=CONTACTS.id,
            module_name=CONTACTS.api_name,
            record_ids=data.raw_sets[size],
            new_owner_id=owner.id,
            actor_id=data.actor.id,
            outbox=True,
            job_ids=job_ids,
        )
        publish(job_ids)  # the service hands its two jobs to the publisher: so does this
        elapsed = (perf_counter() - start) * 1000
        assert len(changed) == size
        assert publisher.flush()
        return elapsed

    rows = []
    for size in SIZES:
        service_owners, raw_owners = _Alternating(data), _Alternating(data)
        # Count the queries on a run of its own: capturing them costs time.
        with CaptureQueriesContext(connection) as captured:
            service_once(size, service_owners)
        for _ in range(WARMUP_RUNS):
            service_once(size, service_owners)
            raw_once(size, raw_owners)
        service_ms, raw_ms = [], []
        for _ in range(SERVICE_RUNS):
            service_ms.append(service_once(size, service_owners))
            raw_ms.append(raw_once(size, raw_owners))
        service, raw = summary(service_ms), summary(raw_ms)
        rows.append(
            {
                "size": size,
                "queries": len(captured.captured_queries),
                "service": service,
                "raw_sql": raw,
                "ratio": service["median_ms"] / raw["median_ms"],
            }
        )
    raw_conn.close()
    return rows


def http_level(data) -> dict:
    """Part 2: gunicorn on loopback, wrk in its own process."""
    from crm.oauth.grants import issue_access_token

    from .load import (
        children,
        combine_runs,
        gunicorn,
        memory_kib,
        request,
        run_wrk,
        summary,
        timed_requests,
        write_wrk_data,
    )

    token = issue_access_token(user=data.actor, scopes=[SCOPE], expires_in=timedelta(hours=3))
    headers = {"Authorization": f"Zoho-oauthtoken {token}", "Content-Type": "application/json"}
    endpoints = {
        "noop": "/bench/noop",
        "raw_sql": "/bench/raw/Contacts/%s/change_owner",
        "raw_sql_prepared": "/bench/raw-prepared/Contacts/%s/change_owner",
        "change_owner": "/bigin/v2/Contacts/%s/actions/change_owner",
    }
    bulk_path = "/bigin/v2/Contacts/actions/change_owner"
    result: dict = {"gunicorn": GUNICORN, "load_generator": "wrk (Debian) + bench/wrk/*.lua"}
    with tempfile.TemporaryDirectory() as tmp:
        data_file = Path(tmp) / "data.lua"
        write_wrk_data(
            data_file,
            token=token,
            ids=data.http_pool,
            owners=[owner.id for owner in data.owners],
            bulk=data.http_bulk,
            bulk_options=BULK_OPTIONS,
        )
        with gunicorn(**GUNICORN, env=dict(os.environ)) as (port, master):
            body = {"owner": {"id": str(data.owner_a.id)}}
            for name, template in endpoints.items():
                path = template.replace("%s", str(data.http_pool[0]))
                status, content = request(port, "POST", path, body, headers)
                if status != 200:
                    raise RuntimeError(f"{name}: {path} answered {status}: {content[:300]!r}")
            for template in endpoints.values():
                run_wrk(port=port, path_template=template, mode="single", connections=8,
                        seconds=2, data_file=data_file)  # fmt: skip
            throughput: dict[str, dict[int, dict]] = {name: {} for name in endpoints}
            for connections in HTTP_CONCURRENCY:
                runs: dict[str, list[dict]] = {name: [] for name in endpoints}
                # Interleaved, in rounds, so a slow patch of the (shared) machine hits every
                # endpoint alike.
                for _ in range(HTTP_ROUNDS):
                    for name, template in endpoints.items():
                        runs[name].append(
                            run_wrk(
                                port=port,
                                path_template=template,
                                mode="single",
                                connections=connections,
                                seconds=HTTP_SECONDS,
                                data_file=data_file,
                            )
                        )
                for name in endpoints:
                    throughput[name][connections] = combine_runs(runs[name])
            result["single"] = throughput

            # The 500-id request, one at a time, alternating the owner so each changes 500 rows;
            # with audit and outbox rows, as in part 1.
            owners = [data.owner_a, data.owner_b]
            bodies = [
                {
                    "ids": [str(i) for i in data.http_bulk],
                    "owner": {"id": str(owners[n % 2].id)},
                    **BULK_OPTIONS,
                }
                for n in range(WARMUP_RUNS + BULK_HTTP_RUNS)
            ]
            timings = timed_requests(port, bulk_path, bodies, headers)[WARMUP_RUNS:]
            result["bulk_500"] = summary(timings)

            # Memory: every worker under concurrent 500-id requests, then its peak RSS.
            result["bulk_500_load"] = run_wrk(
                port=port,
                path_template=bulk_path,
                mode="bulk",
                connections=4,
                seconds=4,
                data_file=data_file,
            )
            workers = {pid: memory_kib(pid) for pid in children(master)}
            result["memory_kib"] = {"master": memory_kib(master), "workers": workers}
    return result


def measure_scale(data, results: dict, started: float) -> None:
    """Parts 5 to 8 (bench/single.py, naive.py, bigdata.py, scale.py, transfer50k.py)."""
    from . import bigdata, naive, scale, single, transfer50k

    results["single"] = single.measure(data)
    results["naive"] = naive.measure(data)
    print(f"bench: single-record and naive peer done at {time.monotonic() - started:.0f} s",
          flush=True)  # fmt: skip
    deep = bigdata.build()
    print(f"bench: large organization ready at {time.monotonic() - started:.0f} s", flush=True)
    results["scale"] = scale.measure(deep)
    results["transfer_50k"] = transfer50k.measure(deep)
    print(f"bench: scale parts done at {time.monotonic() - started:.0f} s", flush=True)


def main() -> None:
    configure_environment()
    ensure_database(os.environ["DATABASE_URL"])
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

    import django

    django.setup()
    from django.core.management import call_command

    from . import metering, offboarding, records, report, sandbox, seed, transfer, watch

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    data = seed.build(
        sizes=SIZES,
        owner_count=OWNER_COUNT,
        http_pool_size=HTTP_POOL,
        transfer_parents=TRANSFER_PARENTS,
        tasks_per_parent=TASKS_PER_PARENT,
        transfer_sets=transfer.SETS,
    )
    print(f"bench: data ready in {time.monotonic() - started:.0f} s", flush=True)
    results = {"machine": report.machine(), "service": service_level(data)}
    print(f"bench: service level done at {time.monotonic() - started:.0f} s", flush=True)
    results["load_average_before"] = os.getloadavg()
    results["http"] = http_level(data)
    print(f"bench: HTTP done at {time.monotonic() - started:.0f} s", flush=True)
    results["metering"] = metering.measure(data)
    results["transfer"] = transfer.measure(data, runs=TRANSFER_RUNS)
    measure_scale(data, results, started)
    offboarding_result = offboarding.measure()  # part 5: its own data, table and chart
    records_result = records.measure()  # part 9: its own data and table
    results["elapsed_s"] = time.monotonic() - started
    results["load_average_after"] = os.getloadavg()
    report.publish(results)
    offboarding.publish(offboarding_result)
    records.publish(records_result)
    sandbox.publish(sandbox.measure())  # the sandbox controls (docs/sandbox.md)
    watch.publish(watch.measure())  # watch channels and the call (docs/notifications.md)


if __name__ == "__main__":
    main()
