"""One budget for several processes and hosts: the buckets in Redis, changed by atomic Lua scripts.

Each model of each account (a hash of the API key and base URL, never the key)
is one Redis hash, ``mac:rate-limits:{account}:{model}``: a level and a time
per bucket and a ``blocked`` time, all in the Redis server's clock (``TIME``),
so hosts need not agree on theirs. A process charges the shared buckets and
its own (which know the limits it learnt and its pace, and carry on if Redis
is lost); the shared ones decide.

If Redis cannot be reached (at start or mid-run), the process warns once
(logger ``mac_core.rate_limits``) and goes on with its own buckets; it tries
Redis again after :data:`RECONNECT_SECONDS`. No task fails for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import anyio.to_thread

from ..results import Usage
from ..run import Task
from .buckets import LIMIT_NAMES, LimitsSeen, ModelBudget, read_headers
from .scheduler import RateLimitScheduler, Reservation
from .settings import RateLimitSettings, redacted

log = logging.getLogger("mac_core.rate_limits")

#: Seconds without Redis before the next try to reach it.
RECONNECT_SECONDS = 10.0
#: Seconds a Redis call may take (connect, or answer) before it counts as lost.
REDIS_TIMEOUT = 0.5
#: Seconds an unused model's hash stays in Redis.
KEY_TTL_SECONDS = 300

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local pace = tonumber(ARGV[1])
local names = {'r', 'i', 'o'}
local function level_of(i, limit)
  local level = tonumber(redis.call('HGET', KEYS[1], names[i]) or limit)
  local at = tonumber(redis.call('HGET', KEYS[1], names[i] .. '_at') or now)
  return math.min(limit, level + limit / 60 * pace * math.max(0, now - at))
end
"""

#: ARGV: pace, three limits (0: none), three costs. Charges them if every bucket holds them.
#: Returns {seconds until they would fit (0: charged), as a string; which limit is short (0: blocked, -1: none)}.
TAKE_SCRIPT = (
    _NOW
    + """
local wait, reason = 0, -1
local blocked = tonumber(redis.call('HGET', KEYS[1], 'blocked') or '0')
if blocked > now then wait = blocked - now; reason = 0 end
local levels = {}
for i = 1, 3 do
  local limit = tonumber(ARGV[1 + i])
  if limit > 0 then
    levels[i] = level_of(i, limit)
    local short = (math.min(tonumber(ARGV[4 + i]), limit) - levels[i]) / (limit / 60 * pace)
    if short > wait then wait = short; reason = i end
  end
end
if wait <= 0 then
  for i = 1, 3 do
    local limit = tonumber(ARGV[1 + i])
    if limit > 0 then
      redis.call('HSET', KEYS[1], names[i], levels[i] - math.min(tonumber(ARGV[4 + i]), limit), names[i] .. '_at', now)
    end
  end
end
redis.call('EXPIRE', KEYS[1], __TTL__)
return {tostring(wait), reason}
""".replace("__TTL__", str(KEY_TTL_SECONDS))
)

#: ARGV: pace, three limits, three amounts given back, three remainings (-1: unknown), their age in seconds.
ADJUST_SCRIPT = (
    _NOW
    + """
local age = tonumber(ARGV[11])
for i = 1, 3 do
  local limit = tonumber(ARGV[1 + i])
  if limit > 0 then
    local level = math.min(limit, level_of(i, limit) + tonumber(ARGV[4 + i]))
    local remaining = tonumber(ARGV[7 + i])
    if remaining >= 0 then level = math.min(level, remaining + limit / 60 * pace * age) end
    redis.call('HSET', KEYS[1], names[i], level, names[i] .. '_at', now)
  end
end
redis.call('EXPIRE', KEYS[1], __TTL__)
return 0
""".replace("__TTL__", str(KEY_TTL_SECONDS))
)

#: ARGV: seconds. Nothing of the model is sent for that long, by any process.
BLOCK_SCRIPT = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
local blocked = tonumber(redis.call('HGET', KEYS[1], 'blocked') or '0')
if until_ > blocked then redis.call('HSET', KEYS[1], 'blocked', until_) end
redis.call('EXPIRE', KEYS[1], __TTL__)
return 0
""".replace("__TTL__", str(KEY_TTL_SECONDS))


class RedisRateLimitScheduler(RateLimitScheduler):
    """:class:`RateLimitScheduler` whose buckets are shared through Redis, falling back to its own when it is lost."""

    def __init__(self, settings: RateLimitSettings) -> None:
        super().__init__(settings)
        import redis

        assert settings.redis_url is not None
        self._where = redacted(settings.redis_url)
        self._client = redis.Redis.from_url(
            settings.redis_url.reveal(),
            socket_timeout=REDIS_TIMEOUT,
            socket_connect_timeout=REDIS_TIMEOUT,
            retry_on_timeout=False,
        )
        self._take_script = self._client.register_script(TAKE_SCRIPT)
        self._adjust_script = self._client.register_script(ADJUST_SCRIPT)
        self._block_script = self._client.register_script(BLOCK_SCRIPT)
        self._lost_until = 0.0  # time.monotonic() before which Redis is not tried again
        self.warnings = 0  # how many times Redis was found lost (one warning each)

    def __repr__(self) -> str:
        return f"<RedisRateLimitScheduler {self._where}>"  # never the URL's user or password

    @property
    def shared(self) -> bool:
        """True while the budget is shared through Redis (False after losing it, until it is back)."""
        return time.monotonic() >= self._lost_until

    # --- the engine's calls go to a worker thread: a Redis round trip never holds the event loop ---

    async def reserve(self, task: Task) -> Reservation:
        """See :meth:`RequestScheduler.reserve`; Redis is asked in a worker thread."""
        if self._budgets.get(task.model) is None and not self._given:
            return Reservation(task.model)
        return await anyio.to_thread.run_sync(self.reserve_now, task)

    async def answered(
        self, reservation: Reservation, headers: Mapping[str, str] | None, usage: Usage | None
    ) -> None:
        """See :meth:`RequestScheduler.answered`."""
        if reservation.costs[0] or self._budgets.get(reservation.model) is not None or read_headers(headers):
            await anyio.to_thread.run_sync(self.answered_now, reservation, headers, usage)

    async def refused(
        self, reservation: Reservation, status_code: int, headers: Mapping[str, str] | None, attempt: int
    ) -> None:
        """See :meth:`RequestScheduler.refused`."""
        await anyio.to_thread.run_sync(self.refused_now, reservation, headers, attempt)

    async def released(self, reservation: Reservation) -> None:
        """See :meth:`RequestScheduler.released`."""
        if reservation.costs[2]:
            await anyio.to_thread.run_sync(self.released_now, reservation)

    # --- the buckets: shared ones in Redis, and this process's own -------------

    def _take(
        self, model: str, budget: ModelBudget, costs: tuple[float, float, float], now: float
    ) -> tuple[float, str | None]:
        shared = self._redis(self._take_script, model, [budget.pace, *_limits(budget), *costs])
        if shared is None:  # Redis lost: this process's buckets alone
            return budget.take(costs, now)
        wait, which = float(shared[0]), int(shared[1])
        if wait > 0:
            return wait, "retry-after" if which == 0 else LIMIT_NAMES[which - 1]
        for bucket, cost in zip(budget.buckets, costs, strict=True):  # kept current for a fallback
            if bucket is not None:
                bucket.refill(now, budget.pace)
                bucket.take(cost)
        return 0.0, None

    def _give_back(
        self, model: str, budget: ModelBudget, amounts: tuple[float, float, float], now: float
    ) -> None:
        budget.give_back(amounts, now)
        if budget.limited:
            self._redis(self._adjust_script, model, [budget.pace, *_limits(budget), *amounts, -1, -1, -1, 0])

    def _learn(
        self,
        model: str,
        budget: ModelBudget,
        seen: LimitsSeen,
        age: float,
        now: float,
        counts_then: tuple[tuple[float, float], ...] | None,
    ) -> None:
        credited = budget.learn(seen, age, now, counts_then)
        if budget.limited:
            self._redis(self._adjust_script, model, [budget.pace, *_limits(budget), 0, 0, 0, *credited, age])

    def _slow_down(self, model: str, budget: ModelBudget, seconds: float, now: float) -> None:
        budget.slow_down(seconds, now)
        self._redis(self._block_script, model, [seconds])

    def _redis(self, script: Any, model: str, args: list[Any]) -> Any:
        """Run ``script`` on ``model``'s hash; ``None`` (and this process's buckets alone) while Redis is lost."""
        now = time.monotonic()
        if now < self._lost_until:
            return None
        try:
            result = script(keys=[f"mac:rate-limits:{self.settings.account}:{model}"], args=args)
        except Exception as exc:  # redis.RedisError, OSError: any failure means "not shared for now"
            self._lost_until = now + RECONNECT_SECONDS
            self.warnings += 1
            log.warning(
                "the shared rate-limit budget at %s is unreachable (%s); this process goes on with its own "
                "and tries again in %.0f s",
                self._where,
                type(exc).__name__,
                RECONNECT_SECONDS,
            )
            return None
        return result


def _limits(budget: ModelBudget) -> list[int]:
    return [limit or 0 for limit in budget.limits]
