"""mac_core.pricing: one table, every token kind, batch discount, model ids as the platforms spell them."""

from __future__ import annotations

import logging

import pytest

from mac_core import Usage
from mac_core.pricing import DEFAULT_MODEL_PRICE, cost_usd, price_for

MILLION = 1_000_000


def test_each_kind_of_token_has_its_own_price():
    model = "claude-sonnet-4-6"  # $3 in, $15 out, $3.75 cache write, $0.30 cache read
    assert cost_usd(model, Usage(input_tokens=MILLION)) == pytest.approx(3.0)
    assert cost_usd(model, Usage(output_tokens=MILLION)) == pytest.approx(15.0)
    assert cost_usd(model, Usage(cache_creation_input_tokens=MILLION)) == pytest.approx(3.75)
    assert cost_usd(model, Usage(cache_read_input_tokens=MILLION)) == pytest.approx(0.30)
    assert cost_usd(model, Usage(1000, 1000, 1000, 1000)) == pytest.approx((3 + 15 + 3.75 + 0.30) / 1000)


def test_the_batch_api_halves_everything():
    usage = Usage(123_456, 7_890, 50_000, 2_000)
    assert cost_usd("claude-opus-4-6", usage, batch=True) == pytest.approx(
        cost_usd("claude-opus-4-6", usage) / 2
    )


@pytest.mark.parametrize(
    ("model", "input_price", "output_price"),
    [
        ("claude-opus-4-1-20250805", 15, 75),
        ("claude-opus-4-20250514", 15, 75),
        ("claude-opus-4-5", 5, 25),
        ("claude-opus-5-5", 4, 20),
        ("claude-sonnet-5-5", 2, 10),
        ("claude-haiku-4-5-20251001", 1, 5),
        ("claude-3-5-haiku-20241022", 0.8, 4),
        ("claude-3-haiku-20240307", 0.25, 1.25),
        ("claude-3-7-sonnet-latest", 3, 15),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", 3, 15),  # Bedrock
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", 3, 15),  # Bedrock cross-region
        ("claude-sonnet-4@20250514", 3, 15),  # Vertex
        ("claude-fable-5-1", 10, 50),
    ],
)
def test_model_ids_are_recognised_however_they_are_spelled(model, input_price, output_price):
    price = price_for(model)
    assert (price.input, price.output) == (input_price, output_price)


def test_an_unknown_version_is_priced_like_the_newest_known_one_before_it():
    assert price_for("claude-opus-4-9") == price_for("claude-opus-4-8")  # not the old $15 Opus 4
    assert price_for("claude-sonnet-7") == price_for("claude-sonnet-5-5")
    assert price_for("claude-2-haiku") == price_for("claude-3-haiku")  # older than all: the oldest


def test_a_model_of_no_known_family_gets_the_default_price_and_one_warning(caplog):
    caplog.set_level(logging.WARNING)
    price_for.cache_clear()
    assert price_for("claude-mystery-1") is DEFAULT_MODEL_PRICE
    price_for("claude-mystery-1")
    assert caplog.text.count("no price known for model 'claude-mystery-1'") == 1


def test_a_long_prompt_switches_haiku_5_5_to_its_higher_prices_for_the_whole_request():
    short = Usage(input_tokens=100_000, output_tokens=MILLION)
    long = Usage(input_tokens=60_000, cache_read_input_tokens=50_000, output_tokens=MILLION)
    assert cost_usd("claude-haiku-5-5", short) == pytest.approx(0.01 + 0.50)
    assert cost_usd("claude-haiku-5-5", long) == pytest.approx(0.03 + 0.0025 + 2.50)
