"""Records a client writes (part 9): the record APIs against the same work by hand.

- Adding 100 contacts (`owners.records.writes.add_records`: every row checked against the
  module's fields, its email against the others', one INSERT, one audit INSERT) vs the same
  writes as hand-written SQL on a psycopg connection of its own: the duplicate check of the
  emails, the INSERT from `unnest` and the audit INSERT, in one transaction.
- Updating 100 contacts (`update_records`: a field and the owner of each) vs by hand: the ordered
  lock, the UPDATE of the fields, the UPDATE of the owners, the audit INSERT.
  Both in process, interleaved run by run, on an organization of `BENCH_RECORDS_SEARCH` contacts.
- Searching by email (`GET /bigin/v2/Contacts/search?email=`, gunicorn, one request at a time) in
  an organization of 1,000,000 contacts and in one of 1,000, each against its floor: the page
  query by hand (the indexed lookup and the owner's join).

The organizations are kept between runs (loading a million contacts takes a while); the records
the runs add are deleted at the end. Writes bench/results/records.json; `publish` prints the
table and rewrites the docs' block.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LARGE_ORG = "Records bench (bench/ scale data, kept between runs)"
SMALL_ORG = "Records bench small (bench/ scale data, kept between runs)"
LARGE = int(os.environ.get("BENCH_RECORDS_SEARCH", "1000000"))
SMALL = 1_000
RUNS = int(os.environ.get("BENCH_RECORDS_RUNS", "30"))
WARMUP = 3
BATCH = 100
# Record ids of the loaded contacts: far below what crm.ids hands out (10**18 and up) and away
# from the other benches' ranges (bench/bigdata.py, bench/offboarding.py).
LARGE_BASE = (1 << 41) + 400_000_000
SMALL_BASE = (1 << 41) + 390_000_000
SCOPES = ["ZohoBigin.modules.ALL", "ZohoSearch.securesearch.READ"]


def _organization(name: str):
    from crm.models import Organization, Profile, User

    organization, _ = Organization.objects.get_or_create(name=name)
    profile = Profile.objects.get(organization=organization, name="Administrator")
    slug = "large" if name == LARGE_ORG else "small"
    users = [
        User.objects.get_or_create(
            email=f"records-{slug}-{n}@bench-records.test",
            defaults={"organization": organization, "full_name": f"Writer {n}", "profile": profile},
        )[0]
        for n in range(3)
    ]
    return organization, users


def _load(organization, owner, count: int, base: int) -> float | None:
    """`count` contacts with an email each, unless they are there already; seconds taken."""
    from django.db import connection, transaction

    from crm.modules import module_by_name

    contacts = module_by_name("Contacts")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM crm_record WHERE organization_id = %s AND module_id = %s"
            " AND id BETWEEN %s AND %s",
            [organization.id, contacts.id, base, base + count],
        )
        if cursor.fetchone()[0] == count:
            return None
    start = perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM crm_record WHERE organization_id = %s", [organization.id])
        cursor.execute(
            "INSERT INTO crm_record (id, organization_id, module_id, owner_id, name, fields,"
            " created_time, modified_time)"
            " SELECT %s + g, %s, %s, %s, 'Contact ' || g,"
            " jsonb_build_object('Last_Name', 'Contact ' || g,"
            " 'Email', 'c' || g || '@records.test'),"
            " now(), now() FROM generate_series(1, %s) AS g",
            [base, organization.id, contacts.id, owner.id, count],
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_record")
    return perf_counter() - start


# The yardsticks: the same writes by hand ---------------------------------------------------

_DUPLICATES = """
    SELECT id FROM crm_record WHERE organization_id = %s AND module_id = %s
    AND lower(fields ->> 'Email') = ANY(%s::text[])
"""
_INSERT = """
    INSERT INTO crm_record (id, organization_id, module_id, owner_id, name, fields,
        created_time, modified_time, owner_changed_time, modified_by_id, created_by_id)
    SELECT r.id, %s, %s, %s, r.name, r.fields::jsonb, %s, %s, %s, %s, %s
    FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS r(id, name, fields)
"""
_AUDIT = """
    INSERT INTO audit_auditentry (id, organization_id, module_id, record_id, previous_owner_id,
        new_owner_id, actor_id, source, batch_id, created_time)
    SELECT a.id, %s, %s, a.record_id, a.previous_owner_id, a.new_owner_id, %s, %s, %s, %s
    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])
        AS a(id, record_id, previous_owner_id, new_owner_id)
"""
_LOCK = """
    SELECT id, owner_id, fields FROM crm_record
    WHERE organization_id = %s AND module_id = %s AND id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE
"""
_UPDATE_FIELDS = """
    UPDATE crm_record AS r SET fields = c.fields::jsonb, modified_time = %s, modified_by_id = %s
    FROM unnest(%s::bigint[], %s::text[]) AS c(id, fields)
    WHERE r.organization_id = %s AND r.id = c.id
"""
_UPDATE_OWNERS = """
    UPDATE crm_record AS r SET owner_id = c.owner_id, modified_time = %s,
        owner_changed_time = %s, modified_by_id = %s
    FROM unnest(%s::bigint[], %s::bigint[]) AS c(id, owner_id)
    WHERE r.organization_id = %s AND r.id = c.id
"""


def raw_add(conn, *, organization_id, module_id, actor_id, rows) -> None:
    from crm.ids import new_id

    now = datetime.now(UTC)
    ids = [new_id() for _ in rows]
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(
            _DUPLICATES, [organization_id, module_id, [row["Email"].lower() for row in rows]]
        )
        assert cursor.fetchall() == []
        cursor.execute(
            _INSERT,
            [organization_id, module_id, actor_id, now, now, now, actor_id, actor_id, ids,
             [row["Last_Name"] for row in rows], [json.dumps(row) for row in rows]],
        )  # fmt: skip
        cursor.execute(
            _AUDIT,
            [organization_id, module_id, actor_id, "insert", uuid.uuid4(), now,
             [new_id() for _ in rows], ids, [None] * len(rows), [actor_id] * len(rows)],
        )  # fmt: skip


def raw_update(conn, *, organization_id, module_id, actor_id, changes) -> None:
    """`changes`: (record id, new fields, new owner id) each."""
    from crm.ids import new_id

    now = datetime.now(UTC)
    ids = sorted(record_id for record_id, _, _ in changes)
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(_LOCK, [organization_id, module_id, ids])
        current = {record_id: (owner, fields) for record_id, owner, fields in cursor.fetchall()}
        merged = [json.dumps({**current[rid][1], **fields}) for rid, fields, _ in changes]
        cursor.execute(
            _UPDATE_FIELDS,
            [now, actor_id, [rid for rid, _, _ in changes], merged, organization_id],
        )
        moved = [(rid, owner) for rid, _, owner in changes if current[rid][0] != owner]
        cursor.execute(
            _UPDATE_OWNERS,
            [now, now, actor_id, [rid for rid, _ in moved], [owner for _, owner in moved],
             organization_id],
        )  # fmt: skip
        cursor.execute(
            _AUDIT,
            [organization_id, module_id, actor_id, "update", uuid.uuid4(), now,
             [new_id() for _ in moved], [rid for rid, _ in moved],
             [current[rid][0] for rid, _ in moved], [owner for _, owner in moved]],
        )  # fmt: skip


def _writes(organization, users) -> dict:
    """Add and update 100 contacts, product and yardstick interleaved."""
    import psycopg
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.modules import module_by_name
    from owners.records import writes

    from . import rawsql
    from .load import summary

    contacts = module_by_name("Contacts")
    actor = users[0]
    conn = psycopg.connect(rawsql.dsn_from_django())
    counter = iter(range(10**9))

    def batch():
        n = next(counter)
        return [
            {"Last_Name": f"Added {n}-{i}", "Email": f"added{n}-{i}@records.test"}
            for i in range(BATCH)
        ]

    def product_add() -> float:
        rows = batch()
        start = perf_counter()
        result = writes.add_records(
            organization=organization, actor=actor, module=contacts, rows=rows
        )
        elapsed = (perf_counter() - start) * 1000
        assert all(outcome.ok for outcome in result.outcomes)
        return elapsed

    def yardstick_add() -> float:
        rows = batch()
        start = perf_counter()
        raw_add(conn, organization_id=organization.id, module_id=contacts.id, actor_id=actor.id,
                rows=rows)  # fmt: skip
        return (perf_counter() - start) * 1000

    # Two sets of 100 loaded contacts, one for each side; each run gives every record the other
    # of two owners, so every run changes every owner.
    sets = [list(range(LARGE_BASE + 1 + n * BATCH, LARGE_BASE + 1 + (n + 1) * BATCH))
            for n in range(2)]  # fmt: skip
    turns = {0: iter(range(10**9)), 1: iter(range(10**9))}

    def owner_for(side: int):
        return users[1 + next(turns[side]) % 2]

    def product_update() -> float:
        owner = owner_for(0)
        rows = [{"id": str(rid), "Title": f"T{rid % 7}", "Owner": {"id": str(owner.id)}}
                for rid in sets[0]]  # fmt: skip
        start = perf_counter()
        result = writes.update_records(
            organization=organization, actor=actor, module=contacts, rows=rows
        )
        elapsed = (perf_counter() - start) * 1000
        assert all(outcome.ok for outcome in result.outcomes)
        return elapsed

    def yardstick_update() -> float:
        owner = owner_for(1)
        changes = [(rid, {"Title": f"T{rid % 7}"}, owner.id) for rid in sets[1]]
        start = perf_counter()
        raw_update(conn, organization_id=organization.id, module_id=contacts.id,
                   actor_id=actor.id, changes=changes)  # fmt: skip
        return (perf_counter() - start) * 1000

    out = {}
    for name, product, yardstick in (
        ("add_100", product_add, yardstick_add),
        ("update_100", product_update, yardstick_update),
    ):
        with CaptureQueriesContext(connection) as captured:
            product()
        for _ in range(WARMUP):
            product(), yardstick()
        ours, raw = [], []
        for _ in range(RUNS):
            ours.append(product())
            raw.append(yardstick())
        service, floor = summary(ours), summary(raw)
        out[name] = {
            "queries": len(captured.captured_queries),
            "service": service,
            "raw_sql": floor,
            "ratio": service["median_ms"] / floor["median_ms"],
        }
    conn.close()
    return out


_SEARCH_FLOOR = """
    SELECT r.id, r.fields, r.created_time, r.modified_time, u.id, u.full_name, u.email
    FROM crm_record r LEFT JOIN crm_user u ON u.id = r.owner_id
    WHERE r.organization_id = %s AND r.module_id = %s AND lower(r.fields ->> 'Email') = %s
    ORDER BY r.id LIMIT 201
"""


def _search(cases) -> dict:
    """Search by email over HTTP in each organization, and its floor by hand."""
    import psycopg

    from crm.modules import module_by_name
    from crm.oauth.grants import issue_access_token

    from . import rawsql
    from .load import gunicorn, request, summary
    from .scale import _explain

    contacts = module_by_name("Contacts")
    conn = psycopg.connect(rawsql.dsn_from_django(), autocommit=True)
    out = {}
    with gunicorn(workers=2, worker_class="sync", threads=1, env=dict(os.environ)) as (port, _):
        for name, (organization, user, count) in cases.items():
            token = issue_access_token(user=user, scopes=SCOPES, expires_in=timedelta(hours=1))
            headers = {"Authorization": f"Zoho-oauthtoken {token}"}
            emails = [f"c{1 + (n * 7919) % count}@records.test" for n in range(RUNS + WARMUP)]
            http, floor = [], []
            for n, email in enumerate(emails):
                start = perf_counter()
                status, body = request(
                    port, "GET", f"/bigin/v2/Contacts/search?email={email.upper()}", None, headers
                )
                elapsed = (perf_counter() - start) * 1000
                if status != 200:
                    raise RuntimeError(f"search answered {status}: {body[:300]!r}")
                start = perf_counter()
                rows = conn.execute(_SEARCH_FLOOR, [organization.id, contacts.id, email]).fetchall()
                floor_ms = (perf_counter() - start) * 1000
                assert len(rows) == 1
                if n >= WARMUP:
                    http.append(elapsed)
                    floor.append(floor_ms)
            plan = _explain(conn, _SEARCH_FLOOR, [organization.id, contacts.id, emails[0]])
            out[name] = {
                "records": count,
                "http": summary(http),
                "raw_sql": summary(floor),
                "indexes": plan["indexes"],
                # Of the records (the owner's row comes from crm_user, a handful of rows that
                # PostgreSQL rightly reads whole).
                "seq_scan": any("Seq Scan on crm_record" in line for line in plan["plan"]),
                "root": plan["root"],
            }
    conn.close()
    return out


def _cleanup(organizations) -> None:
    """The records the runs added (ids of crm.ids, above the loaded ranges) and their audit."""
    from django.db import connection

    with connection.cursor() as cursor:
        for organization in organizations:
            cursor.execute(
                "DELETE FROM crm_record WHERE organization_id = %s AND id >= %s",
                [organization.id, 10**18],
            )
            cursor.execute(
                "DELETE FROM audit_auditentry WHERE organization_id = %s", [organization.id]
            )


def measure() -> dict:
    large, large_users = _organization(LARGE_ORG)
    small, small_users = _organization(SMALL_ORG)
    load_seconds = _load(large, large_users[1], LARGE, LARGE_BASE)
    _load(small, small_users[1], SMALL, SMALL_BASE)
    try:
        result = {
            "batch": BATCH,
            "runs": RUNS,
            "large_records": LARGE,
            "load_seconds": load_seconds,
            "writes": _writes(large, large_users),
            "search": _search(
                {
                    "large": (large, large_users[0], LARGE),
                    "small": (small, small_users[0], SMALL),
                }
            ),
        }
    finally:
        _cleanup([large, small])
    return result


def targets(result: dict) -> list[dict]:
    writes, search = result["writes"], result["search"]
    rows = [
        {
            "target": f"{BATCH}-record {name.split('_')[0]}, service / raw SQL",
            "value": writes[name]["ratio"],
            "limit": "<= 2.0",
            "pass": writes[name]["ratio"] <= 2.0,
        }
        for name in ("add_100", "update_100")
    ]
    rows.append(
        {
            "target": f"search by email, HTTP at {search['large']['records']:,} / at "
            f"{search['small']['records']:,} records",
            "value": search["large"]["http"]["median_ms"] / search["small"]["http"]["median_ms"],
            "limit": "<= 1.5",
            "pass": search["large"]["http"]["median_ms"]
            <= 1.5 * search["small"]["http"]["median_ms"]
            and not search["large"]["seq_scan"],
        }
    )
    return rows


def lines(result: dict) -> list[str]:
    writes, search = result["writes"], result["search"]
    out = [
        f"9. Records a client writes ({result['large_records']:,} contacts in the organization;"
        f" ms, median / p95 over {result['runs']} runs)",
        f"{'':<22} {'queries':>7} {'service':>17} {'raw SQL':>17} {'ratio':>6}",
    ]
    for name in ("add_100", "update_100"):
        row = writes[name]
        s, r = row["service"], row["raw_sql"]
        out.append(
            f"{name.replace('_', ' '):<22} {row['queries']:>7} "
            f"{s['median_ms']:>8.2f} /{s['p95_ms']:>7.2f} "
            f"{r['median_ms']:>8.2f} /{r['p95_ms']:>7.2f} {row['ratio']:>6.2f}"
        )
    out.append(f"{'search by email':<22} {'records':>9} {'HTTP':>17} {'raw SQL':>17}  index")
    for name in ("small", "large"):
        row = search[name]
        h, r = row["http"], row["raw_sql"]
        out.append(
            f"{'':<22} {row['records']:>9,} {h['median_ms']:>8.2f} /{h['p95_ms']:>7.2f} "
            f"{r['median_ms']:>8.2f} /{r['p95_ms']:>7.2f}  {', '.join(row['indexes'])}"
        )
    return out


def publish(result: dict) -> None:
    from . import publish_docs

    result["targets"] = targets(result)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "records.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join([*lines(result), *publish_docs.verdicts(result["targets"])]))
    print(f"Wrote {RESULTS_DIR / 'records.json'}")
    for path in publish_docs.publish():
        print(f"Rewrote the generated blocks of {path.relative_to(publish_docs.ROOT)}")


if __name__ == "__main__":
    from .environment import setup_django_alone

    setup_django_alone()
    publish(measure())
