"""Rate limits as the API enforces them: per model, token buckets for requests, input and output tokens per minute.

Each limited model has up to three buckets that refill continuously (a
bucket of N per minute holds at most N and gains N/60 every second). A
Messages request takes 1 from the requests bucket, its uncached input tokens
(``input_tokens`` plus ``cache_creation_input_tokens``; cache reads are free)
from the input bucket, and its ``max_tokens`` from the output bucket when it
starts; when it ends, the output tokens it did not produce are given back.
A request that does not fit is refused with 429 ``rate_limit_error`` and a
``retry-after`` (whole seconds until it would fit). Every answer of a limited
model carries the ``anthropic-ratelimit-*`` headers (:meth:`ModelBuckets.headers`).
docs/simulator-rate-limits.md has the user's summary.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

LIMIT_FIELDS = ("rpm", "itpm", "otpm")
HEADER_PREFIX = "anthropic-ratelimit-"
NEVER_FITS = math.inf  # the wait of a request bigger than a whole bucket
_PRUNE_ABOVE = 10_000  # models with buckets before full ones are forgotten


@dataclass(frozen=True)
class RateLimits:
    """The per-minute limits of one model; ``None`` is unlimited.

    :param rpm: requests per minute.
    :param itpm: uncached input tokens per minute (cache writes count, cache reads do not).
    :param otpm: output tokens per minute (``max_tokens`` is reserved when a request starts).
    """

    rpm: int | None = None
    itpm: int | None = None
    otpm: int | None = None

    def __post_init__(self) -> None:
        for name in LIMIT_FIELDS:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(
                    f"{name} must be a whole number of at least 1 (or None: unlimited), not {value!r}"
                )

    @property
    def unlimited(self) -> bool:
        """Whether no limit is set."""
        return self.rpm is None and self.itpm is None and self.otpm is None

    def over(self, default: RateLimits) -> RateLimits:
        """These limits, with ``default``'s for the ones not set here."""
        return RateLimits(
            *(
                getattr(self, name) if getattr(self, name) is not None else getattr(default, name)
                for name in LIMIT_FIELDS
            )
        )

    def as_json(self) -> dict[str, int | None]:
        """``{"rpm": …, "itpm": …, "otpm": …}``."""
        return {name: getattr(self, name) for name in LIMIT_FIELDS}


def rate_limits_of(value: Any, model: str) -> RateLimits:
    """``value`` as :class:`RateLimits`: one already, a mapping of ``rpm``/``itpm``/``otpm``, or any object with
    those three attributes (such as :class:`mac_core.rate_limits.RateLimits`, so a test gives both sides the same)."""
    if isinstance(value, RateLimits):
        return value
    if not isinstance(value, Mapping):
        if all(hasattr(value, name) for name in LIMIT_FIELDS):
            value = {name: getattr(value, name) for name in LIMIT_FIELDS}
        else:
            raise ValueError(
                f"model_limits[{model!r}]: expected RateLimits or a mapping of rpm/itpm/otpm, "
                f"not {type(value).__name__}"
            )
    unknown = sorted(set(value) - set(LIMIT_FIELDS))
    if unknown:
        raise ValueError(
            f"model_limits[{model!r}]: unknown limit(s) {unknown}; known: {', '.join(LIMIT_FIELDS)}"
        )
    try:
        return RateLimits(**value)
    except ValueError as exc:
        raise ValueError(f"model_limits[{model!r}]: {exc}") from None


def parse_model_limit(text: str) -> tuple[str, RateLimits]:
    """``"MODEL:rpm=N,itpm=N,otpm=N"`` (any of the three) as ``(MODEL, RateLimits)``; ``ValueError`` names what is wrong."""
    model, colon, spec = text.rpartition(":")  # the limits never hold a colon; some model ids do
    if not colon or not model.strip():
        raise ValueError(f"expected MODEL:rpm=N,itpm=N,otpm=N, got {text!r}")
    values: dict[str, int] = {}
    for item in spec.split(","):
        name, equals, number = item.strip().partition("=")
        if not equals or name.strip() not in LIMIT_FIELDS:
            raise ValueError(
                f"expected rpm=N, itpm=N or otpm=N after {model.strip()!r}:, got {item.strip()!r}"
            )
        if not number.strip().isdigit() or int(number) < 1:
            raise ValueError(f"{name.strip()} must be a whole number of at least 1, got {number.strip()!r}")
        values[name.strip()] = int(number)
    return model.strip(), RateLimits(**values)


class Bucket:
    """One token bucket: holds at most ``capacity``, refills ``capacity`` per minute, continuously.

    Its level may go below zero when a request turns out to cost more than it
    reserved (tool input is not cut at ``max_tokens``); it then refills from there.
    """

    __slots__ = ("capacity", "level", "per_second", "stamp")

    def __init__(self, capacity: int, now: float) -> None:
        self.capacity = capacity
        self.level = float(capacity)
        self.per_second = capacity / 60.0
        self.stamp = now

    def refill(self, now: float) -> None:
        """Add what flowed in since the last refill."""
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.per_second)
            self.stamp = now

    def wait(self, amount: int) -> float:
        """Seconds until ``amount`` fits (0 if it fits now; :data:`NEVER_FITS` if it exceeds the capacity)."""
        if amount <= self.level:
            return 0.0
        if amount > self.capacity:
            return NEVER_FITS
        return (amount - self.level) / self.per_second

    @property
    def remaining(self) -> int:
        """What it holds now, in whole units, never below 0."""
        return max(0, int(self.level))

    def full_in(self) -> float:
        """Seconds until it is full again."""
        return (self.capacity - self.level) / self.per_second


#: The three buckets' names in the headers and in :attr:`~.settings.SimulatorStats.rate_limited_by`.
REQUESTS, INPUT, OUTPUT = "requests", "input-tokens", "output-tokens"
_LIMIT_WORDS = {REQUESTS: "requests", INPUT: "input tokens", OUTPUT: "output tokens"}


class ModelBuckets:
    """The buckets of one model (``None`` for an unlimited dimension); used on the event loop only."""

    __slots__ = ("clock", "input", "model", "output", "requests")

    def __init__(self, model: str, limits: RateLimits, clock: Callable[[], float]) -> None:
        now = clock()
        self.model = model
        self.clock = clock
        self.requests = Bucket(limits.rpm, now) if limits.rpm else None
        self.input = Bucket(limits.itpm, now) if limits.itpm else None
        self.output = Bucket(limits.otpm, now) if limits.otpm else None

    def refill(self) -> None:
        """Refill every bucket up to now."""
        now = self.clock()
        for bucket in (self.requests, self.input, self.output):
            if bucket is not None:
                bucket.refill(now)

    def full(self) -> bool:
        """Whether every bucket is full, once refilled up to now."""
        self.refill()
        return all(
            bucket is None or bucket.level >= bucket.capacity
            for bucket in (self.requests, self.input, self.output)
        )

    def shortfall(self, *, input_tokens: int | None, max_tokens: int) -> tuple[float, str]:
        """The longest wait before this request fits, and the bucket that needs it (``(0.0, "")``: it fits now).

        ``input_tokens=None`` leaves the input bucket out (checked once the cache split is known).
        """
        longest, which = 0.0, ""
        for name, bucket, amount in (
            (REQUESTS, self.requests, 1),
            (INPUT, self.input, input_tokens),
            (OUTPUT, self.output, max_tokens),
        ):
            if bucket is not None and amount is not None:
                seconds = bucket.wait(amount)
                if seconds > longest:
                    longest, which = seconds, name
        return longest, which

    def take(self, input_tokens: int, max_tokens: int) -> None:
        """Charge an admitted request: one request, its input tokens, ``max_tokens`` reserved."""
        if self.requests is not None:
            self.requests.level -= 1
        if self.input is not None:
            self.input.level -= input_tokens
        if self.output is not None:
            self.output.level -= max_tokens

    def settle_output(self, reserved: int, produced: int) -> None:
        """Correct the output reservation to what the answer produced (a refund, or a further charge)."""
        if self.output is not None:
            self.output.refill(self.clock())
            self.output.level = min(self.output.capacity, self.output.level + reserved - produced)

    def headers(self, wall_now: float) -> list[tuple[bytes, bytes]]:
        """The ``anthropic-ratelimit-*`` headers: limit, remaining and reset (RFC 3339, when full again) of each bucket.

        ``anthropic-ratelimit-tokens-*`` repeat the token bucket closest to empty, as the API reports the most
        restrictive limit in effect.
        """
        headers: list[tuple[bytes, bytes]] = []
        tightest: Bucket | None = None
        for name, bucket in ((REQUESTS, self.requests), (INPUT, self.input), (OUTPUT, self.output)):
            if bucket is None:
                continue
            _add_bucket_headers(headers, name, bucket, wall_now)
            if name != REQUESTS and (
                tightest is None or bucket.level * tightest.capacity < tightest.level * bucket.capacity
            ):
                tightest = bucket
        if tightest is not None:
            _add_bucket_headers(headers, "tokens", tightest, wall_now)
        return headers

    def refusal_message(self, which: str) -> str:
        """The 429 message, worded as the API's, naming the limit and the model."""
        bucket = {REQUESTS: self.requests, INPUT: self.input, OUTPUT: self.output}[which]
        assert bucket is not None
        advice = (
            "Please try again later."
            if which == REQUESTS
            else ("Please reduce the prompt length or the maximum tokens requested, or try again later.")
        )
        return (
            f"This request would exceed your organization's rate limit of {bucket.capacity:,} "
            f"{_LIMIT_WORDS[which]} per minute (model: {self.model}; simulated). {advice}"
        )


def _add_bucket_headers(
    headers: list[tuple[bytes, bytes]], name: str, bucket: Bucket, wall_now: float
) -> None:
    prefix = (HEADER_PREFIX + name).encode()
    headers.append((prefix + b"-limit", str(bucket.capacity).encode()))
    headers.append((prefix + b"-remaining", str(bucket.remaining).encode()))
    headers.append((prefix + b"-reset", _rfc3339(math.ceil(wall_now + max(0.0, bucket.full_in())))))


@functools.lru_cache(maxsize=512)  # resets fall on a few distinct seconds at a time: most are formatted once
def _rfc3339(epoch_second: int) -> bytes:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_second)).encode()


class RateLimiter:
    """The buckets of every model one simulator limits, made on a model's first request.

    :param default: the limits of every model without its own entry.
    :param per_model: limits by model id; a field they leave ``None`` falls back to ``default``'s.
    """

    def __init__(
        self,
        default: RateLimits,
        per_model: Mapping[str, RateLimits],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default = default
        self.per_model = {model: limits.over(default) for model, limits in per_model.items()}
        self.clock = clock
        self.enabled = not default.unlimited or any(
            not limits.unlimited for limits in self.per_model.values()
        )
        self._buckets: dict[str, ModelBuckets | None] = {}

    def buckets(self, model: str) -> ModelBuckets | None:
        """The model's buckets, refilled up to now; ``None`` when it is not limited."""
        try:
            buckets = self._buckets[model]
        except KeyError:
            limits = self.per_model.get(model, self.default)
            buckets = None if limits.unlimited else ModelBuckets(model, limits, self.clock)
            if len(self._buckets) >= _PRUNE_ABOVE:
                self._prune()
            self._buckets[model] = buckets
        if buckets is not None:
            buckets.refill()
        return buckets

    def _prune(self) -> None:
        """Forget models whose buckets are full (a new one would be the same): any model name makes buckets."""
        for model, buckets in list(self._buckets.items()):
            if buckets is None or buckets.full():
                del self._buckets[model]

    def as_json(self) -> dict[str, Any]:
        """The configured limits: ``{"default": {...}, "models": {model: {...}}}``."""
        return {
            "default": self.default.as_json(),
            "models": {model: limits.as_json() for model, limits in self.per_model.items()},
        }


def retry_after_headers(seconds: float) -> list[tuple[bytes, bytes]]:
    """``retry-after`` in whole seconds (rounded up, as the API sends it); ``x-should-retry: false`` if it never fits."""
    if seconds == NEVER_FITS:
        return [(b"x-should-retry", b"false")]
    return [(b"retry-after", str(max(1, math.ceil(seconds))).encode())]
