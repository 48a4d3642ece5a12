"""The outbox publisher (owners/publisher.py) in real processes on a real Redis: one thread per
process, a forked child starts its own, a process that exits publishes what it held, and what a
request committed is published once its response is sent.
(The request that does not wait on a hung broker, and the sweep that sends what a dead broker
kept, are tests/integration/test_outbox_delivery.py's, with real workers.)"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import uuid

import pytest
import redis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.utils import timezone

from owners import publisher
from owners.models import OutboxEntry
from owners.tasks import dispatch_entries

pytestmark = pytest.mark.redis

# A process that hands one entry over, forks, hands another over in the child, which exits at
# once (sys.exit: no explicit flush), and a third in the parent after the fork, then exits too.
# Nothing is published by the thread that hands the entries over.
SCRIPT = textwrap.dedent(
    """
    import os, sys, threading
    import django

    django.setup()
    from django.utils import timezone
    from owners import publisher
    from owners.models import OutboxEntry
    from owners.tasks import dispatch_entries

    def job(number):
        return OutboxEntry(id=number, run_after=timezone.now())

    dispatch_entries([job(1)])
    assert publisher.flush(), "the parent's publisher did not drain"
    child = os.fork()
    if child == 0:
        dispatch_entries([job(2)])
        print("child", os.getpid(), publisher._publisher.pid, flush=True)
        sys.exit(0)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    dispatch_entries([job(3)])
    print("parent", os.getpid(), publisher._publisher.pid, flush=True)
    """
)


def queued_job_ids(client: redis.Redis, queue: str) -> list[str]:
    """The job ids of the task messages waiting in `queue` (no worker consumes it)."""
    ids = []
    for raw in client.lrange(queue, 0, -1):
        message = json.loads(raw)
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        ids.append(args[0])
    return ids


def test_a_forked_child_publishes_through_its_own_thread_and_exiting_drains_the_publisher():
    queue = f"publisher-{uuid.uuid4().hex[:12]}"
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        # All three reached the broker: the child's through a thread of its own (the parent's
        # does not exist there), the parent's last one at exit, by atexit's flush.
        assert sorted(queued_job_ids(broker, queue)) == ["1", "2", "3"]
        lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
        # Each process's publisher is its own: the child's was started in the child.
        for name in ("parent", "child"):
            pid, publisher_pid = lines[name].split()
            assert pid == publisher_pid
        assert lines["parent"] != lines["child"]
    finally:
        broker.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")


def test_entries_committed_during_a_request_are_published_once_its_response_is_sent(
    session_task_queue,
):
    # The test run's own queue on the real broker (tests/conftest.py); no worker consumes it.
    assert session_task_queue is not None, "needs a broker (REDIS_URL), not eager tasks"
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2)
    job_id = uuid.uuid4().int % 10**18

    request_started.send(sender=None)
    try:
        assert dispatch_entries([OutboxEntry(id=job_id, run_after=timezone.now())]) == 1
        assert publisher.flush()
        # Still being answered: held in this thread, nothing on the broker yet.
        assert str(job_id) not in queued_job_ids(broker, session_task_queue)
    finally:
        request_finished.send(sender=None)
    assert publisher.flush()
    assert queued_job_ids(broker, session_task_queue).count(str(job_id)) == 1
