"""Real processes for the integration tests: a private redis-server and Celery workers.

Every test gets a redis-server of its own on a free port (it may stop it; the machine's shared
Redis is never touched) and workers started as `celery -A config worker` subprocesses on the
test database.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import kombu.pools
import pytest
from django.conf import settings
from django.db import connection

from config.celery import app
from owners import publisher
from tests.conftest import ADMIN_PASSWORD, IN_CI
from tests.factories import OrganizationFactory, UserFactory

WAIT_SECONDS = 30


def wait_until(predicate: Callable[[], object], *, what: str, timeout: float = WAIT_SECONDS):
    """Poll `predicate` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server process of this test's own, which the test may stop and start again."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.port = _free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        def answers() -> bool:
            try:
                return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping())
            except redis.RedisError:
                return False

        wait_until(answers, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "needs the redis-server program"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: a missing service is a failure, not a skip)")
        pytest.skip(message)
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(binary, workdir)
    server.start()
    yield server
    server.stop()


def _reset_broker_connections() -> None:
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None
    # kombu keeps its own registry of producer pools by broker URL, each holding the connection
    # pool closed above: without this, the next test publishing to the same URL (even an eager
    # task: Celery acquires a producer for it) would get "Acquire on closed pool".
    kombu.pools.reset()


@pytest.fixture
def publish_to(monkeypatch) -> Iterator[Callable[[str, str], None]]:
    """`publish_to(broker_url, queue)`: this process publishes task messages there from now on
    (not in-process), until the end of the test."""
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    saved = (app.conf.broker_url, app.conf.task_default_queue, app.conf.task_always_eager)

    def point(broker_url: str, queue: str) -> None:
        # What the outbox publisher still holds goes where it was meant to, not to the new broker.
        publisher.flush()
        _reset_broker_connections()
        app.conf.broker_url = broker_url
        app.conf.task_default_queue = queue
        app.conf.task_always_eager = False

    yield point
    publisher.flush()
    _reset_broker_connections()
    app.conf.broker_url, app.conf.task_default_queue, app.conf.task_always_eager = saved


def _test_database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 5432
    return f"postgres://{credentials}@{host}:{port}/{db['NAME']}"


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process = process
        self.log = log

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no ack, no cleanup, as when a machine or an OOM killer strikes."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def start_worker(transactional_db, tmp_path) -> Iterator[Callable[..., Worker]]:
    """`start_worker(broker_url, queue, **env)`: a `celery -A config worker` process (solo pool)
    on the test database, consuming `queue`; returns once it is ready. Stopped at teardown,
    before the database is flushed."""
    workers: list[Worker] = []

    def start(broker_url: str, queue: str, **extra_env: str) -> Worker:
        log = tmp_path / f"worker-{len(workers)}.log"
        env = {
            **os.environ,
            "DATABASE_URL": _test_database_url(),
            "REDIS_URL": broker_url,
            "CELERY_BROKER_URL": broker_url,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "RELATED_OWNER_DELAY_SECONDS": str(settings.RELATED_OWNER_DELAY_SECONDS),
            **extra_env,
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            f"--queues={queue}",
            f"--hostname=test-{uuid.uuid4().hex[:8]}@%h",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        worker = Worker(process, log)
        workers.append(worker)

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"worker exited with {process.returncode}:\n{worker.log_text()}")
            return " ready." in worker.log_text()

        wait_until(ready, what="the Celery worker to be ready")
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def queue_name() -> str:
    return f"outbox-{uuid.uuid4().hex[:12]}"


@contextmanager
def measured() -> Iterator[list[float]]:
    """`with measured() as elapsed:` ... `elapsed[0]` is the block's wall time in seconds."""
    elapsed: list[float] = []
    started = time.monotonic()
    yield elapsed
    elapsed.append(time.monotonic() - started)


class RowLock:
    """Rows of one table held FOR UPDATE by a connection of the test's own: a writer that needs
    one of them waits inside its transaction until `release` (or the test's end)."""

    def __init__(self, table: str, ids: list[int]) -> None:
        import psycopg

        self._connection = psycopg.connect(_test_database_url(), autocommit=False)
        self._connection.execute(
            f"SELECT id FROM {table} WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [ids]
        )

    def release(self) -> None:
        if not self._connection.closed:
            self._connection.rollback()
            self._connection.close()


@pytest.fixture
def row_lock(transactional_db) -> Iterator[Callable[[str, list[int]], RowLock]]:
    """`row_lock(table, ids)`: lock those rows from another connection (the way a slow writer
    would), so a worker's chunk that reaches them is held inside its transaction. Released at
    teardown at the latest."""
    locks: list[RowLock] = []

    def take(table: str, ids: list[int]) -> RowLock:
        lock = RowLock(table, ids)
        locks.append(lock)
        return lock

    yield take
    for lock in locks:
        lock.release()


# The admin's browser tests: Zylker, Ann (a staff superuser who logs in), Ben and Chen.


@pytest.fixture
def zylker():
    return OrganizationFactory(name="Zylker")


@pytest.fixture
def ann(zylker):
    user = UserFactory(
        organization=zylker,
        full_name="Ann Lee",
        email="ann.lee@zylker.test",
        is_staff=True,
        is_superuser=True,
    )
    user.set_password(ADMIN_PASSWORD)
    user.save()
    return user


@pytest.fixture
def ben(zylker):
    return UserFactory(organization=zylker, full_name="Ben Ortiz", email="ben@zylker.test")


@pytest.fixture
def chen(zylker):
    return UserFactory(organization=zylker, full_name="Chen Wei", email="chen@zylker.test")
