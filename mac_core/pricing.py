"""What tokens cost: one price table for every Claude model, and :func:`cost_usd`.

Prices are USD per million tokens, from the pricing page
(https://platform.claude.com/docs/en/about-claude/pricing) as of November
2026. This module is the only place they live: update it when prices change.

* Cache writes are priced at the 5-minute rate (1.25 × input); ``Usage``
  does not tell 1-hour writes apart, so those are undercounted.
* The Message Batches API halves every price (``batch=True``).
* A model id this table does not know is priced like the newest known model
  of its family that is not newer than it (``claude-opus-4-9`` like Opus 4.8),
  or like the oldest of its family when it is older than all of them. An id
  with no known family (``opus``, ``sonnet``…) is priced like
  :data:`DEFAULT_MODEL_PRICE` and logged once.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass

from .results import Usage

log = logging.getLogger("mac_core.pricing")

BATCH_DISCOUNT = 0.5  #: the Message Batches API bills half of every price
MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens of one model.

    :ivar long_prompt: the prices that apply to a whole request whose prompt
        (input, cache reads and cache writes) exceeds ``long_prompt_threshold``
        tokens, for models priced by prompt length; else ``None``.
    """

    input: float
    output: float
    cache_write: float
    cache_read: float
    long_prompt: ModelPrice | None = None
    long_prompt_threshold: int = 0

    def cost(self, usage: Usage, batch: bool = False) -> float:
        """The USD cost of ``usage`` at these prices."""
        prices = self
        if self.long_prompt is not None:
            prompt = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
            if prompt > self.long_prompt_threshold:
                prices = self.long_prompt
        total = (
            usage.input_tokens * prices.input
            + usage.output_tokens * prices.output
            + usage.cache_creation_input_tokens * prices.cache_write
            + usage.cache_read_input_tokens * prices.cache_read
        ) / MILLION
        return total * BATCH_DISCOUNT if batch else total


def _price(input: float, output: float, cache_read: float, **extra) -> ModelPrice:
    """A price whose cache write is the standard 1.25 × input."""
    return ModelPrice(input, output, input * 1.25, cache_read, **extra)


#: (family, version, price), one row per model. Versions compare as tuples.
PRICES: tuple[tuple[str, tuple[int, ...], ModelPrice], ...] = (
    ("fable", (5, 1), _price(10, 50, 0.25)),
    ("fable", (5,), _price(10, 50, 1.00)),
    ("mythos", (5, 1), _price(10, 50, 0.25)),
    ("mythos", (5,), _price(10, 50, 1.00)),
    ("opus", (5, 5), _price(4, 20, 0.20)),
    ("opus", (5,), _price(5, 25, 0.50)),
    ("opus", (4, 8), _price(5, 25, 0.50)),
    ("opus", (4, 7), _price(5, 25, 0.50)),
    ("opus", (4, 6), _price(5, 25, 0.50)),
    ("opus", (4, 5), _price(5, 25, 0.50)),
    ("opus", (4, 1), _price(15, 75, 1.50)),
    ("opus", (4,), _price(15, 75, 1.50)),
    ("opus", (3,), _price(15, 75, 1.50)),
    ("sonnet", (5, 5), _price(2, 10, 0.10)),
    ("sonnet", (5,), _price(2, 10, 0.20)),
    ("sonnet", (4, 6), _price(3, 15, 0.30)),
    ("sonnet", (4, 5), _price(3, 15, 0.30)),
    ("sonnet", (4,), _price(3, 15, 0.30)),
    ("sonnet", (3, 7), _price(3, 15, 0.30)),
    ("sonnet", (3, 5), _price(3, 15, 0.30)),
    (
        "haiku",
        (5, 5),
        _price(0.10, 0.50, 0.01, long_prompt=_price(0.50, 2.50, 0.05), long_prompt_threshold=100_000),
    ),
    ("haiku", (4, 5), _price(1, 5, 0.10)),
    ("haiku", (3, 5), ModelPrice(0.80, 4, 1.00, 0.08)),
    ("haiku", (3,), ModelPrice(0.25, 1.25, 0.30, 0.03)),
)

#: What a model of no known family costs: Claude Sonnet 4.6's prices (the default model).
DEFAULT_MODEL_PRICE = _price(3, 15, 0.30)

_SUFFIXES = re.compile(r"(\[[^\]]*\]|-latest|-v\d+(:\d+)?|[-@]\d{8})+$")


def _family_and_version(model: str) -> tuple[str | None, tuple[int, ...]]:
    """``claude-opus-4-1-20250805`` → ``("opus", (4, 1))``; ``claude-3-5-haiku`` → ``("haiku", (3, 5))``."""
    name = model.lower()
    name = name[name.find("claude") :] if "claude" in name else name  # drop "anthropic." / "us.anthropic."
    name = _SUFFIXES.sub("", name)
    parts = re.split(r"[-_.]", name)
    family = next((p for p in parts if p in {"fable", "mythos", "opus", "sonnet", "haiku"}), None)
    version = tuple(int(p) for p in parts if p.isdigit() and len(p) <= 2)
    return family, version


@functools.lru_cache(maxsize=256)
def price_for(model: str) -> ModelPrice:
    """The :class:`ModelPrice` of ``model`` (an API, Bedrock or Vertex model id)."""
    family, version = _family_and_version(model)
    rows = sorted((v, p) for f, v, p in PRICES if f == family)
    if not rows:
        log.warning("no price known for model %r; pricing it like Claude Sonnet 4.6", model)
        return DEFAULT_MODEL_PRICE
    older = [p for v, p in rows if v <= version]
    return older[-1] if older else rows[0][1]


def cost_usd(model: str, usage: Usage, batch: bool = False) -> float:
    """The USD cost of ``usage`` on ``model``; ``batch=True`` applies the 50 % batch discount.

    >>> round(cost_usd("claude-sonnet-4-6", Usage(input_tokens=1000, output_tokens=1000)), 6)
    0.018
    """
    return price_for(model).cost(usage, batch)
