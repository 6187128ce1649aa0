"""How the simulated model decides what to say: scripting directives and deterministic text.

A user message may script the answer:

* ``[[reply: TEXT]]``: the answer is exactly TEXT, streamed word by word.
* ``[[tool: NAME {json input}]]`` (one or more, in order): the first answer is
  a ``tool_use`` block calling NAME with that input (when the request offers
  the tool), each ``tool_result`` that comes back is answered with the next
  directive, and the last is followed by a closing text.
* ``[[tools: NAME {json} | NAME {json} ...]]``: one answer with a ``tool_use``
  block per call (parallel tool use), in that order; it takes its turn among
  the ``[[tool: ...]]`` directives like one of them.
* ``[[thinking: TEXT]]``: with thinking enabled in the request, the thinking
  block says TEXT (else deterministic words).

A tool directive's JSON input is opaque: directives inside its strings (a
worker's own script in a ``spawn_agents`` call) belong to whoever reads that
string, not to this message. In the reply, ``{{tool_results}}`` stands for the
text of every ``tool_result`` the conversation holds, one per line.

Otherwise the answer is text derived deterministically from the prompt (and
the simulator's seed), a fixed number of words long.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from typing import Any

_REPLY = re.compile(r"\[\[reply:\s?(.*?)\]\]", re.DOTALL)
_THINKING = re.compile(r"\[\[thinking:\s?(.*?)\]\]", re.DOTALL)
#: Where the closing reply puts the conversation's tool results.
TOOL_RESULTS = "{{tool_results}}"
_TOOL = re.compile(r"\[\[(tools?):\s*")
_TOOL_NAME = re.compile(r"\s*([A-Za-z0-9_.:-]+)\s*")

_VOCABULARY = (
    "the analysis shows that this module handles input carefully but a few paths "
    "deserve attention before release because error handling and resource cleanup "
    "are uneven across functions while tests cover the main flow well and naming "
    "stays clear so the overall design remains sound and easy to extend"
).split()


@dataclass(frozen=True)
class ToolCall:
    """One ``[[tool: NAME {input}]]`` directive."""

    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Script:
    """What the user's messages asked for: an exact reply, tool calls, or nothing.

    :ivar tools: every scripted call, in order.
    :ivar steps: the calls grouped by the answer that makes them (one per
        ``[[tool: ...]]``, several for a ``[[tools: ...]]``).
    """

    reply: str | None = None
    steps: tuple[tuple[ToolCall, ...], ...] = ()
    thinking: str | None = None

    @property
    def tools(self) -> tuple[ToolCall, ...]:
        """Every scripted call, in order (what the scripted agent performs one after another)."""
        return tuple(call for step in self.steps for call in step)


def parse_script(text: str) -> Script:
    """Find the directives in ``text``; a malformed tool directive raises ``ValueError``."""
    steps = []
    outside = []  # the text between tool directives: where [[reply: ...]] and [[thinking: ...]] count
    end = 0
    for match in _TOOL.finditer(text):
        if match.start() < end:  # inside the JSON of the directive before: a script for someone else
            continue
        outside.append(text[end : match.start()])
        parallel = match.group(1) == "tools"
        step, position = [], match.start() + len("[[") + len(match.group(1)) + 1
        while True:  # NAME {json}, then "]]" or (in [[tools: ...]]) "|" and the next call
            name_match = _TOOL_NAME.match(text, position)
            if name_match is None:
                raise ValueError(
                    f"[[{match.group(1)}: ...]] needs a tool name at {text[position : position + 20]!r}"
                )
            name = name_match.group(1)
            try:
                value, json_end = json.JSONDecoder().raw_decode(text, name_match.end())
            except ValueError as exc:
                raise ValueError(
                    f"[[{match.group(1)}: {name} ...]] needs a JSON object input: {exc}"
                ) from None
            if not isinstance(value, dict):
                raise ValueError(f"[[{match.group(1)}: {name} ...]] input must be a JSON object")
            step.append(ToolCall(name, value))
            rest = text[json_end:].lstrip()
            if parallel and rest.startswith("|"):
                position = len(text) - len(rest) + 1
                continue
            if not rest.startswith("]]"):
                raise ValueError(f"[[{match.group(1)}: {name} ...]] is not closed with ]]")
            end = len(text) - len(rest) + 2
            break
        steps.append(tuple(step))
    outside.append(text[end:])
    plain = " ".join(outside)
    reply = _REPLY.search(plain)
    thinking = _THINKING.search(plain)
    return Script(
        reply=reply.group(1) if reply else None,
        steps=tuple(steps),
        thinking=thinking.group(1) if thinking else None,
    )


def message_text(content: Any) -> str:
    """The text of a message's content (a string or a list of blocks)."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content or ():
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "\n".join(parts)


def script_of(messages: list[dict[str, Any]]) -> Script:
    """The script of a conversation: the directives of its first user message that has any."""
    for message in messages:
        if message.get("role") == "user":
            script = parse_script(message_text(message.get("content")))
            if script.reply is not None or script.steps or script.thinking is not None:
                return script
    return Script()


def tool_results_text(messages: list[dict[str, Any]]) -> str:
    """The text of every ``tool_result`` block of the conversation, in order, one per line."""
    found = []
    for message in messages:
        content = message.get("content")
        for block in content if message.get("role") == "user" and isinstance(content, list) else ():
            if isinstance(block, dict) and block.get("type") == "tool_result":
                found.append(message_text(block.get("content")))
    return "\n".join(found)


def tool_turns(messages: list[dict[str, Any]]) -> int:
    """How many assistant turns of the conversation called a tool."""
    count = 0
    for message in messages:
        content = message.get("content")
        if message.get("role") == "assistant" and isinstance(content, list):
            if any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content):
                count += 1
    return count


def words(text: str) -> list[str]:
    """Split ``text`` into stream chunks, one word each, keeping the spaces so they join back exactly."""
    return re.findall(r"\s*\S+\s*|\s+", text) or [text]


def generated_words(prompt: str, count: int, seed: int = 0) -> list[str]:
    """``count`` deterministic words for ``prompt``, each with its trailing space."""
    digest = hashlib.sha256(f"{seed}:{prompt}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    out = [rng.choice(_VOCABULARY) + " " for _ in range(count)]
    if out:
        out[-1] = out[-1].rstrip() + "."
    return out


def count_tokens(text: str) -> int:
    """A stable stand-in for a tokenizer: about four characters a token."""
    return max(1, (len(text) + 3) // 4) if text else 0
