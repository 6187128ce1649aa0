"""Answers as JSON: :func:`parse_json_response` and :func:`invoke_claude_json` (with repair turns)."""

from __future__ import annotations

import json
import re
from typing import Any

from .invocation_errors import OutputParseError
from .invoke import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, invoke_claude

_FENCED = re.compile(r"```[^\n`]*\n(.*?)\n?```", re.DOTALL)

#: How much of a bad answer is quoted back in the repair turn.
REPAIR_QUOTE_CHARS = 2000


def parse_json_response(raw: str) -> Any:
    """The JSON in ``raw``, with the Markdown code fence around it (```json … ```) removed if there is one.

    :raises json.JSONDecodeError: when the text is not JSON once unfenced.
    """
    if not isinstance(raw, str):
        raise TypeError(f"raw must be the answer's text (a string), not {type(raw).__name__}")
    text = raw.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else text[3:]
        text = text.rsplit("```", 1)[0].strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        fenced = _FENCED.search(raw)  # prose around a fenced block: the block is the answer
        if fenced is None:
            raise
        return json.loads(fenced.group(1))


def _repair_request(raw: str) -> str:
    return (
        "Your previous response could not be parsed as JSON. Here is what you returned:\n\n"
        f"```\n{raw[:REPAIR_QUOTE_CHARS]}\n```\n\n"
        "Respond with ONLY valid JSON: no markdown fences, no prose before or after."
    )


def invoke_claude_json(
    prompt: str | list[dict[str, Any]],
    model: str | None = None,
    system: str | list[dict[str, Any]] | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    temperature: float = DEFAULT_TEMPERATURE,
    cache_system: bool = False,
    cache_prompt: bool = False,
    messages: list[dict[str, Any]] | None = None,
    max_parse_retries: int = 1,
    **kwargs: Any,
) -> Any:
    """Ask Claude for JSON and return it parsed; an answer that is not JSON is sent back to be repaired.

    Each repair is one more turn of the same conversation (the question, the
    bad answer, a request for JSON only) at a temperature 0.3 lower.

    :param max_parse_retries: repair turns allowed (0: parse once, no repair).
    :param kwargs: as :func:`invoke_claude` (``max_retries``, ``on_error``,
        request fields).
    :raises ClaudeInvocationError: when a request fails.
    :raises json.JSONDecodeError: (an :class:`~mac_core.invocation_errors.OutputParseError`
        of kind ``output_parse``) when no answer was JSON.
    """
    if isinstance(max_parse_retries, bool) or not isinstance(max_parse_retries, int) or max_parse_retries < 0:
        raise ValueError(f"max_parse_retries must be 0 or more, got {max_parse_retries!r}")
    common = {"model": model, "system": system, "max_tokens": max_tokens, "cache_system": cache_system, **kwargs}
    raw = invoke_claude(prompt, temperature=temperature, cache_prompt=cache_prompt, messages=messages, **common)
    conversation = list(messages) if messages else [{"role": "user", "content": prompt}]
    for attempt in range(max_parse_retries + 1):
        try:
            return parse_json_response(raw)
        except json.JSONDecodeError as exc:
            if attempt == max_parse_retries:
                raise OutputParseError(exc, attempts=attempt + 1) from None
        conversation += [{"role": "assistant", "content": raw}, {"role": "user", "content": _repair_request(raw)}]
        raw = invoke_claude("", temperature=max(0.0, temperature - 0.3), messages=conversation, **common)
    raise AssertionError("unreachable")  # the loop returns or raises
