"""One truth for the two stores of crm/http/limits.py: the Redis store and the in-process one
answer exactly as a reference model of a few lines does, step by step, for any sequence of
calls hypothesis makes up (takes of any cost against any limit, admissions, units given back,
reads, time moving by seconds, to bucket boundaries, to the moment a bucket leaves the window,
past a whole window).
A read must also leave each store's state as it found it.
"""

from __future__ import annotations

import copy
import os
import uuid
from collections import defaultdict

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from crm.http.limits import CREDITS_WINDOW, IN_FLIGHT, Decision, LocalStore, RedisStore, Window
from crm.http.limits import admit as admit_in

T0 = 1_800_000_000  # a minute boundary
# Each key has its window: the credits' (24 hours by the minute) and a small one, whose
# boundaries a few steps reach.
WINDOWS = {"credits": CREDITS_WINDOW, "small": Window(bucket_seconds=10, buckets=6)}


class Reference:
    """What a store must answer: every unit taken, by key and bucket, never pruned. A bucket
    counts while it is one of the window's last `buckets`; a refusal says when enough units
    will have left."""

    def __init__(self) -> None:
        self.taken: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))

    def _live(self, key: str, window: Window, now: float) -> dict[int, int]:
        current = int(now) // window.bucket_seconds
        return {
            bucket: n
            for bucket, n in self.taken[key].items()
            if current - window.buckets < bucket <= current and n
        }

    def used(self, key: str, *, window: Window, now: float) -> int:
        return sum(self._live(key, window, now).values())

    def take(self, key: str, *, cost: int, limit: int, window: Window, now: float) -> Decision:
        live = self._live(key, window, now)
        used = sum(live.values())
        if used + cost > limit:
            need, freed = used + cost - limit, 0
            for bucket in sorted(live):
                freed += live[bucket]
                if freed >= need:
                    leaves = (bucket + window.buckets) * window.bucket_seconds
                    return Decision(False, used, max(leaves - int(now), 1))
            return Decision(False, used, window.seconds)
        if cost:
            self.taken[key][int(now) // window.bucket_seconds] += cost
        return Decision(True, used + cost)

    def give_back(self, key: str, *, cost: int, window: Window, taken_at: float, now: float):
        bucket = int(taken_at) // window.bucket_seconds
        if bucket in self._live(key, window, now):
            self.taken[key][bucket] -= min(cost, self.taken[key][bucket])

    def oldest_live(self, key: str, window: Window, now: float) -> int | None:
        return min(self._live(key, window, now), default=None)


def _redis_url() -> str:
    return django_settings.REDIS_URL or os.environ.get("REDIS_URL", "")


class StoresAgree(RuleBasedStateMachine):
    """The stores under test and the model, driven alike. `with_redis` is set per test."""

    with_redis = True

    def __init__(self) -> None:
        super().__init__()
        self.model = Reference()
        self.stores = {"local": LocalStore()}
        if self.with_redis:
            # A prefix per run: hypothesis runs many sequences within one test, and the suite's
            # per-test prefix (tests/conftest.py) would let them share counts.
            self.redis = RedisStore(_redis_url(), f"test-model-{uuid.uuid4().hex[:12]}:")
            self.stores["redis"] = self.redis
        self.now: float = T0

    def teardown(self) -> None:
        if self.with_redis:
            for key in self.redis.client.scan_iter(self.redis.prefix + "*"):
                self.redis.client.delete(key)

    def _raw_state(self, name: str, key: str):
        if name == "redis":
            return self.redis.client.hgetall(self.redis.prefix + key)
        return copy.deepcopy(self.stores["local"]._windows)

    def _agree(self, expected, answers: dict) -> None:
        assert answers == dict.fromkeys(answers, expected), f"at {self.now - T0} s"

    # Calls

    @rule(
        key=st.sampled_from(sorted(WINDOWS)),
        cost=st.integers(min_value=0, max_value=4),
        limit=st.integers(min_value=0, max_value=10),
    )
    def take(self, key: str, cost: int, limit: int) -> None:
        call = {"cost": cost, "limit": limit, "window": WINDOWS[key], "now": self.now}
        expected = self.model.take(key, **call)
        self._agree(expected, {name: s.take(key, **call) for name, s in self.stores.items()})

    @rule(cost=st.integers(min_value=1, max_value=3), limit=st.integers(min_value=0, max_value=10))
    def admit(self, cost: int, limit: int) -> None:
        """A request's admission (one Lua script on Redis) takes its credits as `take` does."""
        expected = self.model.take(
            "credits", cost=cost, limit=limit, window=CREDITS_WINDOW, now=self.now
        )
        answers = {}
        for name, store in self.stores.items():
            token = uuid.uuid4().hex
            answers[name] = admit_in(
                store,
                in_flight_key="in-flight",
                token=token,
                in_flight_limit=1,
                stale_seconds=120,
                credits_key="credits",
                cost=cost,
                credit_limit=limit,
                window=CREDITS_WINDOW,
                now=self.now,
            )
            assert answers[name] != IN_FLIGHT  # each admission leaves before the next
            store.leave("in-flight", token)
        self._agree(expected, answers)

    @rule(
        key=st.sampled_from(sorted(WINDOWS)),
        cost=st.integers(min_value=1, max_value=3),
        ago=st.one_of(st.integers(min_value=0, max_value=70), st.sampled_from([86_399, 86_400])),
    )
    def give_back(self, key: str, cost: int, ago: int) -> None:
        """Units given back (a token request that did not fail) leave their bucket."""
        call = {
            "cost": cost,
            "window": WINDOWS[key],
            "taken_at": max(T0, self.now - ago),
            "now": self.now,
        }
        self.model.give_back(key, **call)
        for store in self.stores.values():
            store.give_back(key, **call)

    @rule(key=st.sampled_from(sorted(WINDOWS)))
    def read(self, key: str) -> None:
        """`used` (the admin's page) answers the model's count and changes nothing."""
        window = WINDOWS[key]
        expected = self.model.used(key, window=window, now=self.now)
        for name, store in self.stores.items():
            before = self._raw_state(name, key)
            assert store.used(key, window=window, now=self.now) == expected, name
            assert self._raw_state(name, key) == before, f"{name}: a read changed the counters"

    # Time, which only moves forward (one clock for every process, docs/limits.md)

    @rule(
        seconds=st.one_of(
            st.integers(min_value=0, max_value=75),
            st.sampled_from([3599, 3600, 86_340, 86_399, 86_400, 86_401, 86_460, 2 * 86_400]),
        ),
        fraction=st.sampled_from([0.0, 0.25, 0.999]),
    )
    def wait(self, seconds: int, fraction: float) -> None:
        self.now = int(self.now) + seconds + fraction

    @rule(key=st.sampled_from(sorted(WINDOWS)), before=st.sampled_from([0, 1]))
    def wait_for_next_bucket(self, key: str, before: int) -> None:
        size = WINDOWS[key].bucket_seconds
        self.now = max(self.now, (int(self.now) // size + 1) * size - before)

    @precondition(lambda self: any(self.model.taken.values()))
    @rule(key=st.sampled_from(sorted(WINDOWS)), before=st.sampled_from([0, 1]))
    def wait_until_the_oldest_bucket_leaves(self, key: str, before: int) -> None:
        window = WINDOWS[key]
        oldest = self.model.oldest_live(key, window, self.now)
        if oldest is not None:
            leaves = (oldest + window.buckets) * window.bucket_seconds
            self.now = max(self.now, leaves - before)

    @invariant()
    def counts_agree(self) -> None:
        for key, window in WINDOWS.items():
            expected = self.model.used(key, window=window, now=self.now)
            answers = {
                name: store.used(key, window=window, now=self.now)
                for name, store in self.stores.items()
            }
            self._agree(expected, answers)


MODEL_SETTINGS = settings(
    max_examples=200,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.redis
def test_the_redis_and_in_process_stores_answer_as_the_model():
    machine = type("RedisAndLocalAgree", (StoresAgree,), {"with_redis": True})
    run_state_machine_as_test(machine, settings=MODEL_SETTINGS)


def test_the_in_process_store_answers_as_the_model():
    """The same without Redis, for a run where Redis is absent."""
    machine = type("LocalAgrees", (StoresAgree,), {"with_redis": False})
    run_state_machine_as_test(machine, settings=MODEL_SETTINGS)
