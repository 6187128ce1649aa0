"""What the simulated model answers a Messages request: content blocks, stop reason and usage.

The script (:mod:`.script`) decides: ``[[reply: TEXT]]`` is answered with
TEXT; ``[[tool: NAME {json}]]`` directives become ``tool_use`` blocks one
response at a time (the next one after each ``tool_result``; a ``[[tools:
A {json} | B {json}]]`` directive is one response with a block per call), then a closing
text (the reply if one is scripted, its ``{{tool_results}}`` replaced by the
tool results' text, else ``Done: NAME succeeded.``); otherwise deterministic words. A request with ``output_config.format`` (a
JSON schema) is answered with JSON (:mod:`.structured`). ``max_tokens`` and
``stop_sequences`` cut the text as the API would, and ``thinking: {"type":
"enabled"}`` adds a thinking block first (``[[thinking: TEXT]]`` scripts it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .cache import InputUsage, PromptCache
from .script import (
    TOOL_RESULTS,
    count_tokens,
    generated_words,
    message_text,
    script_of,
    tool_results_text,
    tool_turns,
    words,
)
from .settings import SimulatorSettings
from .structured import requested_schema, structured_text
from .wire import ApiError, new_id

THINKING_WORDS = 12  # words of a simulated thinking block


@dataclass
class Block:
    """One content block: its final form and the pieces it streams in (words or partial JSON)."""

    content: dict[str, Any]
    chunks: list[str]


@dataclass
class Answer:
    """The model's answer to one request."""

    id: str
    model: str
    blocks: list[Block]
    stop_reason: str
    stop_sequence: str | None
    input: InputUsage
    output_tokens: int

    @property
    def usage(self) -> dict[str, Any]:
        """The API's ``usage`` object for the whole answer."""
        return self.input.as_api(self.output_tokens)

    @property
    def chunk_count(self) -> int:
        """How many paced pieces the answer streams in."""
        return sum(len(block.chunks) for block in self.blocks)

    def message(self) -> dict[str, Any]:
        """The non-streaming response body."""
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [block.content for block in self.blocks],
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
            "usage": self.usage,
        }


def compose(request: dict[str, Any], settings: SimulatorSettings, cache: PromptCache) -> Answer:
    """Answer a validated Messages request; a malformed script directive is a 400."""
    messages = request["messages"]
    try:
        script = script_of(messages)
    except ValueError as exc:
        raise ApiError(400, f"simulator script: {exc}") from None
    prompt = _last_user_text(messages)
    schema = requested_schema(request)
    blocks: list[Block] = []
    thinking = request.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        blocks.append(_thinking_block(prompt, settings.seed, script.thinking))
    offered = {tool.get("name") for tool in request.get("tools") or () if isinstance(tool, dict)}
    called = tool_turns(messages)
    stop_sequence = None
    step = script.steps[called] if called < len(script.steps) else ()
    missing = [call.name for call in step if call.name not in offered]
    if step and not missing:  # one tool_use block per call of this step: several make parallel tool use
        output_tokens = 0
        for call in step:
            tool_input = json.dumps(call.input, ensure_ascii=False)
            tool_block = {"type": "tool_use", "id": new_id("toolu"), "name": call.name, "input": call.input}
            blocks.append(Block(tool_block, words(tool_input)))
            output_tokens += count_tokens(tool_input)
        stop_reason = "tool_use"
    else:
        if missing:
            text = f"(simulated) I cannot call {missing[0]}: this request does not offer that tool."
        elif schema is not None:  # structured outputs: JSON in the schema's shape (or the scripted JSON)
            text = structured_text(schema, script.reply, prompt, settings.seed)
        elif script.steps:
            text = (
                _scripted_closing(script.reply, messages)
                if script.reply is not None
                else _closing_text(messages)
            )
        elif script.reply is not None:
            text = script.reply
        else:
            text = "".join(generated_words(prompt, settings.tokens, settings.seed))
        chunks, stop_sequence = _cut_at_stop_sequence(
            words(text) if text else [], request.get("stop_sequences")
        )
        stop_reason = "stop_sequence" if stop_sequence is not None else "end_turn"
        if len(chunks) > request["max_tokens"]:
            chunks, stop_reason, stop_sequence = chunks[: request["max_tokens"]], "max_tokens", None
        blocks.append(Block({"type": "text", "text": "".join(chunks)}, chunks))
        output_tokens = len(chunks)
    output_tokens += sum(len(block.chunks) for block in blocks if block.content["type"] == "thinking")
    return Answer(
        id=new_id("msg"),
        model=request["model"],
        blocks=blocks,
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
        input=cache.account(request),
        output_tokens=max(1, output_tokens),
    )


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            text = message_text(message.get("content"))
            if text:
                return text
    return ""


def _thinking_block(prompt: str, seed: int, scripted: str | None) -> Block:
    chunks = words(scripted) if scripted else generated_words(prompt, THINKING_WORDS, seed + 1)
    text = "".join(chunks)
    signature = "sim" + hashlib.sha256(text.encode()).hexdigest()
    return Block({"type": "thinking", "thinking": text, "signature": signature}, chunks)


def _scripted_closing(reply: str, messages: list[dict[str, Any]]) -> str:
    """The scripted reply, with ``{{tool_results}}`` standing for what the tools sent back."""
    return reply.replace(TOOL_RESULTS, tool_results_text(messages)) if TOOL_RESULTS in reply else reply


def _closing_text(messages: list[dict[str, Any]]) -> str:
    """``Done: Write succeeded; Edit failed.``, from the tool results in the conversation."""
    names: dict[str, str] = {}
    outcomes = []
    for message in messages:
        content = message.get("content")
        for block in content if isinstance(content, list) else ():
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                names[str(block.get("id"))] = str(block.get("name"))
            elif block.get("type") == "tool_result":
                name = names.get(str(block.get("tool_use_id")), "tool")
                outcomes.append(f"{name} {'failed' if block.get('is_error') else 'succeeded'}")
    return "Done: " + "; ".join(outcomes or ["nothing to report"]) + "."


def _cut_at_stop_sequence(chunks: list[str], stop_sequences: Any) -> tuple[list[str], str | None]:
    """The chunks before the earliest stop sequence, and that sequence (``None`` if none occurs)."""
    if not stop_sequences:
        return chunks, None
    text = "".join(chunks)
    found = [(text.find(s), s) for s in stop_sequences if isinstance(s, str) and s and s in text]
    if not found:
        return chunks, None
    position, sequence = min(found)
    kept = text[:position]
    return (words(kept) if kept else []), sequence
