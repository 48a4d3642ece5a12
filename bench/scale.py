"""Reads at scale: deep pages and `owner_id=` on the large organization (bench/bigdata.py).

Over HTTP (gunicorn, one request at a time) against each request's floor, the same SQL by hand
on a psycopg connection of its own (the query the page needs and nothing else):

- page 1 of a 1,000,000-record module (Accounts) and of a 5,000,000-record one (Contacts);
- a page near the end of each, by `page` (OFFSET) and by `page_token` (keyset);
- `owner_id=` of an owner with 3 records and of one with 1,000,000, and that owner's deep page.

The token of a deep page is made by the product's own encoder (crm.paging) for the row where
that page starts, exactly what the product hands a client that walked there; the tests show
walking gives the same pages. Each floor also runs once under EXPLAIN (ANALYZE, BUFFERS): the
plan's root node and its buffer counts (shared hit = from shared_buffers, read = from the OS)
go into the results with the PostgreSQL settings in use.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from time import perf_counter

import psycopg

from . import rawsql
from .bigdata import ACCOUNTS, CONTACTS, DeepData
from .load import gunicorn, request, summary

READ_SCOPE = "ZohoBigin.modules.ALL"
PER_PAGE = 200
RUNS = int(os.environ.get("BENCH_SCALE_RUNS", "15"))
OFFSET_RUNS = int(os.environ.get("BENCH_SCALE_OFFSET_RUNS", "3"))
SETTINGS = (
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "random_page_cost",
    "jit",
    "max_parallel_workers_per_gather",
    "synchronous_commit",
)

_PAGE_SQL = """
    SELECT r.id, r.name, r.fields, r.created_time, r.modified_time, u.id, u.full_name, u.email
    FROM crm_record r LEFT JOIN crm_user u ON u.id = r.owner_id
    WHERE r.organization_id = %s AND r.module_id = %s {owner} {after}
    ORDER BY r.id LIMIT {limit} {offset}
"""


def _floor_sql(*, owner: bool, after: bool, offset: int) -> str:
    return _PAGE_SQL.format(
        owner="AND r.owner_id = %s" if owner else "",
        after="AND r.id > %s" if after else "",
        limit=PER_PAGE + 1,
        offset=f"OFFSET {offset}" if offset else "",
    )


def _start_id(conn, organization_id: int, module_id: int, owner_id: int | None, offset: int):
    """The id of the last row before `offset` (what the previous page's token carries)."""
    owner = "AND owner_id = %s" if owner_id else ""
    params = [organization_id, module_id] + ([owner_id] if owner_id else []) + [offset - 1]
    row = conn.execute(
        f"SELECT id FROM crm_record WHERE organization_id = %s AND module_id = %s {owner}"
        " ORDER BY id OFFSET %s LIMIT 1",
        params,
    ).fetchone()
    return row[0]


def _cases(conn, data: DeepData) -> list[dict]:
    from crm.paging import encode, records_scope

    org = data.organization.id
    cases = []

    def add(name, module, size, *, page=1, token_page=None, owner=None, floor_of=None):
        path = f"/bigin/v2/{module.api_name}?per_page={PER_PAGE}"
        if owner:
            path += f"&owner_id={owner}"
        params = [org, module.id] + ([owner] if owner else [])
        offset = (page - 1) * PER_PAGE
        sql = _floor_sql(owner=bool(owner), after=False, offset=offset)
        if token_page:
            offset = (token_page - 1) * PER_PAGE
            after = _start_id(conn, org, module.id, owner, offset)
            scope = records_scope(
                organization_id=org,
                module_id=module.id,
                sort_by="id",
                sort_order="asc",
                owner_id=owner,
            )
            token, _ = encode(scope, [after], token_page)
            path += f"&page_token={token}"
            sql = _floor_sql(owner=bool(owner), after=True, offset=0)
            params.append(after)
        elif page > 1:
            path += f"&page={page}"
        cases.append(
            {
                "name": name,
                "records": size,
                "path": path,
                "sql": sql,
                "params": params,
                "deep_offset": page > 1,
            }
        )

    for module, size in ((ACCOUNTS, data.small), (CONTACTS, data.large)):
        label = f"{size // 1_000_000}M" if size >= 1_000_000 else f"{size:,}"
        last = max(2, size // PER_PAGE - 10)
        add(f"{label} page 1", module, size)
        add(f"{label} page {last} (page)", module, size, page=last)
        add(f"{label} page {last} (page_token)", module, size, token_page=last)
    huge, rare = data.huge_owner.id, data.rare_owner.id
    huge_count = data.large // 5
    add("owner_id rare (3 records)", CONTACTS, data.large, owner=rare)
    add(f"owner_id huge ({huge_count:,} records)", CONTACTS, data.large, owner=huge)
    last = max(2, huge_count // PER_PAGE - 10)
    add(
        f"owner_id huge page {last} (page_token)", CONTACTS, data.large, owner=huge, token_page=last
    )
    return cases


def _explain(conn, sql: str, params: list) -> dict:
    rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
    lines = [row[0] for row in rows]
    top = next(line.strip() for line in lines if "->" not in line and "(cost=" in line)
    nodes = [line.strip().lstrip("-> ") for line in lines if "(cost=" in line]
    buffers = next((line.strip() for line in lines if line.strip().startswith("Buffers:")), "")
    indexes = sorted(set(re.findall(r"using (\w+)", "\n".join(lines))))
    seq_scan = any("Seq Scan" in node for node in nodes)
    return {
        "root": top,
        "buffers": buffers,
        "indexes": indexes,
        "seq_scan": seq_scan,
        "plan": lines,
    }


def _time_sql(conn, sql: str, params: list, runs: int) -> dict:
    timings = []
    for _ in range(runs + 1):
        start = perf_counter()
        conn.execute(sql, params).fetchall()
        timings.append((perf_counter() - start) * 1000)
    return summary(timings[1:])


def _time_http(port: int, path: str, headers: dict, runs: int) -> dict:
    timings = []
    for n in range(runs + 1):
        start = perf_counter()
        status, body = request(port, "GET", path, None, headers)
        elapsed = (perf_counter() - start) * 1000
        if status != 200:
            raise RuntimeError(f"{path[:120]} answered {status}: {body[:300]!r}")
        if n:
            timings.append(elapsed)
    return summary(timings)


def settings_and_sizes(conn) -> dict:
    settings = {
        name: conn.execute(f"SHOW {name}").fetchone()[0]  # names from the constant above
        for name in SETTINGS
    }
    sizes = dict(
        conn.execute(
            "SELECT c.relname, pg_size_pretty(pg_total_relation_size(c.oid))"
            " FROM pg_class c WHERE c.relname IN ('crm_record', 'audit_auditentry')"
        ).fetchall()
    )
    indexes = dict(
        conn.execute(
            "SELECT indexrelname, pg_size_pretty(pg_relation_size(indexrelid))"
            " FROM pg_stat_user_indexes WHERE relname = 'crm_record' ORDER BY indexrelname"
        ).fetchall()
    )
    return {"settings": settings, "table_sizes": sizes, "record_indexes": indexes}


def measure(data: DeepData) -> dict:
    from crm.oauth.grants import issue_access_token

    conn = psycopg.connect(rawsql.dsn_from_django(), autocommit=True)
    cases = _cases(conn, data)
    token = issue_access_token(user=data.actor, scopes=[READ_SCOPE], expires_in=timedelta(hours=3))
    headers = {"Authorization": f"Zoho-oauthtoken {token}"}
    results = []
    with gunicorn(workers=2, worker_class="sync", threads=1, env=dict(os.environ)) as (port, _):
        for case in cases:
            runs = OFFSET_RUNS if case["deep_offset"] else RUNS
            http = _time_http(port, case["path"], headers, runs)
            floor = _time_sql(conn, case["sql"], case["params"], runs)
            plan = _explain(conn, case["sql"], case["params"])
            results.append(
                {
                    "name": case["name"],
                    "records": case["records"],
                    "http": http,
                    "floor_sql": floor,
                    "explain": plan,
                }
            )
    extra = settings_and_sizes(conn)
    conn.close()
    return {"cases": results, **extra, "load_seconds": data.load_seconds}
