"""The outbox's task messages are published by a thread of each process, never by the thread
that answers the request.

Publishing a Celery message is a broker round trip (about a millisecond on a local Redis) and,
when the broker is down or hung, up to the publish retry policy's bound (config/settings.py:
6.2 s). After commit, `owners.tasks.dispatch_entries` hands the committed entries to this
process's publisher and returns at once; the publisher's thread publishes them, everything handed
over while it was busy in one go (`owners.tasks.publish_entries`: one message per entry, and at
the first failure it logs and stops).

Nothing is lost by not waiting: an entry is a row committed with the change, `pending` until a
worker runs it. What a publisher held when its process died (killed between the commit and the
publish), or could not publish (broker down), is sent again by the sweep once it is overdue by
OUTBOX_SWEEP_GRACE_SECONDS, exactly as when the request thread's own publish failed.

- One publisher per process, started lazily and keyed by PID: a forked child (gunicorn's workers,
  Celery's prefork pool) never hands entries to a thread that only existed in its parent; it
  starts its own.
- `flush()` waits until what the publisher holds has been published (or given up on). It runs
  at interpreter exit (atexit: gunicorn's sync workers, a solo Celery worker, a management
  command), in gunicorn's `worker_exit` hook (config/gunicorn.py) and when a Celery pool process
  shuts down (owners/tasks.py: billiard's processes leave with os._exit, without atexit).

Of Django only its request signals: config/gunicorn.py imports this module in its hook.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from django.core.signals import request_finished, request_started

logger = logging.getLogger(__name__)

# Longer than one publish attempt can take on a dead broker (the retry policy's 6.2 s), shorter
# than gunicorn's graceful timeout (30 s).
FLUSH_SECONDS = 10.0
# A bound on what a publisher holds while its broker hangs: beyond it, entries are left to the
# sweep (they are pending rows already) instead of growing the process's memory.
MAX_HELD = 10_000


class Publisher:
    def __init__(self, publish: Callable[[list[Any]], int]) -> None:
        self.pid = os.getpid()
        self._publish = publish
        self._changed = threading.Condition()
        self._held: list[Any] = []
        self._busy = False
        self._thread = threading.Thread(target=self._loop, name="outbox-publisher", daemon=True)
        self._thread.start()

    def submit(self, jobs: Iterable[Any]) -> int:
        jobs = list(jobs)
        with self._changed:
            room = MAX_HELD - len(self._held)
            if len(jobs) > room:
                logger.error(
                    "outbox publisher holds %s entries; %s left to the sweep",
                    len(self._held),
                    len(jobs) - max(room, 0),
                )
                jobs = jobs[: max(room, 0)]
            self._held.extend(jobs)
            self._changed.notify_all()
        return len(jobs)

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._held:
                    self._changed.wait()
                batch, self._held = self._held, []
                self._busy = True
            try:
                self._publish(batch)
            except Exception:  # publish logs its own failures; this keeps the thread alive
                logger.exception("outbox publisher: %s entries left to the sweep", len(batch))
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()

    def flush(self, timeout: float | None = FLUSH_SECONDS) -> bool:
        """Wait until everything handed over has been published or given up on; False when
        `timeout` ran out first (what is left is still pending for the sweep)."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._held and not self._busy, timeout)


_publisher: Publisher | None = None
_lock = threading.Lock()


def _forget_after_fork() -> None:
    # The parent's thread does not exist in the child, and the lock may have been held by it.
    global _publisher, _lock
    _publisher = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


# Entries committed while a request is being answered are held in its thread until the response
# has been sent (Django's `request_finished`, which the WSGI server sends once the body is out),
# then handed over: the publisher's thread then works while the serving thread waits for its next
# request, instead of taking the GIL from the request still being answered (bench/watch.py shows
# the difference). The in-process scheduler (owners/scheduler.py) holds its entries the same way.
_requests = threading.local()


def _request_started(**kwargs: object) -> None:
    _hand_over_held()  # a request whose `request_finished` never came: nothing is left behind
    _requests.held = []


def _request_finished(**kwargs: object) -> None:
    _hand_over_held()


def _hand_over_held() -> None:
    held, _requests.held = getattr(_requests, "held", None), None
    for jobs, publish in held or ():
        _hand_over(jobs, publish)


request_started.connect(_request_started, dispatch_uid="owners-publisher-started")
request_finished.connect(_request_finished, dispatch_uid="owners-publisher-finished")


def submit(jobs: Iterable[Any], *, publish: Callable[[list[Any]], int]) -> int:
    """Hand `jobs` to this process's publisher (started on first use), once the response of the
    request this thread answers has been sent; returns how many it took. `publish(batch)` runs in
    the publisher's thread and must not raise; the first given in a process is the one it keeps
    (owners.tasks.publish_entries, the only one)."""
    jobs = list(jobs)
    held = getattr(_requests, "held", None)
    if held is not None:
        held.append((jobs, publish))
        return len(jobs)
    return _hand_over(jobs, publish)


def _hand_over(jobs: list[Any], publish: Callable[[list[Any]], int]) -> int:
    global _publisher
    publisher = _publisher
    if publisher is None or publisher.pid != os.getpid():
        with _lock:
            if _publisher is None or _publisher.pid != os.getpid():
                _publisher = Publisher(publish)
            publisher = _publisher
    return publisher.submit(jobs)


def flush(timeout: float | None = FLUSH_SECONDS) -> bool:
    """Wait for this process's publisher to publish what it holds (True at once without one)."""
    publisher = _publisher
    if publisher is None or publisher.pid != os.getpid():
        return True
    return publisher.flush(timeout)


atexit.register(flush)
