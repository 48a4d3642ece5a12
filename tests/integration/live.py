"""A real gunicorn serving the test database, for tests that talk HTTP to several processes."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from tests.integration.conftest import _free_port, _test_database_url, wait_until


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def live_gunicorn(transactional_db, tmp_path) -> Iterator[Callable[..., LiveServer]]:
    """`live_gunicorn(workers=2, **env)`: gunicorn (the production command) on a free port over the
    test database, with its own key prefix for the API limits in Redis; stopped at teardown,
    before the database is flushed."""
    servers: list[LiveServer] = []

    def start(workers: int = 2, **extra_env: str) -> LiveServer:
        port = _free_port()
        log = tmp_path / f"gunicorn-{port}.log"
        env = {
            **os.environ,
            "DATABASE_URL": _test_database_url(),
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "DJANGO_DEBUG": "false",
            "API_LIMITS_KEY_PREFIX": f"test-{uuid.uuid4().hex[:12]}:",
            **extra_env,
        }
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "config/gunicorn.py",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        server = LiveServer(f"http://127.0.0.1:{port}", process, log)
        servers.append(server)

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited with {process.returncode}:\n{server.log_text()}")
            return _answers(server.url)

        wait_until(ready, what="gunicorn to answer /healthz")
        return server

    yield start
    for server in servers:
        server.stop()
