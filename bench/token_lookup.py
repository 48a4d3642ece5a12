"""What the token lookup (crm/oauth/authentication.py), paid by every authenticated request,
costs on a direct connection and behind pgbouncer in transaction mode, against the ways it could
be sent.

- function: the product, one call of crm_access_token_lookup (a PL/pgSQL function whose plan
  each server session keeps), timed as the SQL alone and as the whole `authenticate()`, sent as
  the product sends it (parameters bound on the server: psycopg prepares the call after five
  runs on a direct connection, never behind the pooler) and, for comparison, bound by the client
  (Django's cursors; the lookup before this session);
- prepared: the same query as a SQL-level PREPARE once per connection and EXECUTE (the lookup
  before issue 25; it cannot work behind a transaction pooler), on the direct connection only;
- sent whole: the same query with its parameters, parsed and planned on every call;
- SELECT 1: the round trip's floor.

Each connection is measured in a process of its own, in autocommit as a request runs it, after
a warm-up; the ways alternate block by block and the connections round by round. Not part of
`make bench`; alone, with a pgbouncer of the CI's configuration in front of DATABASE_URL's
PostgreSQL (without PGBOUNCER_URL only the direct connection is measured):

    .ci/pgbouncer.sh --run .venv/bin/python -m bench.token_lookup

DATABASE_URL defaults to the bench's database.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from time import perf_counter

ROUNDS = int(os.environ.get("BENCH_TOKEN_ROUNDS", "3"))
BLOCKS = 4
RUNS = int(os.environ.get("BENCH_TOKEN_RUNS", "500"))
WARMUP = 100
ORGANIZATION = "Bench token lookup (bench/ scratch data)"
SCOPES = ["ZohoBigin.users.READ"]


def _query(digest: str, at: str) -> str:
    """The function's query, written out (the lookup before issue 25)."""
    from crm.models import Organization, Profile, User

    columns = ", ".join(
        f"{alias}.{field.column}"
        for model, alias in ((User, "u"), (Organization, "o"), (Profile, "p"))
        for field in model._meta.concrete_fields
    )
    return (
        f"SELECT t.id, t.scopes, {columns} FROM crm_accesstoken t"
        " JOIN crm_user u ON u.id = t.user_id"
        " JOIN crm_organization o ON o.id = u.organization_id"
        " JOIN crm_profile p ON p.id = u.profile_id"
        " LEFT JOIN crm_refreshtoken r ON r.id = t.refresh_token_id"
        f" WHERE t.token_hash = {digest} AND t.revoked_at IS NULL AND t.expires_at > {at}"
        " AND u.status = 'active' AND r.revoked_at IS NULL"
    )


def _measure(token: str, prepared: bool) -> dict[str, list[float]]:
    """In the child: microseconds per call of each way, on DATABASE_URL."""
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from crm.db_cursors import server_binding_cursor
    from crm.oauth.authentication import _LOOKUP, ZohoOAuthTokenAuthentication
    from crm.oauth.tokens import token_hash

    authentication = ZohoOAuthTokenAuthentication()
    request = Request(APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Zoho-oauthtoken {token}"))
    digest = token_hash(token)

    def sql(statement: str, with_parameters: bool = True, cursor=connection.cursor):
        def call() -> None:
            with cursor() as sent:
                sent.execute(statement, [digest, timezone.now()] if with_parameters else None)
                assert sent.fetchone() is not None

        return call

    def authenticate() -> None:
        assert authentication.authenticate(request) is not None

    ways = {
        "function (authenticate)": authenticate,
        "function": sql(_LOOKUP, cursor=server_binding_cursor),
        "function, client-bound": sql(_LOOKUP),
        "sent whole": sql(_query("%s", "%s")),
        "SELECT 1": sql("SELECT 1", with_parameters=False),
    }
    if prepared:
        connection.ensure_connection()
        connection.connection.execute(
            "PREPARE bench_token (text, timestamptz) AS " + _query("$1", "$2")
        )
        ways["prepared"] = sql("EXECUTE bench_token (%s, %s)")
    figures: dict[str, list[float]] = {name: [] for name in ways}
    for call in ways.values():
        for _ in range(WARMUP):
            call()
    for _ in range(BLOCKS):
        for name, call in ways.items():
            for _ in range(RUNS):
                started = perf_counter()
                call()
                figures[name].append((perf_counter() - started) * 1e6)
    return figures


def _seed() -> str:
    from crm.models import Organization, Profile, User
    from crm.oauth.grants import issue_access_token

    _wipe()
    organization = Organization.objects.create(name=ORGANIZATION)
    user = User.objects.create(
        organization=organization,
        email="token-lookup@bench.test",
        full_name="Bench Token",
        profile=Profile.objects.get(organization=organization, name="Administrator"),
        password="!",
    )
    return issue_access_token(user=user, scopes=SCOPES)


def _wipe() -> None:
    from django.db import transaction

    from crm.models import AccessToken, Organization, User

    with transaction.atomic():
        users = User.objects.filter(organization__name=ORGANIZATION)
        AccessToken.objects.filter(user__in=users).delete()
        users.delete()
        Organization.objects.filter(name=ORGANIZATION).delete()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> None:
    from .environment import configure_environment, ensure_database

    configure_environment()
    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    token = _seed()
    connections = {"direct": os.environ["DATABASE_URL"]}
    if os.environ.get("PGBOUNCER_URL"):
        connections["pgbouncer"] = os.environ["PGBOUNCER_URL"]
    results: dict[tuple[str, str], list[float]] = {}
    try:
        for _ in range(ROUNDS):
            for where, url in connections.items():
                child = subprocess.run(
                    [sys.executable, "-m", "bench.token_lookup", "--child", token, where],
                    env={**os.environ, "DATABASE_URL": url, "DATABASE_POOLER": "transaction"},
                    capture_output=True,
                    text=True,
                    check=True,
                )
                for way, times in json.loads(child.stdout).items():
                    results.setdefault((way, where), []).extend(times)
    finally:
        _wipe()

    calls = ROUNDS * BLOCKS * RUNS
    print(f"Token lookup, in process: {calls} calls per way and connection (us per call)")
    print(f"{'way':26} {'connection':11} {'p50':>6} {'p95':>6}")
    for (way, where), times in sorted(results.items()):
        print(
            f"{way:26} {where:11} {statistics.median(times):6.0f} {_percentile(times, 0.95):6.0f}"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(_measure(sys.argv[2], prepared=sys.argv[3] == "direct")))
    else:
        main()
