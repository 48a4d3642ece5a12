"""The documented gunicorn command (config/gunicorn.py) lets an over-long URL or too many headers
reach Django, which answers them in the API's JSON envelope; what gunicorn still answers itself."""

from __future__ import annotations

import json
import socket

import pytest

from tests.integration.live import live_gunicorn  # noqa: F401 (the fixture)

pytestmark = [
    pytest.mark.postgres,
    # The servers see committed rows; the flush afterwards takes the migrations' rows too
    # (modules, content types), which serialized_rollback puts back for the tests that follow.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _raw(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


def _get(target: str, extra_headers: str = "") -> bytes:
    return (
        f"GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\n{extra_headers}Connection: close\r\n\r\n"
    ).encode()


def test_limits_over_the_services_answer_json_and_what_is_left_to_gunicorn(
    live_gunicorn,  # noqa: F811
):
    server = live_gunicorn(workers=1)

    long_url = _raw(server.url, _get("/bigin/v2/users?fields=" + "x" * 8000))
    many_headers = _raw(
        server.url, _get("/leads", "".join(f"X-Filler-{i}: 1\r\n" for i in range(150)))
    )
    beyond_gunicorn = _raw(server.url, _get("/bigin/v2/users?fields=" + "x" * 9000))

    assert long_url[0] == 414
    assert json.loads(long_url[2]) == {
        "code": "LIMIT_EXCEEDED",
        "details": {"max_url_bytes": 8000},
        "message": "the request URL is too long",
        "status": "error",
    }
    assert many_headers[0] == 431
    assert json.loads(many_headers[2]) == {
        "status": "error",
        "message": "at most 100 headers of at most 8190 bytes each are allowed",
    }
    # Over gunicorn's hard maximum of 8,190 bytes for the request line: its own HTML page (left).
    assert beyond_gunicorn[0] == 414
    assert beyond_gunicorn[1]["Content-Type"] == "text/html"
