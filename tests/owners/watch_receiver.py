"""A real HTTP receiver for watch callbacks: `http.server` in a thread on a free port. It keeps
what it received, checks each signature with the channel's token, and can be slow (held until
`release`), fail (500) for its first requests, or be down (a port nothing listens on)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SIGNATURE = "X-Bigin-Signature"


@dataclass
class Callback:
    body: dict
    raw: bytes
    headers: dict[str, str]
    signed: bool


@dataclass
class Receiver:
    token: str
    fail_first: int = 0
    held: bool = False
    callbacks: list[Callback] = field(default_factory=list)
    requests: int = 0
    gate: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/callback"

    def release(self) -> None:
        self.gate.set()

    def receive(self, raw: bytes, headers: dict[str, str]) -> int:
        self.requests += 1
        if self.held:
            self.gate.wait(timeout=60)
        if self.requests <= self.fail_first:
            return 500
        expected = hmac.new(self.token.encode(), raw, hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(headers.get(SIGNATURE, ""), expected)
        self.callbacks.append(Callback(json.loads(raw), raw, headers, signed))
        return 200


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = receiver.receive(raw, dict(self.headers.items()))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[callable]:
    """`receiver(token, fail_first=0, held=False)`: a running receiver, stopped at teardown."""
    started: list[Receiver] = []

    def start(token: str, **behaviour: object) -> Receiver:
        receiving = Receiver(token=token, **behaviour)
        receiving.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiving))
        threading.Thread(target=receiving.server.serve_forever, daemon=True).start()
        started.append(receiving)
        return receiving

    yield start
    for receiving in started:
        receiving.release()
        receiving.server.shutdown()
        receiving.server.server_close()


def dead_url() -> str:
    """An address nothing listens on (a port taken, then freed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/callback"
