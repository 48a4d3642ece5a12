"""Counters for the API limits: credits in a rolling window, requests in flight, guess counters.

Two stores with the same behaviour: Redis (every web process and host shares one count; each
decision is one Lua script, so it is atomic), and an in-process store for `make run` without
Redis (exact for one process).

A rolling window is kept as buckets (a hash field per bucket of `bucket_seconds`) plus a running
total: a call expires the buckets that left the window, then checks and records, so it costs a
few hash operations whatever the number of calls in the window. The window rolls by whole
buckets (credits: by the minute). A read of the count (`used`: the admin's page) writes nothing.
Both stores must answer alike for any sequence of calls: tests/crm/http/test_limits_model.py
drives them and a reference model of a few lines with the same calls.

Requests in flight are a sorted set of request tokens scored by their start; a token older than
`stale_seconds` (a process that died mid-request) no longer counts, so a crash never leaks a
slot for good.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

import redis
from django.conf import settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    """A rolling window of `buckets` x `bucket_seconds`."""

    bucket_seconds: int
    buckets: int

    @property
    def seconds(self) -> int:
        return self.bucket_seconds * self.buckets


CREDITS_WINDOW = Window(bucket_seconds=60, buckets=24 * 60)  # 24 hours, rolling by the minute


@dataclass(frozen=True)
class Decision:
    allowed: bool
    used: int  # counted in the window after this decision
    retry_after: int = 0  # seconds until the request would be allowed, when refused


class Store(Protocol):
    def take(self, key: str, *, cost: int, limit: int, window: Window, now: float) -> Decision:
        """Check and record in one step: `cost` units are counted now if the window then holds
        at most `limit`, else nothing is."""

    def give_back(
        self, key: str, *, cost: int, window: Window, taken_at: float, now: float
    ) -> None:
        """Un-count up to `cost` units taken at `taken_at`, while their bucket is in the window."""

    def used(self, key: str, *, window: Window, now: float) -> int:
        """The units in the window; changes nothing."""

    def enter(
        self, key: str, token: str, *, limit: int, stale_seconds: int, now: float
    ) -> bool: ...

    def leave(self, key: str, token: str) -> None: ...


# live(key, current bucket, buckets): the window's total, its oldest live bucket and the expired
# buckets the hash still holds (nil when none expired). Reads only: a count never writes, so a
# read can neither change what it reads nor leave the hash half-pruned.
_LIVE_FUNCTION = """
local function live(key, current, window)
  local cutoff = current - window + 1
  local state = redis.call('HMGET', key, 'total', 'oldest')
  local total = tonumber(state[1]) or 0
  local oldest = tonumber(state[2]) or current
  if oldest >= cutoff then return total, oldest, nil end
  if cutoff - oldest >= window then return 0, cutoff, {} end
  local expired = {}
  for b = oldest, cutoff - 1 do
    local n = tonumber(redis.call('HGET', key, b))
    if n then
      total = total - n
      expired[#expired + 1] = b
    end
  end
  return total, cutoff, expired
end
"""

# prune(key, current bucket, buckets): live's total and oldest bucket, with the hash made to say
# so: an empty window is no hash at all, never a stale total that the next call would adopt.
_PRUNE_FUNCTION = (
    _LIVE_FUNCTION
    + """
local function prune(key, current, window)
  local total, oldest, expired = live(key, current, window)
  if expired then
    if total <= 0 then
      redis.call('DEL', key)
      total = 0
    else
      if #expired > 0 then redis.call('HDEL', key, unpack(expired)) end
      redis.call('HSET', key, 'total', total, 'oldest', oldest)
    end
  end
  return total, oldest
end
"""
)

# take(key, now (s), bucket seconds, buckets, limit, cost): {allowed (1/0), used, retry}. The
# check and the record are one step: two callers can never both take the last unit.
_TAKE_FUNCTION = (
    _PRUNE_FUNCTION
    + """
local function take(key, now, size, window, limit, cost)
  local current = math.floor(now / size)
  local total, oldest = prune(key, current, window)
  if total + cost > limit then
    local need = total + cost - limit
    local freed = 0
    local retry = window * size
    for b = oldest, current do
      local n = tonumber(redis.call('HGET', key, b))
      if n then
        freed = freed + n
        if freed >= need then
          retry = (b + window) * size - now
          break
        end
      end
    end
    if retry < 1 then retry = 1 end
    return {0, total, math.ceil(retry)}
  end
  if cost > 0 then
    redis.call('HINCRBY', key, current, cost)
    total = total + cost
    redis.call('HSET', key, 'total', total, 'oldest', oldest)
    redis.call('EXPIRE', key, window * size + size)
  end
  return {1, total, 0}
end
"""
)

# KEYS[1]: the window's hash. ARGV: now (s), bucket seconds, buckets, limit, cost.
_TAKE = (
    _TAKE_FUNCTION
    + """
return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
            tonumber(ARGV[4]), tonumber(ARGV[5]))
"""
)

# KEYS[1]: the window's hash. ARGV: now (s), bucket seconds, buckets, taken at (s), cost.
# Gives back up to `cost` units of the bucket they were taken in, if it is still in the window.
_GIVE_BACK = (
    _PRUNE_FUNCTION
    + """
local size, window = tonumber(ARGV[2]), tonumber(ARGV[3])
local current = math.floor(tonumber(ARGV[1]) / size)
local bucket = math.floor(tonumber(ARGV[4]) / size)
local total, oldest = prune(KEYS[1], current, window)
if bucket < oldest or bucket > current then return total end
local n = tonumber(redis.call('HGET', KEYS[1], bucket))
if not n then return total end
local back = math.min(n, tonumber(ARGV[5]))
total = total - back
if total <= 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
if back == n then
  redis.call('HDEL', KEYS[1], bucket)
else
  redis.call('HINCRBY', KEYS[1], bucket, -back)
end
redis.call('HSET', KEYS[1], 'total', total)
return total
"""
)

# KEYS[1]: the window's hash. ARGV: now (s), bucket seconds, buckets. Returns the credits counted.
_USED = (
    _LIVE_FUNCTION
    + """
local total = live(KEYS[1], math.floor(tonumber(ARGV[1]) / tonumber(ARGV[2])), tonumber(ARGV[3]))
return total
"""
)

# KEYS[1]: the sorted set of requests in flight. ARGV: now (ms), stale (ms), limit, token.
_ENTER_FUNCTION = """
local function enter(key, now, stale, limit, token)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - stale)
  if redis.call('ZCARD', key) >= limit then return 0 end
  redis.call('ZADD', key, now, token)
  redis.call('PEXPIRE', key, stale)
  return 1
end
"""
_ENTER = (
    _ENTER_FUNCTION
    + """
return enter(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])
"""
)

# One round trip for a request's admission: a slot in flight (KEYS[1]), then its credits
# (KEYS[2]); the slot is kept only when the credits are there.
# ARGV: now (ms), stale (ms), in-flight limit, token, bucket seconds, buckets, credit limit, cost.
# Returns {1, used, 0} admitted, {0, used, retry} out of credits, {-1, 0, 1} too many in flight.
_ADMIT = (
    _TAKE_FUNCTION
    + _ENTER_FUNCTION
    + """
local now_ms = tonumber(ARGV[1])
if enter(KEYS[1], now_ms, tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]) == 0 then
  return {-1, 0, 1}
end
local result = take(KEYS[2], math.floor(now_ms / 1000), tonumber(ARGV[5]), tonumber(ARGV[6]),
                    tonumber(ARGV[7]), tonumber(ARGV[8]))
if result[1] == 0 then redis.call('ZREM', KEYS[1], ARGV[4]) end
return result
"""
)


IN_FLIGHT = "in_flight"


def admit(
    store: Store,
    *,
    in_flight_key: str,
    token: str,
    in_flight_limit: int,
    stale_seconds: int,
    credits_key: str,
    cost: int,
    credit_limit: int,
    window: Window,
    now: float,
) -> Decision | str:
    """A request's admission: IN_FLIGHT when too many of its organization are in flight, else
    the credits' decision (a refused request keeps no slot)."""
    if isinstance(store, RedisStore):
        allowed, used, retry_after = store.run_admission(
            [store.prefix + in_flight_key, store.prefix + credits_key],
            [
                int(now * 1000),
                stale_seconds * 1000,
                in_flight_limit,
                token,
                window.bucket_seconds,
                window.buckets,
                credit_limit,
                cost,
            ],
        )
        if allowed == -1:
            return IN_FLIGHT
        return Decision(allowed == 1, int(used), int(retry_after))
    if not store.enter(
        in_flight_key, token, limit=in_flight_limit, stale_seconds=stale_seconds, now=now
    ):
        return IN_FLIGHT
    decision = store.take(credits_key, cost=cost, limit=credit_limit, window=window, now=now)
    if not decision.allowed:
        store.leave(in_flight_key, token)
    return decision


class RedisStore:
    """Shared by every process that uses the same Redis database and key prefix.

    Each thread sends this store's commands on a connection of its own (its lane), rather than
    through redis-py's pool and client, whose bookkeeping per command (checking the pooled
    connection, retries, metrics) cost as much as the round trip. A request's departure (`leave`)
    is sent and not waited for: its reply is read with the thread's next command, in that
    command's round trip. Redis has the departure before this process writes the response, and
    one connection keeps one order, so a thread's next admission always follows its own
    departures: the slot is given back as soon as it was when `leave` waited for its answer.
    """

    def __init__(self, url: str, prefix: str) -> None:
        self.client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self.prefix = prefix
        self._lanes = threading.local()

    def _lane(self) -> _Lane:
        lane = getattr(self._lanes, "lane", None)
        if lane is None or lane.pid != os.getpid():  # a forked child opens its own
            pool = self.client.connection_pool
            lane = self._lanes.lane = _Lane(pool.connection_class(**pool.connection_kwargs))
        return lane

    def _script(self, script: str, keys: list[str], args: list) -> object:
        """Run `script` by its SHA1, loading it the first time a server does not know it."""
        lane = self._lane()
        try:
            return lane.call("EVALSHA", _sha1(script), len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return lane.call("EVAL", script, len(keys), *keys, *args)

    def run_admission(self, keys: list[str], args: list) -> tuple[int, int, int]:
        """`_ADMIT` (see `admit`): a slot in flight and the credits, in one round trip."""
        allowed, used, retry_after = self._script(_ADMIT, keys, args)
        return allowed, used, retry_after

    def take(self, key: str, *, cost: int, limit: int, window: Window, now: float) -> Decision:
        allowed, used, retry_after = self._script(
            _TAKE,
            [self.prefix + key],
            [int(now), window.bucket_seconds, window.buckets, limit, cost],
        )
        return Decision(bool(allowed), int(used), int(retry_after))

    def give_back(
        self, key: str, *, cost: int, window: Window, taken_at: float, now: float
    ) -> None:
        self._script(
            _GIVE_BACK,
            [self.prefix + key],
            [int(now), window.bucket_seconds, window.buckets, int(taken_at), cost],
        )

    def used(self, key: str, *, window: Window, now: float) -> int:
        return int(
            self._script(
                _USED, [self.prefix + key], [int(now), window.bucket_seconds, window.buckets]
            )
        )

    def enter(self, key: str, token: str, *, limit: int, stale_seconds: int, now: float) -> bool:
        return bool(
            self._script(
                _ENTER,
                [self.prefix + key],
                [int(now * 1000), stale_seconds * 1000, limit, token],
            )
        )

    def leave(self, key: str, token: str) -> None:
        self._lane().send("ZREM", self.prefix + key, token)


@functools.cache
def _sha1(script: str) -> str:
    return hashlib.sha1(script.encode()).hexdigest()


class _Lane:
    """One connection and the replies it still owes (of commands sent without waiting)."""

    def __init__(self, connection: redis.Connection) -> None:
        self.connection = connection
        self.owed = 0
        self.pid = os.getpid()

    def send(self, *command) -> None:
        """Send `command`; its reply is read (and dropped) before the next call's."""
        try:
            self.connection.send_command(*command)
        except BaseException:
            self._reset()
            raise
        self.owed += 1

    def call(self, *command):
        """Send `command` and return its reply. A connection found closed (Redis restarted, an
        idle timeout) is opened again once."""
        for attempt in (1, 2):
            try:
                while self.owed:  # these arrived long ago: no wait
                    self.owed -= 1
                    with contextlib.suppress(redis.ResponseError):
                        self.connection.read_response()
                self.connection.send_command(*command)
                return self.connection.read_response()
            except redis.ResponseError:
                raise  # an answer: the connection is in step
            except redis.ConnectionError:
                self._reset()
                if attempt == 2:
                    raise
            except BaseException:
                self._reset()
                raise
        raise AssertionError("unreachable")

    def _reset(self) -> None:
        self.owed = 0
        self.connection.disconnect()


@dataclass
class _Rolling:
    buckets: dict[int, int] = field(default_factory=dict)
    total: int = 0


class LocalStore:
    """The same decisions within one process, for `make run` without Redis."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, _Rolling] = {}
        self._in_flight: dict[str, dict[str, float]] = {}

    def _pruned(self, key: str, window: Window, now: float) -> _Rolling:
        cutoff = int(now) // window.bucket_seconds - window.buckets + 1
        state = self._windows.get(key) or _Rolling()
        for bucket in [b for b in state.buckets if b < cutoff]:
            state.total -= state.buckets.pop(bucket)
        return state

    def _keep(self, key: str, state: _Rolling) -> None:
        # An empty window is no entry at all (the Redis store deletes its hash alike).
        if state.buckets:
            self._windows[key] = state
        else:
            self._windows.pop(key, None)

    def take(self, key: str, *, cost: int, limit: int, window: Window, now: float) -> Decision:
        current = int(now) // window.bucket_seconds
        with self._lock:
            state = self._pruned(key, window, now)
            if state.total + cost > limit:
                need, freed, retry = state.total + cost - limit, 0, window.seconds
                for bucket in sorted(state.buckets):
                    freed += state.buckets[bucket]
                    if freed >= need:
                        retry = (bucket + window.buckets) * window.bucket_seconds - int(now)
                        break
                decision = Decision(False, state.total, max(retry, 1))
            else:
                if cost > 0:
                    state.buckets[current] = state.buckets.get(current, 0) + cost
                    state.total += cost
                decision = Decision(True, state.total)
            self._keep(key, state)
            return decision

    def give_back(
        self, key: str, *, cost: int, window: Window, taken_at: float, now: float
    ) -> None:
        bucket = int(taken_at) // window.bucket_seconds
        with self._lock:
            state = self._pruned(key, window, now)
            if bucket <= int(now) // window.bucket_seconds and bucket in state.buckets:
                back = min(state.buckets[bucket], cost)
                state.buckets[bucket] -= back
                state.total -= back
                if not state.buckets[bucket]:
                    del state.buckets[bucket]
            self._keep(key, state)

    def used(self, key: str, *, window: Window, now: float) -> int:
        cutoff = int(now) // window.bucket_seconds - window.buckets + 1
        with self._lock:
            state = self._windows.get(key)
            if state is None:
                return 0
            return sum(n for bucket, n in state.buckets.items() if bucket >= cutoff)

    def enter(self, key: str, token: str, *, limit: int, stale_seconds: int, now: float) -> bool:
        with self._lock:
            tokens = self._in_flight.setdefault(key, {})
            for stale in [t for t, started in tokens.items() if started <= now - stale_seconds]:
                del tokens[stale]
            if len(tokens) >= limit:
                return False
            tokens[token] = now
            return True

    def leave(self, key: str, token: str) -> None:
        with self._lock:
            tokens = self._in_flight.get(key)
            if tokens is not None:
                tokens.pop(token, None)
                if not tokens:
                    del self._in_flight[key]


@lru_cache(maxsize=1)
def _store_for(url: str, prefix: str) -> Store:
    return RedisStore(url, prefix) if url else LocalStore()


def store() -> Store:
    """Redis when `API_LIMITS_REDIS_URL` (default `REDIS_URL`) is set, else this process."""
    return _store_for(settings.API_LIMITS_REDIS_URL, settings.API_LIMITS_KEY_PREFIX)


class FailOpen:
    """Wraps a store so that a Redis outage lets requests through (and says so in the log)
    instead of failing every API call: the limits protect the service, they must not stop it."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def take(self, key: str, **kwargs) -> Decision:
        try:
            return self.inner.take(key, **kwargs)
        except redis.RedisError as exc:
            logger.warning("API limits: Redis unavailable, request not counted: %s", exc)
            return Decision(True, 0)

    def give_back(self, key: str, **kwargs) -> None:
        try:
            self.inner.give_back(key, **kwargs)
        except redis.RedisError as exc:
            logger.warning("API limits: Redis unavailable, nothing given back: %s", exc)

    def used(self, key: str, **kwargs) -> int | None:
        try:
            return self.inner.used(key, **kwargs)
        except redis.RedisError:
            return None

    def enter(self, key: str, token: str, **kwargs) -> bool:
        try:
            return self.inner.enter(key, token, **kwargs)
        except redis.RedisError as exc:
            logger.warning("API limits: Redis unavailable, request not counted: %s", exc)
            return True

    def admit(self, **kwargs) -> Decision | str:
        try:
            return admit(self.inner, **kwargs)
        except redis.RedisError as exc:
            logger.warning("API limits: Redis unavailable, request not counted: %s", exc)
            return Decision(True, 0)

    def leave(self, key: str, token: str) -> None:
        # On a Redis error the token goes stale by itself.
        with contextlib.suppress(redis.RedisError):
            self.inner.leave(key, token)


def now() -> float:
    return time.time()
