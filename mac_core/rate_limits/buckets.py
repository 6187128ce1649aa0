"""Token buckets, one per limit of a model, refilled continuously like the API's.

A bucket holds up to its per-minute limit and refills at ``limit / 60`` a
second (times the budget's pace). A request is charged only when every
bucket holds what it costs; otherwise it is told how long until they would,
and asks again (answers that give back unused ``max_tokens`` shorten that).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

#: The three limits, in the order costs are given, with the words reporters show.
LIMIT_NAMES = ("requests per minute", "input tokens per minute", "output tokens per minute")
#: The response headers' names for them.
HEADER_NAMES = ("requests", "input-tokens", "output-tokens")
#: The fewest requests a model's pace falls to after 429s and 529s (a fraction of its limits).
MIN_PACE = 0.25
#: What a 429 or 529 multiplies the pace by; each answered request then adds :data:`PACE_STEP` back.
PACE_DECREASE = 0.75
PACE_STEP = 0.05
#: The longest ``retry-after`` waited for: every per-minute bucket refills within a minute, so a longer
#: one is not about these limits (a spend limit, an outage); the refused request then fails at once.
MAX_RETRY_AFTER_SECONDS = 60.0
#: Refusals within this many seconds of the last decrease are one congestion event: the pace drops once.
PACE_HOLD_SECONDS = 2.0


class TokenBucket:
    """One limit's budget: ``level`` of ``limit`` left at ``updated`` (``time.monotonic()``).

    :ivar returned: everything ever given back, and
    :ivar charged: everything ever taken, so a response's ``remaining``
        (counted when it was sent) can be brought up to date with what came
        back and what was taken since.
    """

    __slots__ = ("limit", "level", "updated", "returned", "charged")

    def __init__(self, limit: int, now: float, level: float | None = None) -> None:
        self.limit = limit
        self.level = float(limit if level is None else level)
        self.updated = now
        self.returned = 0.0
        self.charged = 0.0

    def refill(self, now: float, pace: float) -> None:
        """Add what the bucket refilled since it was last touched, up to its limit."""
        if now > self.updated:
            self.level = min(self.limit, self.level + self.limit / 60.0 * pace * (now - self.updated))
            self.updated = now

    def shortfall(self, amount: float, now: float, pace: float) -> float:
        """Seconds until the bucket holds ``amount`` (at most a full bucket); 0 when it does now."""
        self.refill(now, pace)
        missing = min(amount, self.limit) - self.level
        return 0.0 if missing <= 0 else missing / (self.limit / 60.0 * pace)

    def take(self, amount: float) -> None:
        """Charge ``amount`` (at most a full bucket); call :meth:`shortfall` first, at the same ``now``."""
        self.level -= min(amount, self.limit)
        self.charged += min(amount, self.limit)

    def give_back(self, amount: float, now: float, pace: float) -> None:
        """Return ``amount`` (negative: take more, as a correction); never above the limit."""
        self.refill(now, pace)
        self.level = min(self.limit, self.level + amount)
        if amount > 0:
            self.returned += amount

    def observe(self, remaining: float, age: float, now: float, pace: float) -> None:
        """The far side said ``remaining`` was left ``age`` seconds ago (brought up to date): lower to it.

        Only ever lowers: requests in flight reach the far side in another order than they were charged
        here, so a ``remaining`` may omit one this process already counts (taking its word would let one
        more in, to be refused); what the far side knows that this process does not (others' requests) lowers.
        """
        self.refill(now, pace)
        self.level = min(self.level, self.limit, remaining + self.limit / 60.0 * pace * max(age, 0.0))
        self.updated = now


@dataclass
class LimitsSeen:
    """The limits and what was left, as one response's ``anthropic-ratelimit-*`` headers say (``None``: absent)."""

    limits: tuple[int | None, int | None, int | None]
    remaining: tuple[int | None, int | None, int | None]


def read_headers(headers: Mapping[str, str] | None) -> LimitsSeen | None:
    """The rate-limit headers of a response, or ``None`` when it has none (one lookup: the no-limit path)."""
    if (
        headers is None
        or headers.get("anthropic-ratelimit-requests-limit") is None
        and headers.get("anthropic-ratelimit-output-tokens-limit") is None
    ):
        return None
    limits = tuple(_integer(headers.get(f"anthropic-ratelimit-{name}-limit"), 1) for name in HEADER_NAMES)
    remaining = tuple(
        _integer(headers.get(f"anthropic-ratelimit-{name}-remaining"), 0) for name in HEADER_NAMES
    )
    return LimitsSeen(limits, remaining)  # type: ignore[arg-type]


def _integer(value: str | None, least: int) -> int | None:
    """A header's whole number, or ``None`` when absent, garbage or below ``least`` (a limit of 0 is no limit)."""
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number >= least else None


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the far side asks to wait (``retry-after-ms``, else ``retry-after`` in seconds), or ``None``.

    Garbage, negative or infinite values are ``None`` (the scheduler's own backoff then applies); a wait
    over :data:`MAX_RETRY_AFTER_SECONDS` is not waited for (see :mod:`~mac_core.rate_limits.admission`).
    """
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                seconds = float(value) / scale
            except ValueError:
                continue
            if 0 <= seconds < math.inf:  # not NaN, not negative
                return seconds
    return None


class ModelBudget:
    """One model's buckets (``None`` for a limit not known), its pace and when it may send again.

    :ivar limits: the three per-minute limits (``None``: unknown or none).
    :ivar fixed: which limits were given as settings (headers do not change those).
    :ivar pace: the fraction of its limits the model is paced at: lowered by a
        429 or 529, raised again by every answer (AIMD).
    :ivar blocked_until: ``time.monotonic()`` before which nothing is sent (a ``retry-after``).
    """

    __slots__ = ("limits", "fixed", "buckets", "pace", "blocked_until", "slowed_at")

    def __init__(self, limits: tuple[int | None, int | None, int | None], now: float) -> None:
        self.limits = limits
        self.fixed = tuple(limit is not None for limit in limits)
        self.buckets = [TokenBucket(limit, now) if limit is not None else None for limit in limits]
        self.pace = 1.0
        self.blocked_until = 0.0
        self.slowed_at = -PACE_HOLD_SECONDS

    @property
    def limited(self) -> bool:
        """True when at least one limit is known."""
        return any(bucket is not None for bucket in self.buckets)

    def take(self, costs: tuple[float, float, float], now: float) -> tuple[float, str | None]:
        """Charge ``costs`` (requests, input, output tokens) if every bucket holds them: ``(0, None)``.

        Otherwise nothing is charged: the seconds until they would (as far as
        refill alone goes) and the limit that is short.
        """
        wait, reason = 0.0, None
        if self.blocked_until > now:
            wait, reason = self.blocked_until - now, "retry-after"
        for bucket, cost, name in zip(self.buckets, costs, LIMIT_NAMES, strict=True):
            if bucket is not None:
                short = bucket.shortfall(cost, now, self.pace)
                if short > wait:
                    wait, reason = short, name
        if wait <= 0:
            for bucket, cost in zip(self.buckets, costs, strict=True):
                if bucket is not None:
                    bucket.take(cost)
        return wait, reason

    def never_fits(self, costs: tuple[float, float, float], model: str) -> str | None:
        """Why a request costing ``costs`` could never be sent (its ``max_tokens`` over a whole minute's), or ``None``."""
        bucket = self.buckets[2]
        if bucket is not None and costs[2] > bucket.limit:
            return (
                f"max_tokens={costs[2]:.0f} is more than the whole output tokens per minute limit "
                f"({bucket.limit:,}) of {model}: the request could never be sent; lower max_tokens"
            )
        return None

    def give_back(self, amounts: tuple[float, float, float], now: float) -> None:
        """Return unused or over-estimated amounts (negative ones charge an under-estimate)."""
        for bucket, amount in zip(self.buckets, amounts, strict=True):
            if bucket is not None and amount:
                bucket.give_back(amount, now, self.pace)

    def counts(self) -> tuple[tuple[float, float], ...]:
        """Each bucket's (returned, charged) so far ((0, 0) for a limit not known)."""
        return tuple((b.returned, b.charged) if b is not None else (0.0, 0.0) for b in self.buckets)

    def learn(
        self,
        seen: LimitsSeen,
        age: float,
        now: float,
        counts_then: tuple[tuple[float, float], ...] | None = None,
    ) -> tuple[float, float, float]:
        """Take the limits the headers state (unless given as settings) and what they say is left.

        :param age: seconds since the headers' counts were taken (their request was sent).
        :param counts_then: :meth:`counts` when it was sent: what was given back since is added to
            ``remaining``, what was taken since (requests the far side had not seen yet) is subtracted
            (``None``: nothing since). Headers only ever lower a level (:meth:`TokenBucket.observe`).
        :return: each remaining so brought up to date (``-1``: not stated), for a shared budget.
        """
        current = [-1.0, -1.0, -1.0]
        for i, (limit, remaining) in enumerate(zip(seen.limits, seen.remaining, strict=True)):
            bucket = self.buckets[i]
            if limit is not None and not self.fixed[i]:
                if bucket is None:
                    bucket = self.buckets[i] = TokenBucket(limit, now, remaining)
                elif bucket.limit != limit:  # the limit changed mid-run: a lower one caps what is left now
                    bucket.refill(now, self.pace)
                    bucket.limit = limit
                    bucket.level = min(bucket.level, limit)
            if bucket is not None and remaining is not None:
                returned, charged = (
                    counts_then[i] if counts_then is not None else (bucket.returned, bucket.charged)
                )
                current[i] = remaining + (bucket.returned - returned) - (bucket.charged - charged)
                bucket.observe(current[i], age, now, self.pace)
        self.limits = tuple(bucket.limit if bucket is not None else None for bucket in self.buckets)  # type: ignore[assignment]
        return tuple(current)  # type: ignore[return-value]

    def slow_down(self, seconds: float, now: float) -> None:
        """A 429 or 529: lower the pace (once for refusals that come together) and send nothing for ``seconds``."""
        if now - self.slowed_at >= PACE_HOLD_SECONDS:
            self.pace = max(MIN_PACE, self.pace * PACE_DECREASE)
            self.slowed_at = now
        self.blocked_until = max(self.blocked_until, now + min(seconds, MAX_RETRY_AFTER_SECONDS))

    def speed_up(self) -> None:
        """An answer: raise the pace a step back towards the full limits."""
        if self.pace < 1.0:
            self.pace = min(1.0, self.pace + PACE_STEP)
