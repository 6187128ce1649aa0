"""Rate limits: run at the organisation's limits, not into them.

The API limits each organisation and model in requests, input tokens and
output tokens per minute (output is charged ``max_tokens`` when a request
starts and corrected when it ends; cache reads mostly do not count) and
reports what is left in ``anthropic-ratelimit-*`` headers on every response.
The engine asks a :class:`RequestScheduler` before every request of a
``rate_limited`` transport (``stream``, ``messages``, and every round of a tool
loop on them):

* it learns each model's limits from the headers, or takes them as settings
  (``Coordinator(rate_limits=RateLimits(rpm=..., itpm=..., otpm=...))``);
* it estimates a request's input tokens locally (``CHARS_PER_TOKEN``),
  reserves its ``max_tokens`` of output, and starts it only when all three
  buckets allow, in the order tasks asked; the estimate and the reservation
  are corrected with the answer's usage;
* a 429 or 529 lowers the model's pace (x0.75, back up 0.05 per answer) and
  holds every request of the model for its ``retry-after``; the engine, not
  the SDK, sends the refused request again (up to ``max_retries`` times), so
  refused tasks do not retry together;
* a model with no limit known costs one dict lookup per request.

With a Redis URL (``redis_url=``, ``mac run --redis-url``, ``$MAC_REDIS_URL``)
the buckets live in Redis, so processes and hosts with the same key share one
budget (:mod:`mac_core.rate_limits.shared`). ``rate_limits=False`` turns the
scheduler off (the SDK then retries 429s itself). A plugin may replace the
scheduler: ``mac_rate_limit_scheduler`` in :mod:`mac_core.hookspecs`.
"""

from __future__ import annotations

import threading

from .admission import ScheduledRequests
from .buckets import LIMIT_NAMES, ModelBudget, TokenBucket
from .scheduler import RateLimitScheduler, RequestScheduler, Reservation, estimate_input_tokens
from .settings import (
    ANY_MODEL,
    REDIS_URL_ENV,
    RateLimits,
    RateLimitSettings,
    account_id,
    read_rate_limits,
    read_redis_url,
)

__all__ = [
    "ANY_MODEL",
    "LIMIT_NAMES",
    "REDIS_URL_ENV",
    "ModelBudget",
    "RateLimitScheduler",
    "RateLimitSettings",
    "RateLimits",
    "RequestScheduler",
    "Reservation",
    "ScheduledRequests",
    "TokenBucket",
    "account_id",
    "built_in_scheduler",
    "estimate_input_tokens",
    "read_rate_limits",
    "read_redis_url",
]

#: The built-in schedulers of this process, by settings: runs with the same key and limits share one budget.
_schedulers: dict[tuple, RequestScheduler] = {}
_schedulers_lock = threading.Lock()


def built_in_scheduler(settings: RateLimitSettings) -> RequestScheduler:
    """The process's scheduler for ``settings``: in-process buckets, or shared through Redis with a URL."""
    key = settings.key()
    with _schedulers_lock:
        scheduler = _schedulers.get(key)
        if scheduler is None:
            if settings.redis_url is not None:
                from .shared import RedisRateLimitScheduler

                scheduler = RedisRateLimitScheduler(settings)
            else:
                scheduler = RateLimitScheduler(settings)
            _schedulers[key] = scheduler
        return scheduler
