"""A TCP relay in front of PostgreSQL that loses one client's connection right after a COMMIT went
through: the server committed, the client never hears so. This is the COMMIT whose outcome is in
doubt (a network cut, a pooler or a load balancer dropping the connection at that moment), made
on purpose rather than waited for. PostgreSQL is real and so is the commit; only the answer to
the COMMIT is dropped, with the connection, as a cut cable would drop it.

It speaks just enough of the protocol to find message boundaries: it answers SSL and GSS
encryption requests with "no" itself, so the stream stays readable, and forwards every other
message as it is.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field

from tests.integration.conftest import _free_port

_SSL_REQUEST, _GSSENC_REQUEST = 80877103, 80877104


def _close(*socks: socket.socket) -> None:
    """Shut down, then close: a thread blocked reading the socket wakes, and the peer sees the
    connection end at once."""
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _read_message(sock: socket.socket) -> tuple[bytes, bytes]:
    """One typed protocol message: (its type byte, the whole message as sent)."""
    head = _read_exactly(sock, 5)
    (length,) = struct.unpack("!I", head[1:])
    return head[:1], head + _read_exactly(sock, length - 4)


@dataclass
class CommitCut:
    """Relays 127.0.0.1:`port` to PostgreSQL on `server_port`. Armed, it cuts the first
    transaction whose statements contain `marker`: its COMMIT is passed on, the server's answer
    read (the commit done) and dropped, and both connections closed. Then it disarms itself."""

    server_port: int
    marker: bytes
    port: int = field(default_factory=_free_port)
    cut: threading.Event = field(default_factory=threading.Event)
    _listener: socket.socket | None = None

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=[client], daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        server = socket.create_connection(("127.0.0.1", self.server_port))
        # Set by the client's side once it has passed on the COMMIT to cut.
        cutting = threading.Event()
        try:
            while True:  # the startup packet, after any encryption request (answered "no")
                head = _read_exactly(client, 8)
                length, code = struct.unpack("!II", head)
                if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                    client.sendall(b"N")
                    continue
                server.sendall(head + _read_exactly(client, length - 8))
                break
            threading.Thread(
                target=self._answers, args=[server, client, cutting], daemon=True
            ).start()
            marked = False
            while True:
                kind, message = _read_message(client)
                if kind in (b"Q", b"P") and self.marker in message:
                    marked = True
                if kind == b"Q" and message[5:].rstrip(b"\0") in (b"COMMIT", b"ROLLBACK"):
                    if marked and message[5:].startswith(b"COMMIT") and not self.cut.is_set():
                        cutting.set()
                    marked = False
                server.sendall(message)
        except OSError:
            pass
        finally:
            if not cutting.is_set():
                _close(client, server)

    def _answers(
        self, server: socket.socket, client: socket.socket, cutting: threading.Event
    ) -> None:
        try:
            while True:
                kind, message = _read_message(server)
                if not cutting.is_set():
                    client.sendall(message)
                elif kind == b"Z":  # ready for query: the COMMIT is done, its answer dropped
                    self.cut.set()
                    break
        except OSError:
            pass
        _close(client, server)
