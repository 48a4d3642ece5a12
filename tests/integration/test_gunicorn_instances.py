"""Two gunicorn instances on one host (config/gunicorn.py): each opens a control socket of its
own, so neither takes over nor removes the other's, and both serve."""

from __future__ import annotations

import re
import socket
import stat
import urllib.request
from pathlib import Path

import pytest

from tests.integration.conftest import wait_until
from tests.integration.live import LiveServer, live_gunicorn  # noqa: F401 (the fixture)

pytestmark = [
    pytest.mark.postgres,
    # The servers see committed rows; the flush afterwards takes the migrations' rows too
    # (modules, content types), which serialized_rollback puts back for the tests that follow.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _control_socket(server: LiveServer) -> Path:
    """The path the instance's control socket listens at, once it does."""
    found = wait_until(
        lambda: re.search(r"Control socket listening at (\S+)", server.log_text()),
        what="the control socket",
    )
    return Path(found.group(1))


def _accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as client:
        try:
            client.connect(str(path))
        except OSError:
            return False
    return True


def test_two_instances_on_one_host_each_have_their_own_control_socket(live_gunicorn, tmp_path):  # noqa: F811
    # gunicorn's default directory for its control socket, the same for both, as on one host.
    runtime = tmp_path / "run"
    runtime.mkdir()
    first, second = (live_gunicorn(workers=1, XDG_RUNTIME_DIR=str(runtime)) for _ in range(2))

    paths = [_control_socket(first), _control_socket(second)]

    assert paths[0] != paths[1]
    port = first.url.rsplit(":", 1)[1]
    assert paths[0] == runtime / f"gunicorn-127.0.0.1-{port}.ctl"
    assert all(stat.S_ISSOCK(path.stat().st_mode) and _accepts(path) for path in paths)
    for server in (first, second):
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=10) as answer:
            assert answer.status == 200
        assert "Control server error" not in server.log_text()
        assert "already in use" not in server.log_text()

    first.stop()

    assert not paths[0].exists()
    assert _accepts(paths[1])
    assert "Control server error" not in second.log_text()
