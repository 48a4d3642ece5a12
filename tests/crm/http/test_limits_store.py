"""The counters behind the API limits (crm/http/limits.py), on Redis and in-process alike."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid

import pytest
from django.conf import settings

from crm.http.limits import CREDITS_WINDOW, IN_FLIGHT, LocalStore, RedisStore, Window, admit

T0 = 1_800_000_000  # a minute boundary (divisible by 60)


def _redis_url() -> str:
    return settings.REDIS_URL or os.environ.get("REDIS_URL", "")


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def store(request):
    if request.param == "local":
        yield LocalStore()
        return
    prefix = f"test-limits-{uuid.uuid4().hex[:12]}:"
    redis_store = RedisStore(_redis_url(), prefix)
    yield redis_store
    for key in redis_store.client.scan_iter(prefix + "*"):
        redis_store.client.delete(key)


def test_credits_are_allowed_up_to_the_limit_then_refused(store):
    decisions = [
        store.take("org", cost=1, limit=30, window=CREDITS_WINDOW, now=T0 + i) for i in range(31)
    ]

    assert [d.allowed for d in decisions] == [True] * 30 + [False]
    assert decisions[29].used == 30
    # The first credit was spent at T0 and frees up 24 hours later.
    assert decisions[30].retry_after == 24 * 3600 - 30
    assert store.used("org", window=CREDITS_WINDOW, now=T0 + 31) == 30


def test_a_refused_request_spends_nothing(store):
    for _ in range(3):
        store.take("org", cost=1, limit=3, window=CREDITS_WINDOW, now=T0)
    for _ in range(5):
        assert not store.take("org", cost=1, limit=3, window=CREDITS_WINDOW, now=T0 + 10).allowed

    assert store.used("org", window=CREDITS_WINDOW, now=T0 + 20) == 3


def test_the_window_rolls_by_the_minute(store):
    store.take("org", cost=2, limit=3, window=CREDITS_WINDOW, now=T0)  # bucket T0
    store.take("org", cost=1, limit=3, window=CREDITS_WINDOW, now=T0 + 3600)  # an hour later
    day = 24 * 3600

    refused = store.take("org", cost=2, limit=3, window=CREDITS_WINDOW, now=T0 + day - 1)
    assert (refused.allowed, refused.used, refused.retry_after) == (False, 3, 1)
    # At T0 + 24 h the first bucket (2 credits) has left the window; the hour-later one has not.
    assert store.used("org", window=CREDITS_WINDOW, now=T0 + day) == 1
    assert store.take("org", cost=2, limit=3, window=CREDITS_WINDOW, now=T0 + day).allowed
    # Idle for longer than the window: everything has expired.
    assert store.used("org", window=CREDITS_WINDOW, now=T0 + 3 * day) == 0


def test_retry_after_waits_for_enough_credits_to_free_up(store):
    window = Window(bucket_seconds=10, buckets=6)  # one minute in 10 s buckets
    store.take("k", cost=1, limit=3, window=window, now=T0)  # bucket T0, frees at T0 + 60
    store.take("k", cost=2, limit=3, window=window, now=T0 + 25)  # bucket T0+20, frees at T0 + 80

    one = store.take("k", cost=1, limit=3, window=window, now=T0 + 30)
    three = store.take("k", cost=3, limit=3, window=window, now=T0 + 30)

    assert (one.allowed, one.retry_after) == (False, 30)
    assert (three.allowed, three.retry_after) == (False, 50)


def test_a_read_after_the_window_emptied_invents_nothing(store):
    window = Window(bucket_seconds=10, buckets=6)  # one minute in 10 s buckets
    store.take("k", cost=3, limit=3, window=window, now=T0)

    # A minute later the three have left the window; reading the count must not leave them
    # behind for the next call to adopt.
    assert store.used("k", window=window, now=T0 + 60) == 0
    after = store.take("k", cost=1, limit=3, window=window, now=T0 + 70)

    assert (after.allowed, after.used) == (True, 1)
    assert store.used("k", window=window, now=T0 + 70) == 1


def test_counts_are_per_key(store):
    for _ in range(2):
        store.take("a", cost=1, limit=2, window=CREDITS_WINDOW, now=T0)

    assert not store.take("a", cost=1, limit=2, window=CREDITS_WINDOW, now=T0).allowed
    assert store.take("b", cost=1, limit=2, window=CREDITS_WINDOW, now=T0).allowed


def test_units_given_back_no_longer_count(store):
    window = Window(bucket_seconds=10, buckets=6)
    store.take("k", cost=2, limit=3, window=window, now=T0)
    store.take("k", cost=1, limit=3, window=window, now=T0 + 10)

    store.give_back("k", cost=1, window=window, taken_at=T0, now=T0 + 15)
    assert store.used("k", window=window, now=T0 + 15) == 2
    assert store.take("k", cost=1, limit=3, window=window, now=T0 + 15).allowed
    # More than the bucket holds: the bucket empties, the others keep theirs.
    store.give_back("k", cost=5, window=window, taken_at=T0 + 10, now=T0 + 15)
    assert store.used("k", window=window, now=T0 + 15) == 1
    # A bucket that left the window has nothing left to give back.
    store.give_back("k", cost=1, window=window, taken_at=T0, now=T0 + 60)
    assert store.used("k", window=window, now=T0 + 60) == 0


def test_requests_in_flight_are_limited_and_released(store):
    entered = [
        store.enter("org", f"r{i}", limit=2, stale_seconds=60, now=T0 + i / 10) for i in range(3)
    ]
    assert entered == [True, True, False]

    store.leave("org", "r0")

    assert store.enter("org", "r3", limit=2, stale_seconds=60, now=T0 + 1)
    assert not store.enter("other-org", "x", limit=0, stale_seconds=60, now=T0 + 1)
    assert store.enter("other-org", "x", limit=1, stale_seconds=60, now=T0 + 1)


def test_a_request_that_never_left_stops_counting_after_stale_seconds(store):
    assert store.enter("org", "crashed", limit=1, stale_seconds=60, now=T0)
    assert not store.enter("org", "next", limit=1, stale_seconds=60, now=T0 + 59)

    assert store.enter("org", "next", limit=1, stale_seconds=60, now=T0 + 60)


_SPENDER = textwrap.dedent(
    """
    import sys, time
    from crm.http.limits import CREDITS_WINDOW, RedisStore
    url, prefix, start_at, attempts = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    store = RedisStore(url, prefix)
    while time.time() < start_at:
        time.sleep(0.001)
    allowed = sum(
        store.take("org", cost=1, limit=1000, window=CREDITS_WINDOW, now=time.time()).allowed
        for _ in range(attempts)
    )
    print(allowed)
    """
)


@pytest.mark.redis
def test_two_processes_share_one_exact_count():
    """Two processes spend on one organization at the same moment: together they get exactly the
    limit, never more, and Redis holds exactly that count."""
    import time

    prefix = f"test-limits-{uuid.uuid4().hex[:12]}:"
    start_at = time.time() + 2  # both start spending together, once their imports are done
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _SPENDER, _redis_url(), prefix, str(start_at), "800"],
            cwd=settings.BASE_DIR,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    allowed = [int(p.communicate(timeout=120)[0]) for p in processes]
    store = RedisStore(_redis_url(), prefix)
    try:
        assert sum(allowed) == 1000
        assert all(count > 0 for count in allowed)  # both really took part
        assert store.used("org", window=CREDITS_WINDOW, now=time.time()) == 1000
    finally:
        for key in store.client.scan_iter(prefix + "*"):
            store.client.delete(key)


def _admit(store, token, *, in_flight_limit=2, credit_limit=2, now=T0):
    return admit(
        store,
        in_flight_key="inflight",
        token=token,
        in_flight_limit=in_flight_limit,
        stale_seconds=60,
        credits_key="credits",
        cost=1,
        credit_limit=credit_limit,
        window=CREDITS_WINDOW,
        now=now,
    )


def test_admission_takes_a_slot_and_a_credit_in_one_step(store):
    first, second = _admit(store, "a"), _admit(store, "b")
    third = _admit(store, "c")

    assert (first.allowed, first.used, second.used) == (True, 1, 2)
    assert third == IN_FLIGHT  # two in flight already
    store.leave("inflight", "a")
    store.leave("inflight", "b")
    refused = _admit(store, "d")
    assert (refused.allowed, refused.used) == (False, 2)
    # Refused for credits, it kept no slot: with room for one in flight, the next one gets in.
    assert _admit(store, "e", in_flight_limit=1, credit_limit=3).allowed
    assert store.used("credits", window=CREDITS_WINDOW, now=T0) == 3


# A thread's commands go on a connection of its own, and a departure is sent without waiting for
# its reply (RedisStore): these hold that connection to one order whatever happens on it.


@pytest.fixture
def redis_store():
    prefix = f"test-limits-{uuid.uuid4().hex[:12]}:"
    redis_store = RedisStore(_redis_url(), prefix)
    yield redis_store
    for key in redis_store.client.scan_iter(prefix + "*"):
        redis_store.client.delete(key)


@pytest.mark.redis
def test_a_departure_that_redis_refuses_leaves_the_next_admission_its_own_answer(redis_store):
    redis_store.client.set(redis_store.prefix + "not-a-set", "x")  # ZREM on it is an error
    assert _admit(redis_store, "a").allowed
    redis_store.leave("not-a-set", "a")
    redis_store.leave("inflight", "a")

    second = _admit(redis_store, "b")

    assert (second.allowed, second.used) == (True, 2)
    assert redis_store.client.zrange(redis_store.prefix + "inflight", 0, -1) == [b"b"]


@pytest.mark.redis
def test_admission_opens_the_connection_again_after_redis_closed_it(redis_store):
    assert _admit(redis_store, "a").allowed
    redis_store.leave("inflight", "a")
    lane_id = redis_store._lane().call("CLIENT", "ID")
    redis_store.client.client_kill_filter(_id=lane_id)  # as a restart or an idle timeout does

    second = _admit(redis_store, "b")

    assert (second.allowed, second.used) == (True, 2)
    assert redis_store.client.zrange(redis_store.prefix + "inflight", 0, -1) == [b"b"]


@pytest.mark.redis
def test_a_forked_process_has_a_connection_of_its_own(redis_store):
    """gunicorn forks its workers: a worker must never read the replies meant for another."""
    assert _admit(redis_store, "parent-1").allowed
    redis_store.leave("inflight", "parent-1")
    child = os.fork()
    if child == 0:
        try:
            answers = [
                _admit(redis_store, f"child-{n}", in_flight_limit=1000, credit_limit=1000)
                for n in range(50)
            ]
            for n in range(50):
                redis_store.leave("inflight", f"child-{n}")
            ok = all(answer.allowed for answer in answers)
        finally:
            os._exit(0 if ok else 1)
    answers = [
        _admit(redis_store, f"parent-{n}", in_flight_limit=1000, credit_limit=1000)
        for n in range(2, 52)
    ]
    for n in range(2, 52):
        redis_store.leave("inflight", f"parent-{n}")
    _, status = os.waitpid(child, 0)

    assert all(answer.allowed for answer in answers)
    assert os.waitstatus_to_exitcode(status) == 0
    assert redis_store.used("credits", window=CREDITS_WINDOW, now=T0) == 101
