"""Many hosts on one machine (docs/deployment.md): two gunicorn instances, two Celery workers and
beat, pgbouncer in transaction mode, a PostgreSQL and a Redis of this test's own (so it may
restart them). Client threads send bulk and single change owner, record adds, reads and mass
changes; meanwhile a worker is killed with SIGKILL, Redis restarted, PostgreSQL restarted. Then:
every error a client saw is a 503 with Retry-After or a 429, in the API's envelope, never a
500; once the jobs have settled, the model test's invariants hold on the database
(tests/owners/invariants.py), nothing was done twice, and no job is left behind.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import IN_CI
from tests.integration.conftest import wait_until
from tests.integration.live import live_gunicorn  # noqa: F401 (the fixture)
from tests.integration.pgbouncer import start_pgbouncer

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    # Transactional: the flush afterwards would leave content types that the serialized_rollback
    # tests after it insert again (duplicate key); serialized_rollback puts them back instead.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PG_BIN = (
    Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1])
    if Path("/usr/lib/postgresql").exists()
    else None
)
PORTS = range(55436, 55440)
LOAD_SECONDS = 40
CLIENTS = 6
# Short leases and time limits, so a killed worker's job is taken over within the test.
JOB_ENV = {
    "CELERY_TASK_TIME_LIMIT": "10",
    "CELERY_TASK_SOFT_TIME_LIMIT": "8",
    "OUTBOX_LEASE_SECONDS": "12",
    "OUTBOX_SWEEP_GRACE_SECONDS": "2",
    "RELATED_OWNER_DELAY_SECONDS": "1",
    "TRANSFER_JOB_CHUNK": "40",
}


def _missing(program: str) -> None:
    if IN_CI:
        pytest.fail(f"{program} (CI=true: a missing service is a failure, not a skip)")
    pytest.skip(program)


def _as_postgres(*command: str, **kwargs) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    return subprocess.run([*prefix, *command], check=False, capture_output=True, **kwargs)


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own under a temporary directory."""

    def __init__(self, workdir: Path) -> None:
        self.data = workdir / "pgdata"
        self.log = workdir / "postgres.log"
        self.port = 0

    def _ctl(self, action: str, *extra: str) -> bool:
        options = (
            f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=100"
        )
        done = _as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-o",
            options,
            *extra,
            action,
        )
        return done.returncode == 0

    def start(self) -> None:
        initdb = _as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        )
        assert initdb.returncode == 0, initdb.stderr
        # These ports lie in Linux's ephemeral range: one may be held by a client socket.
        for port in PORTS:
            self.port = port
            if self._ctl("start"):
                return
        pytest.fail(f"PostgreSQL did not start on any of {list(PORTS)}:\n{self.log.read_text()}")

    def restart(self) -> None:
        assert self._ctl("restart", "-m", "fast"), self.log.read_text()

    def stop(self) -> None:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def url(self, database: str = "bigin") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture
def private_postgres():
    if PG_BIN is None or not (PG_BIN / "initdb").exists():
        _missing("needs PostgreSQL's server programs (apt-get install postgresql)")
    # Under /tmp, not pytest's tmp_path: the postgres user must reach it, and a socket path
    # must stay short.
    workdir = Path(tempfile.mkdtemp(prefix="topology-", dir="/tmp"))
    if os.getuid() == 0:
        shutil.chown(workdir, "postgres")
    server = PrivatePostgres(workdir)
    server.start()
    created = subprocess.run(
        ["psql", "-w", server.url("postgres"), "-c", "CREATE DATABASE bigin"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def pgbouncer(private_postgres):
    bouncer = start_pgbouncer(Path(private_postgres.data.parent), server_port=private_postgres.port)
    yield bouncer.url("bigin")
    bouncer.stop()


@pytest.fixture
def start_beat(tmp_path):
    """`start_beat(env)`: `celery -A config beat` (the outbox sweep, the audit partitions)."""
    processes: list[subprocess.Popen] = []

    def start(env: dict[str, str]) -> None:
        with (tmp_path / "beat.log").open("wb") as out:
            command = [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"]
            processes.append(
                subprocess.Popen(
                    [*command, f"--schedule={tmp_path / 'beat-schedule'}"],
                    cwd=settings.BASE_DIR,
                    env={**os.environ, **env},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=15)


def _manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


SEED = """
import json
from crm.modules import module_by_name
from crm.oauth.grants import issue_access_token
from tests.factories import OrganizationFactory, RecordFactory, UserFactory

organization = OrganizationFactory(name="Topology", edition="premier")
admin = UserFactory(organization=organization, email="ann@topology.test")
users = [admin] + [
    UserFactory(organization=organization, email=f"u{n}@topology.test") for n in range(3)
]
contacts = [
    RecordFactory(organization=organization, owner=users[n % 4], module_name="Contacts")
    for n in range(300)
]
tasks = [
    RecordFactory(organization=organization, owner=c.owner, module_name="Tasks", related_to=c)
    for c in contacts[:100]
]
token = issue_access_token(
    user=admin,
    scopes=["ZohoBigin.change_owner.ALL", "ZohoBigin.modules.ALL", "ZohoBigin.users.ALL"],
)
print(json.dumps({
    "organization": organization.id,
    "users": [u.id for u in users],
    "contacts": [c.id for c in contacts],
    "token": token,
}))
"""

CHECK = """
import json, sys
from collections import Counter
from audit.models import AuditEntry
from crm.models import Organization, Record
from owners.models import OutboxEntry, TransferJob
from tests.owners.invariants import FINISHED, check_owner_invariants

seed = json.loads(sys.stdin.read())
organization = Organization.objects.get(id=seed["organization"])
first = dict(seed["first_owner"])
first = {int(k): v for k, v in first.items()}
check_owner_invariants(organization, first)
# Nothing done twice: a record changes at most once per batch and source.
rows = AuditEntry.objects.filter(organization=organization).values_list(
    "batch_id", "record_id", "source"
)
twice = [key for key, n in Counter(rows).items() if n > 1]
assert not twice, twice[:10]
open_entries = OutboxEntry.objects.filter(
    organization=organization, status__in=["pending", "running"]
).count()
unfinished = TransferJob.objects.filter(organization=organization).exclude(
    status__in=FINISHED
).count()
print(json.dumps({
    "open_entries": open_entries,
    "unfinished_jobs": unfinished,
    "audit_rows": AuditEntry.objects.filter(organization=organization).count(),
    "records": Record.objects.filter(organization=organization).count(),
    "jobs": TransferJob.objects.filter(organization=organization).count(),
}))
"""


class Load:
    """Client threads against the two web instances; every answer kept by status."""

    def __init__(self, urls: list[str], seed: dict) -> None:
        self.urls = urls
        self.seed = seed
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.answers: Counter[tuple[str, int]] = Counter()
        self.latencies: list[float] = []
        self.wrong: list[tuple] = []
        self.stop = threading.Event()

    def call(self, kind: str, method: str, path: str, body: dict | None = None) -> None:
        request = urllib.request.Request(
            random.choice(self.urls) + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Authorization": f"Zoho-oauthtoken {self.seed['token']}",
                "Content-Type": "application/json",
            },
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                status, headers, raw = answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as refused:
            status, headers, raw = refused.code, refused.headers, refused.read()
        except OSError as lost:  # no answer at all (reset, timeout): never acceptable
            status, headers, raw = 0, {}, repr(lost).encode()
        elapsed = time.perf_counter() - started
        with self.lock:
            self.statuses[status] += 1
            self.answers[kind, status] += 1
            self.latencies.append(elapsed)
            if not 200 <= status < 300 and not self.acceptable(status, headers, raw):
                self.wrong.append((method, path, status, raw[:300]))

    @staticmethod
    def acceptable(status: int, headers, raw: bytes) -> bool:
        try:
            body = json.loads(raw)
        except ValueError:
            return False
        if status == 503:
            return body.get("code") == "SERVICE_UNAVAILABLE" and bool(headers.get("Retry-After"))
        return status == 429 and body.get("code") == "TOO_MANY_REQUESTS"

    def client(self) -> None:
        rng = random.Random()
        contacts, users = self.seed["contacts"], self.seed["users"]
        while not self.stop.is_set():
            owner = {"id": str(rng.choice(users))}
            action = rng.random()
            if action < 0.3:
                self.call(
                    "single",
                    "POST",
                    f"/bigin/v2/Contacts/{rng.choice(contacts)}/actions/change_owner",
                    {"owner": owner},
                )
            elif action < 0.5:
                ids = [str(i) for i in rng.sample(contacts, 20)]
                self.call(
                    "bulk",
                    "POST",
                    "/bigin/v2/Contacts/actions/change_owner",
                    {"ids": ids, "owner": owner, "related_modules": [{"api_name": "Tasks"}]},
                )
            elif action < 0.6:
                self.call("add", "POST", "/bigin/v2/Contacts", {"data": [{"Last_Name": "Load"}]})
            elif action < 0.65:
                source = {
                    "field": {"api_name": "Owner"},
                    "comparator": "equal",
                    "value": {"id": str(rng.choice(users))},
                }
                self.call(
                    "mass",
                    "POST",
                    "/bigin/v2/Contacts/actions/mass_change_owner",
                    {"owner": owner, "criteria": source},
                )
            else:
                self.call("read", "GET", "/bigin/v2/Contacts?per_page=50")

    def figures(self) -> str:
        ordered = sorted(self.latencies)
        p50 = ordered[len(ordered) // 2] * 1000
        p99 = ordered[int(len(ordered) * 0.99)] * 1000
        by_status = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        return f"{len(ordered)} requests ({by_status}); p50 {p50:.0f} ms, p99 {p99:.0f} ms"


def test_many_hosts_under_load_with_faults_lose_nothing_and_answer_no_500(
    private_postgres,
    pgbouncer,
    redis_server,
    live_gunicorn,  # noqa: F811
    start_worker,
    start_beat,
    tmp_path,
):
    direct = {"DATABASE_URL": private_postgres.url(), "REDIS_URL": "", "DJANGO_SECRET_KEY": "t"}
    _manage(direct, "migrate", "--no-input")
    seed = json.loads(_manage(direct, "shell", "-c", SEED).strip().splitlines()[-1])
    first_owner = dict(
        tuple(map(int, line.split(","))) for line in _psql(private_postgres, RECORD_OWNERS, seed)
    )
    queue = "topology"
    env = {
        **JOB_ENV,
        "DATABASE_URL": pgbouncer,
        "DATABASE_POOLER": "transaction",
        "REDIS_URL": redis_server.url,
        "CELERY_BROKER_URL": redis_server.url,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
    }
    # Two web instances on one host: each starts cleanly (its own control socket).
    runtime = tmp_path / "run"
    runtime.mkdir()
    webs = [live_gunicorn(workers=2, XDG_RUNTIME_DIR=str(runtime), **env) for _ in range(2)]
    workers = [start_worker(redis_server.url, queue, **env) for _ in range(2)]
    start_beat(env)
    load = Load([web.url for web in webs], seed)
    threads = [threading.Thread(target=load.client, daemon=True) for _ in range(CLIENTS)]
    try:
        for thread in threads:
            thread.start()
        started = time.monotonic()
        faults = [
            (8, "a worker killed", lambda: workers[0].kill()),
            (16, "Redis restarted", lambda: (redis_server.stop(), redis_server.start())),
            (26, "PostgreSQL restarted", private_postgres.restart),
        ]
        for at, what, fault in faults:
            time.sleep(max(0.0, started + at - time.monotonic()))
            print(f"topology: t={time.monotonic() - started:.0f}s {what}")
            fault()
        # A supervisor starts the killed worker again.
        workers.append(start_worker(redis_server.url, queue, **env))
        time.sleep(max(0.0, started + LOAD_SECONDS - time.monotonic()))
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=90)
    print(f"topology: {load.figures()}")

    # A failure says what the clients got and what the servers logged: the tmp dir with the
    # logs is gone by the time anyone reads a CI run.
    assert load.wrong == [], _diagnosis(load, webs)
    assert load.statuses[500] == 0, _diagnosis(load, webs)
    for web in webs:
        assert "Control server error" not in web.log_text()
        assert "already in use" not in web.log_text()
    # Each with a control socket of its own (config/gunicorn.py), in the same runtime directory.
    sockets = [re.search(r"Control socket listening at (\S+)", web.log_text()) for web in webs]
    assert all(sockets), [web.log_text()[:2000] for web in webs]
    assert len({Path(found.group(1)) for found in sockets}) == 2
    assert all(Path(found.group(1)).parent == runtime for found in sockets)

    def settled() -> bool:
        return _psql(private_postgres, OPEN_WORK, seed) == ["0"]

    wait_until(settled, what="every job and outbox entry to finish", timeout=150)
    checked = _manage(
        direct, "shell", "-c", CHECK, stdin=json.dumps({**seed, "first_owner": first_owner})
    )
    final = json.loads(checked.strip().splitlines()[-1])
    print(f"topology: settled: {final}")
    # Nothing lost, nothing added twice: the 400 seeded records and one per add answered 201
    # (a 503 added nothing); one job per mass change answered 202.
    assert final["records"] == 400 + load.answers["add", 201]
    assert final["jobs"] == load.answers["mass", 202]


RECORD_OWNERS = "SELECT id, owner_id FROM crm_record WHERE organization_id = {organization}"
OPEN_WORK = """SELECT (SELECT count(*) FROM owners_outboxentry
    WHERE organization_id = {organization} AND status IN ('pending', 'running'))
    + (SELECT count(*) FROM owners_transferjob
    WHERE organization_id = {organization} AND status NOT IN ('completed', 'failed'))"""


# What starts a server-side account of a failure in a gunicorn log: Django's "Internal Server
# Error: <path>", the exception handler's "Unexpected failure in <view>", a bare traceback, a
# gunicorn [ERROR] line (a worker timeout or crash).
_FAILURE_STARTS = (
    "Traceback",
    "Internal Server Error",
    "Unexpected failure",
    "[ERROR]",
    "[CRITICAL]",
)
_FAILURE_LINES = 80  # of each account
_FAILURE_ACCOUNTS = 5  # per log


def _server_failures(log: str) -> list[str]:
    """The accounts of failures in a gunicorn log, each its first line and what follows."""
    lines = log.splitlines()
    accounts: list[str] = []
    skip_to = 0
    for number, line in enumerate(lines):
        if number < skip_to or not any(start in line for start in _FAILURE_STARTS):
            continue
        accounts.append("\n".join(lines[number : number + _FAILURE_LINES]))
        skip_to = number + _FAILURE_LINES
    return accounts


def _diagnosis(load: Load, webs) -> str:
    """What the clients got that they should not have, and each gunicorn's failures."""
    parts = [load.figures(), "clients got:"]
    parts += [f"  {method} {path} -> {status} {raw!r}" for method, path, status, raw in load.wrong]
    for web in webs:
        accounts = _server_failures(web.log_text())
        parts.append(f"--- {web.url} ({web.log}): {len(accounts)} failure(s) logged")
        parts += accounts[:_FAILURE_ACCOUNTS]
    return "\n".join(parts)


def _psql(server: PrivatePostgres, query: str, seed: dict) -> list[str]:
    out = subprocess.run(
        ["psql", "-w", "-tA", "-F", ",", server.url(), "-c", query.format(**seed)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if line]
