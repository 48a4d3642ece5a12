"""A pgbouncer of a test's own, in transaction mode (the usual production pooler), in front of a
PostgreSQL: for the tests that need the pooler in the path, its errors included."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.integration.conftest import _free_port, wait_until


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Pgbouncer:
    port: int
    workdir: Path

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        pid = (self.workdir / "pgbouncer.pid").read_text().strip()
        os.kill(int(pid), 15)


def start_pgbouncer(workdir: Path, *, server_port: int) -> Pgbouncer:
    """pgbouncer on a free port, as the user postgres (trust), for every database of the
    PostgreSQL on 127.0.0.1:`server_port`; its files in `workdir` (the postgres user must be able
    to write there when the tests run as root)."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        if IN_CI:
            pytest.fail("needs pgbouncer (CI=true: a missing service is a failure, not a skip)")
        pytest.skip("needs pgbouncer (apt-get install pgbouncer)")
    port = _free_port()
    (workdir / "userlist.txt").write_text('"postgres" ""\n')
    (workdir / "pgbouncer.ini").write_text(
        f"""[databases]
* = host=127.0.0.1 port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
pool_mode = transaction
auth_type = trust
auth_file = {workdir}/userlist.txt
max_client_conn = 200
default_pool_size = 20
; a client waits at most this long for a server connection (PostgreSQL restarting): then an
; error, which the service answers as a 503, rather than a request held until gunicorn kills it
query_wait_timeout = 5
server_login_retry = 1
logfile = {workdir}/pgbouncer.log
pidfile = {workdir}/pgbouncer.pid
"""
    )
    run_as = ["-u", "postgres"] if os.getuid() == 0 else []
    started = subprocess.run(
        [binary, "-d", "-q", *run_as, str(workdir / "pgbouncer.ini")], check=False
    )
    assert started.returncode == 0
    wait_until(lambda: _listening(port), what="pgbouncer")
    return Pgbouncer(port, workdir)
