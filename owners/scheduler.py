"""The outbox without a broker: the serving process runs its own entries, at their due time.

Under `make run` and `make sandbox` there is no Redis and no worker. Celery's eager mode would run
an entry inside `dispatch_entries`, right after commit and before the response is sent, so a
related transfer would move before the change-owner call even answered, which Bigin never does
and a client must not learn to expect. Instead config/wsgi.py starts this scheduler in each
serving process when there is no broker, and `owners.tasks.dispatch_entries` hands it the
entries:

- An entry sent while a request is being answered is held until that request's response has
  been sent (Django's `request_finished`, in the same thread), then runs in the scheduler's
  thread at its `run_after`: a related transfer after RELATED_OWNER_DELAY_SECONDS (or the
  organization's own delay), an email or a transfer job's step as soon as the answer is out.
- Each runs through `owners.tasks.run_entry`, as a Celery worker runs it: claimed by the same
  conditional UPDATE, so an entry the sandbox's run_jobs ran already is not run twice. A
  transient error is retried with the tasks' backoff, then left to the sweep.
- The sweep (`owners.tasks.sweep`) runs every SWEEP_SECONDS, as Celery beat would: entries lost
  with a restarted process are sent again once they are overdue by OUTBOX_SWEEP_GRACE_SECONDS.

The queue lives in memory: what a stopped process held is found again by the sweep of the next.
This module runs what it is given; config/wsgi.py gives it the tasks' functions (the tasks
import this module to reach it, so it cannot import them).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from .models import OutboxEntry
from .outbox import TRANSIENT_ERRORS

logger = logging.getLogger(__name__)

SWEEP_SECONDS = 30.0  # CELERY_BEAT_SCHEDULE's interval for the sweep


@dataclass
class Scheduler:
    run: Callable[..., object]  # owners.tasks.run_entry(job_id, retry_in=...)
    retry_countdown: Callable[[int], float]  # owners.tasks.retry_countdown(retries)
    sweep: Callable[[], int]  # owners.tasks.sweep
    sweep_seconds: float = SWEEP_SECONDS
    _queue: list[tuple[float, int, int, int]] = field(default_factory=list)
    _order: itertools.count = field(default_factory=itertools.count)
    _wake: threading.Condition = field(default_factory=threading.Condition)
    _requests: threading.local = field(default_factory=threading.local)

    def submit(self, jobs: Iterable[OutboxEntry]) -> int:
        """Queue entries at their due time; held until the response is sent when a request of
        this thread is being answered. Returns how many."""
        entries = [(job.run_after.timestamp(), job.id, 0) for job in jobs]
        held = getattr(self._requests, "held", None)
        if held is not None:
            held.extend(entries)
        else:
            self._push(entries)
        return len(entries)

    def _push(self, entries: Iterable[tuple[float, int, int]]) -> None:
        with self._wake:
            for due, job_id, retries in entries:
                heapq.heappush(self._queue, (due, next(self._order), job_id, retries))
            self._wake.notify()

    def request_started(self, **kwargs: object) -> None:
        self._requests.held = []

    def request_finished(self, **kwargs: object) -> None:
        held, self._requests.held = getattr(self._requests, "held", None), None
        if held:
            self._push(held)

    def _next_due(self, next_sweep: float) -> list[tuple[int, int]]:
        """Wait for the earliest entry's time (or the sweep's); return the entries due."""
        with self._wake:
            while True:
                now = time.time()
                if self._queue and self._queue[0][0] <= now:
                    due = []
                    while self._queue and self._queue[0][0] <= now:
                        _, _, job_id, retries = heapq.heappop(self._queue)
                        due.append((job_id, retries))
                    return due
                if time.monotonic() >= next_sweep:
                    return []
                wait = next_sweep - time.monotonic()
                if self._queue:
                    wait = min(wait, self._queue[0][0] - now)
                self._wake.wait(timeout=max(wait, 0.0))

    def _run_one(self, job_id: int, retries: int) -> None:
        close_old_connections()
        try:
            self.run(job_id, retry_in=self.retry_countdown(retries))
        except TRANSIENT_ERRORS as exc:
            # run_entry gave the entry back, due when this retry comes; past the retries the
            # sweep takes it over, as for a Celery task.
            countdown = self.retry_countdown(retries)
            if countdown:
                self._push([(time.time() + countdown, job_id, retries + 1)])
            logger.warning("outbox entry %s: %r (retry in %s s)", job_id, exc, countdown)
        except Exception:
            logger.exception("outbox entry %s failed", job_id)  # marked failed by run_entry
        finally:
            close_old_connections()

    def loop(self) -> None:
        next_sweep = time.monotonic() + self.sweep_seconds
        while True:
            for job_id, retries in self._next_due(next_sweep):
                self._run_one(job_id, retries)
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + self.sweep_seconds
                close_old_connections()
                try:
                    self.sweep()
                except Exception:
                    logger.exception("outbox sweep failed")
                finally:
                    close_old_connections()


_running: Scheduler | None = None
_start_lock = threading.Lock()


def running() -> Scheduler | None:
    """This process's scheduler, when it runs the outbox itself (no broker)."""
    return _running


def start(
    *,
    run: Callable[..., object],
    retry_countdown: Callable[[int], float],
    sweep: Callable[[], int],
) -> Scheduler:
    """Start this process's scheduler thread (once; later calls return it)."""
    global _running
    with _start_lock:
        if _running is None:
            scheduler = Scheduler(run=run, retry_countdown=retry_countdown, sweep=sweep)
            request_started.connect(scheduler.request_started, weak=False)
            request_finished.connect(scheduler.request_finished, weak=False)
            threading.Thread(target=scheduler.loop, name="outbox-scheduler", daemon=True).start()
            _running = scheduler
    return _running
