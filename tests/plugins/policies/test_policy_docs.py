"""docs/writing-a-policy.md works as written: every block runs and prints what the page shows."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
from markdown_blocks import run_markdown
from sse import API, SSE_HEADERS, stream_head, stream_tail, text_delta

DOC = Path(__file__).parents[3] / "docs" / "writing-a-policy.md"


def streamed_review(request) -> httpx.Response:
    """The API's answer, streamed line by line, as the page's real-API example receives it."""

    async def body():
        yield stream_head()
        for line in ["1. ok\n", "2. ok\n", "3. ok\n", "4. not reached\n"]:
            await anyio.sleep(0.01)
            yield text_delta(line)
        yield stream_tail(output_tokens=12)

    return httpx.Response(200, content=body(), headers=SSE_HEADERS)


def test_every_example_of_the_policy_guide_runs_and_prints_what_it_shows(httpx2_mock, api_key):
    route = httpx2_mock.post(API).mock(side_effect=streamed_review)
    ran = run_markdown(DOC)
    assert len(ran) >= 6
    _, real_api_output = ran[1]
    assert route.call_count == 2
    assert real_api_output.splitlines() == [
        "task-0 interrupted task-0 wrote 3 lines",
        "task-1 interrupted task-1 wrote 3 lines",
    ]
