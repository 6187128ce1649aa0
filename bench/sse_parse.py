"""``python -m bench.sse_parse [--events N] [--repeats R]``: CPU per event of the ``stream`` transport's SSE parser.

Parses one recorded stream of N text deltas in-process (no sockets), under
each line framing and two chunkings: one event per chunk (what a paced stream
reads) and 64 KiB chunks (what an unpaced one reads). Prints the median CPU
time per event over R repeats, with the cost of merely feeding the chunks
through an async iterator (``feed``) subtracted, so ``parse`` is the parser's
own cost. The full benchmark (``python -m bench``) measures it end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Callable

from mac_plugins.simulator.wire import sse_event
from mac_plugins.stream.sse import consume_stream

FRAMINGS = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}
CHUNKINGS = {"event": None, "64KiB": 65536}  # one event per read (paced), or whole reads (unpaced)
WORDS = "the analysis shows that this module handles input carefully but a few paths deserve attention".split()


def recorded_events(count: int) -> list[bytes]:
    """A successful stream of ``count`` text deltas, one SSE event per item, as the simulator frames them."""
    message = {"id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-bench", "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 1}}
    events = [sse_event({"type": "message_start", "message": message}),
              sse_event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})]
    deltas = [sse_event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " " + word}})
              for word in WORDS]  # encoded once, so building the stream costs little next to parsing it
    events.extend(deltas[number % len(deltas)] for number in range(count))
    events.append(sse_event({"type": "content_block_stop", "index": 0}))
    events.append(sse_event({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                             "usage": {"output_tokens": count}}))
    events.append(sse_event({"type": "message_stop"}))
    return events


def chunked(events: list[bytes], framing: str, size: int | None) -> list[bytes]:
    """The events re-framed with ``framing`` line endings, one per chunk or cut into ``size``-byte chunks."""
    ending = FRAMINGS[framing]
    framed = [event.replace(b"\n", ending) for event in events]
    if size is None:
        return framed
    body = b"".join(framed)
    return [body[start : start + size] for start in range(0, len(body), size)]


async def _feed(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _parse(chunks: list[bytes]) -> None:
    await consume_stream(_feed(chunks), lambda event: None, None)


async def _feed_only(chunks: list[bytes]) -> None:
    async for _chunk in _feed(chunks):
        pass


def median_cpu(work: Callable[[list[bytes]], object], chunks: list[bytes], repeats: int) -> float:
    """Median CPU seconds of ``asyncio.run(work(chunks))`` over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        asyncio.run(work(chunks))
        times.append(time.process_time() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    """Print, per framing and chunking, the median µs per event: total, feeding, and the parser's own."""
    parser = argparse.ArgumentParser(prog="python -m bench.sse_parse", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--framing", choices=sorted(FRAMINGS), action="append", help="default: all")
    parser.add_argument("--chunking", choices=sorted(CHUNKINGS), action="append", help="default: both")
    args = parser.parse_args(argv)
    events = recorded_events(args.events)
    print(f"{'framing':8} {'chunks':8} {'total µs':>9} {'feed µs':>8} {'parse µs':>9}  (median of {args.repeats})")
    for framing in args.framing or list(FRAMINGS):
        for label in args.chunking or list(CHUNKINGS):
            chunks = chunked(events, framing, CHUNKINGS[label])
            total = median_cpu(_parse, chunks, args.repeats) / len(events) * 1e6
            feed = median_cpu(_feed_only, chunks, args.repeats) / len(events) * 1e6
            print(f"{framing:8} {label:8} {total:9.3f} {feed:8.3f} {total - feed:9.3f}")


if __name__ == "__main__":
    main()
