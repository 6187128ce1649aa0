"""The simulator's prompt cache looks back from a breakpoint for an earlier cached prefix, as the API does."""

from __future__ import annotations

import anthropic
from conftest import KEY
from mac_plugins.simulator.cache import LOOKBACK_BLOCKS, PromptCache
from mac_plugins.simulator.script import count_tokens

MARK = {"type": "ephemeral"}


def text(words: str, *, marked: bool = False) -> dict:
    block = {"type": "text", "text": words}
    return {**block, "cache_control": dict(MARK)} if marked else block


def conversation(turns: int, *, mark_last: bool = True) -> list[dict]:
    """``turns`` user/assistant exchanges then a user turn: one block each, the last marked."""
    messages = []
    for turn in range(turns):
        messages.append(
            {"role": "user", "content": [text(f"Question {turn} about the design of the cache. " * 5)]}
        )
        messages.append(
            {"role": "assistant", "content": [text(f"Answer {turn} with some detail in it. " * 5)]}
        )
    messages.append(
        {"role": "user", "content": [text("The newest question, asked last. " * 5, marked=mark_last)]}
    )
    return messages


def tokens_of(messages: list[dict]) -> int:
    return sum(count_tokens(block["text"]) for message in messages for block in message["content"])


def request(messages: list[dict]) -> dict:
    return {"model": "m", "max_tokens": 10, "messages": messages}


def moved_breakpoint(messages: list[dict], appended: list[dict]) -> list[dict]:
    """``messages`` without their marker, then ``appended`` whose last block carries the one marker."""
    plain = [
        {**m, "content": [{k: v for k, v in b.items() if k != "cache_control"} for b in m["content"]]}
        for m in messages
    ]
    return plain + appended


def test_a_moved_breakpoint_reads_the_prefix_the_previous_request_wrote_and_writes_the_rest():
    cache = PromptCache()
    first = conversation(2)
    written = cache.account(request(first))
    assert written.cache_creation_input_tokens == tokens_of(first) and written.cache_read_input_tokens == 0

    added = [
        {"role": "assistant", "content": [text("A reply.")]},
        {"role": "user", "content": [text("A follow-up.", marked=True)]},
    ]
    second = cache.account(request(moved_breakpoint(first, added)))
    assert second.cache_read_input_tokens == tokens_of(first)
    assert second.cache_creation_input_tokens == count_tokens("A reply.") + count_tokens("A follow-up.")
    assert second.input_tokens == 0


def test_the_look_back_reaches_exactly_lookback_blocks_positions_counting_the_breakpoints_own():
    first = conversation(1)
    for gap, hits in ((LOOKBACK_BLOCKS - 1, True), (LOOKBACK_BLOCKS, False)):
        cache = PromptCache()
        cache.account(request(first))
        # ``gap`` more blocks: the earlier prefix ends ``gap`` positions before the new breakpoint.
        added = [
            {"role": "assistant", "content": [text(f"Part {i}.") for i in range(gap - 1)]},
            {"role": "user", "content": [text("Go on.", marked=True)]},
        ]
        usage = cache.account(request(moved_breakpoint(first, added)))
        if hits:
            assert usage.cache_read_input_tokens == tokens_of(first), gap
            assert usage.cache_creation_input_tokens == tokens_of(added)
        else:
            assert usage.cache_read_input_tokens == 0, gap
            assert usage.cache_creation_input_tokens == tokens_of(first) + tokens_of(added)


def test_a_prefix_that_changed_before_the_earlier_breakpoint_is_not_read():
    cache = PromptCache()
    first = conversation(1)
    cache.account(request(first))
    edited = moved_breakpoint(first, [])
    edited[0] = {"role": "user", "content": [text("A different first question.")]}
    edited[-1]["content"][-1]["cache_control"] = dict(MARK)
    usage = cache.account(request(edited))
    assert usage.cache_read_input_tokens == 0 and usage.cache_creation_input_tokens == tokens_of(edited)


def test_a_block_no_breakpoint_ever_ended_at_is_not_a_hit():
    """Only prefixes written at a breakpoint are cached: the look-back finds those, not every block it passes."""
    cache = PromptCache()
    unmarked = conversation(2, mark_last=False)
    assert cache.account(request(unmarked)).cache_creation_input_tokens == 0
    marked = moved_breakpoint(
        unmarked,
        [
            {"role": "assistant", "content": [text("Then.")]},
            {"role": "user", "content": [text("Next.", marked=True)]},
        ],
    )
    assert cache.account(request(marked)).cache_read_input_tokens == 0


def test_an_expired_earlier_prefix_is_not_read_and_a_read_renews_its_life():
    now = [0.0]
    cache = PromptCache(clock=lambda: now[0])
    first = conversation(1)
    cache.account(request(first))
    now[0] = 240.0  # within the 5 minutes: read, and the entry lives 5 more minutes from here
    later = moved_breakpoint(
        first,
        [
            {"role": "assistant", "content": [text("Yes.")]},
            {"role": "user", "content": [text("And?", marked=True)]},
        ],
    )
    assert cache.account(request(later)).cache_read_input_tokens > 0
    now[0] = 480.0  # past the first life, within the renewed one
    other = moved_breakpoint(
        first,
        [
            {"role": "assistant", "content": [text("No.")]},
            {"role": "user", "content": [text("Why?", marked=True)]},
        ],
    )
    assert cache.account(request(other)).cache_read_input_tokens == tokens_of(first)
    now[0] = 2000.0
    assert cache.account(request(other)).cache_read_input_tokens == 0


def test_a_string_content_and_the_text_block_it_stands_for_share_a_prefix():
    cache = PromptCache()
    as_block = [{"role": "user", "content": [text("Context worth caching. " * 10, marked=True)]}]
    cache.account(request(as_block))
    as_string = [
        {"role": "user", "content": "Context worth caching. " * 10},
        {"role": "assistant", "content": "Ok."},
        {"role": "user", "content": [text("Now?", marked=True)]},
    ]
    assert cache.account(request(as_string)).cache_read_input_tokens == count_tokens(
        "Context worth caching. " * 10
    )


def test_the_running_simulator_reports_look_back_reads_to_the_official_sdk(start_sim):
    """Through HTTP and the SDK: a thread-like conversation moving its one breakpoint reads on every turn."""
    sim = start_sim(tokens=8)
    client = anthropic.Anthropic(base_url=sim.url, api_key=KEY, max_retries=0, timeout=10)
    history: list[dict] = []
    reads = []
    for turn in range(4):
        user = {"role": "user", "content": [text(f"Turn {turn}: tell me more about caches.", marked=True)]}
        message = client.messages.create(model="m", max_tokens=20, messages=moved_breakpoint(history, [user]))
        reads.append(message.usage.cache_read_input_tokens)
        history = moved_breakpoint(
            history, [user, {"role": "assistant", "content": [text(message.content[0].text)]}]
        )
    assert reads[0] == 0 and all(read > 0 for read in reads[1:])
    # Each turn reads the longer prefix the last one wrote.
    assert reads == sorted(reads) and len(set(reads)) == 4
