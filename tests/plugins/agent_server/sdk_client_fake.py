"""A stand-in for ``ClaudeSDKClient`` that plays the CLI's part from directives in the prompt.

Each user message starts a turn: ``system/init``, then per directive

* ``[[hang]]``: an assistant message, then nothing until ``interrupt()``
  (or 10 s), then the CLI's interrupted ending (``error_during_execution``);
* ``[[tool NAME {json}]]``: a ``tool_use``; the server's ``PreToolUse`` hook
  is consulted as the CLI would, a refusal becomes an error ``tool_result``;
  ``"hold": S`` in the input keeps the tool "running" for S seconds;
* ``[[stderr TEXT]]``: TEXT written to the CLI's stderr;
* ``[[exit]]``: the CLI process ends;

and otherwise an assistant text ``echo: PROMPT`` and a successful ``result``.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import anyio
from claude_agent_sdk import (
    AssistantMessage,
    ResultMessage,
    SystemMessage,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)

SESSION = "session-fake"
_END = object()


class FakeSDKClient:
    """Records what the server asked for and answers like the CLI would."""

    def __init__(self, options: Any, registry: list[FakeSDKClient]) -> None:
        self.options = options
        self.prompts: list[dict[str, Any]] = []
        self.interrupts = 0
        self.disconnected = False
        self._interrupted = anyio.Event()
        registry.append(self)

    async def connect(self) -> None:
        self._send, self._receive = anyio.create_memory_object_stream(1000)
        self._turns: set[asyncio.Task] = set()

    async def query(self, prompt: Any) -> None:
        async for message in prompt:
            self.prompts.append(message)
            self._interrupted = anyio.Event()
            turn = asyncio.get_running_loop().create_task(self._turn(message["message"]["content"]))
            self._turns.add(turn)
            turn.add_done_callback(self._turns.discard)

    async def receive_messages(self):
        async for message in self._receive:
            if message is _END:
                return
            yield message

    async def interrupt(self) -> None:
        self.interrupts += 1
        self._interrupted.set()

    async def disconnect(self) -> None:
        self.disconnected = True
        for turn in list(self._turns):
            turn.cancel()

    async def _turn(self, text: str) -> None:
        send = self._send.send
        await send(
            SystemMessage(
                "init", {"type": "system", "subtype": "init", "session_id": SESSION, "cwd": self.options.cwd}
            )
        )
        if "[[exit]]" in text:
            await send(_END)
            return
        for line in re.findall(r"\[\[stderr (.*?)\]\]", text):
            self.options.stderr(line)
        if "[[hang]]" in text:
            await send(_assistant([TextBlock("working")]))
            with anyio.move_on_after(10):
                await self._interrupted.wait()
            await send(UserMessage([TextBlock("[Request interrupted by user]")]))
            await send(_result("error_during_execution", is_error=True))
            return
        for name, raw in re.findall(r"\[\[tool (\w+) (\{.*?\})\]\]", text):
            await self._tool(name, json.loads(raw))
        await send(_assistant([TextBlock(f"echo: {text}")]))
        await send(_result("success", result=f"echo: {text}"))

    async def _tool(self, name: str, tool_input: dict[str, Any]) -> None:
        tool_id = f"toolu_{name}"
        await self._send.send(_assistant([ToolUseBlock(tool_id, name, tool_input)]))
        hook_input = {"hook_event_name": "PreToolUse", "tool_name": name, "tool_input": tool_input}
        for matcher in self.options.hooks["PreToolUse"]:
            for hook in matcher.hooks:
                answer = await hook(hook_input, tool_id, {"signal": None})
                decision = answer.get("hookSpecificOutput", {})
                if decision.get("permissionDecision") == "deny":
                    reason = decision["permissionDecisionReason"]
                    block = ToolResultBlock(tool_id, f"PreToolUse:{name} hook error: {reason}", True)
                    await self._send.send(UserMessage([block], tool_use_result=f"Error: {reason}"))
                    return
        await anyio.sleep(tool_input.get("hold", 0))
        for matcher in self.options.hooks["PostToolUse"]:
            for hook in matcher.hooks:
                await hook({**hook_input, "hook_event_name": "PostToolUse"}, tool_id, {"signal": None})
        await self._send.send(UserMessage([ToolResultBlock(tool_id, "ok", False)]))


def _assistant(content: list[Any]) -> AssistantMessage:
    return AssistantMessage(content, "claude-fake", message_id="msg_fake", session_id=SESSION, uuid="u-a")


def _result(subtype: str, *, is_error: bool = False, result: str | None = None) -> ResultMessage:
    return ResultMessage(
        subtype=subtype,
        duration_ms=5,
        duration_api_ms=3,
        is_error=is_error,
        num_turns=1,
        session_id=SESSION,
        total_cost_usd=0.001,
        usage={"input_tokens": 10, "output_tokens": 5},
        result=result,
        permission_denials=[],
    )
