"""Turning what the caller passed into :class:`~mac_core.run.Task` objects, or a clear error.

Everything here runs before any request is sent: a bad prompt, parameter or
callback list raises ``TypeError`` (wrong type) or ``ValueError`` (bad value)
naming the prompt's index and field.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .run import DEFAULT_MAX_TOOL_ROUNDS, Task
from .structured import output_schema
from .tools import tool_set

#: Fields every prompt dict may carry, whatever the transport.
PROMPT_FIELDS = frozenset(
    {"prompt", "system", "model", "max_tokens", "temperature", "name", "id", "cache_system", "cache_prompt"}
)

CACHE_CONTROL = {"type": "ephemeral"}

#: The prompt field (and run-wide option) asking for a structured answer (:mod:`mac_core.structured`).
OUTPUT = "output"
#: The request field a transport must pass to the API (be in its ``task_options``) to take ``output=``.
OUTPUT_CONFIG = "output_config"
#: The prompt field of tools; Python functions in it make the engine run a tool loop (:mod:`mac_core.tool_loop`).
TOOLS = "tools"
#: The prompt field (and run-wide option) bounding a tool loop; taken wherever ``tools`` is.
MAX_TOOL_ROUNDS = "max_tool_rounds"


def check_model(model: Any, where: str) -> str:
    if not isinstance(model, str):
        raise TypeError(f"{where}: model must be a string, not {type(model).__name__}")
    if not model.strip():
        raise ValueError(f"{where}: model is empty")
    return model


def check_max_tokens(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where}: max_tokens must be an integer, not {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{where}: max_tokens must be positive, got {value}")
    return value


def check_temperature(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: temperature must be a number, not {type(value).__name__}")
    if not 0.0 <= float(value) <= 1.0:  # also rejects NaN
        raise ValueError(f"{where}: temperature must be between 0 and 1, got {value}")
    return float(value)


def check_positive_int(value: Any, name: str) -> int:
    """A positive integer parameter such as ``max_concurrency``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def check_encodable(text: str, where: str) -> str:
    """``text`` if it can be sent (UTF-8), else ``ValueError`` naming the lone surrogate and where it is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{where} holds {text[exc.start]!r} at character {exc.start}, a lone surrogate that cannot be "
            "sent as UTF-8 (decode the text it came from with errors='replace')"
        ) from None
    return text


def system_blocks(system: Any, where: str, *, cache: bool = False) -> str | list[dict[str, Any]] | None:
    """Validate a system prompt; with ``cache``, return text blocks whose last is cache-marked."""
    if system is None:
        return None
    if isinstance(system, str):
        check_encodable(system, where)
        if not cache:
            return system
        blocks: list[dict[str, Any]] = [{"type": "text", "text": system}]
    elif isinstance(system, list):
        for j, block in enumerate(system):
            if (
                not isinstance(block, Mapping)
                or block.get("type") != "text"
                or not isinstance(block.get("text"), str)
            ):
                raise TypeError(f"{where}: system[{j}] must be a text block {{'type': 'text', 'text': str}}")
            check_encodable(block["text"], f"{where}[{j}]['text']")
        blocks = [dict(block) for block in system]
        if not cache:
            return blocks
    else:
        raise TypeError(
            f"{where}: system must be a string or a list of text blocks, not {type(system).__name__}"
        )
    if blocks:
        blocks[-1]["cache_control"] = dict(CACHE_CONTROL)
    return blocks


def _join_systems(shared: Any, own: Any) -> Any:
    if shared is None:
        return own
    if own is None:
        return shared
    as_blocks = lambda s: [{"type": "text", "text": s}] if isinstance(s, str) else list(s)  # noqa: E731
    return as_blocks(shared) + as_blocks(own)


def _check_messages(messages: Any, where: str) -> None:
    """Refuse a ``messages`` option that is not a conversation, before it reaches the wire."""
    if not isinstance(messages, list) or not messages:
        raise TypeError(f"{where}: messages must be a non-empty list of {{'role', 'content'}} dicts")
    for j, message in enumerate(messages):
        if not isinstance(message, Mapping) or message.get("role") not in ("user", "assistant"):
            raise TypeError(f"{where}: messages[{j}] must be a dict with role 'user' or 'assistant'")
        if not isinstance(message.get("content"), (str, list)):
            raise TypeError(f"{where}: messages[{j}]['content'] must be a string or a list of content blocks")


def _check_output_supported(allowed: frozenset[str], where: str) -> None:
    """Refuse ``output=`` on a transport that does not send ``output_config`` to the Messages API."""
    if OUTPUT_CONFIG not in allowed:
        raise ValueError(
            f"{where}: structured answers (output=) need a transport that calls the Messages API"
            " (stream, messages or batch); this transport does not"
        )


def check_max_tool_rounds(value: Any, where: str) -> int:
    """A ``max_tool_rounds``: a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where}: max_tool_rounds must be an integer, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{where}: max_tool_rounds must be at least 1, got {value}")
    return value


def _apply_tools(task_opts: dict[str, Any], where: str) -> dict[str, Any]:
    """Put the API definitions of a task's ``tools`` in its options; return its Python functions by name."""
    tools = task_opts.get(TOOLS)
    if tools is None:
        return {}
    checked = tool_set(tools, f"{where}['tools']")
    task_opts[TOOLS] = list(checked.definitions)
    thinking = task_opts.get("thinking")
    if checked.functions and isinstance(thinking, Mapping) and thinking.get("type") != "disabled":
        raise ValueError(
            f"{where}: tools that are Python functions cannot run with extended thinking on (the tool loop"
            " cannot send thinking blocks back); turn thinking off, or pass the tools as API dicts"
        )
    return checked.functions


def _apply_output(task_opts: dict[str, Any], where: str) -> None:
    """Check a task's ``output`` and put its format into ``output_config`` (what the request carries)."""
    if task_opts[OUTPUT] is None:  # a prompt's own None turns the run-wide output= off
        del task_opts[OUTPUT]
        return
    schema = task_opts[OUTPUT] = output_schema(task_opts[OUTPUT], f"{where}['output']")
    config = task_opts.get(OUTPUT_CONFIG)
    if config is not None and not isinstance(config, Mapping):
        raise TypeError(f"{where}: output_config must be a dict, not {type(config).__name__}")
    if config is not None and config.get("format") is not None:
        raise ValueError(f"{where}: give output= or output_config['format'], not both")
    task_opts[OUTPUT_CONFIG] = {**(config or {}), "format": schema.request_format()}


def build_tasks(
    prompts: Any,
    *,
    model: str,
    max_tokens: int,
    temperature: float | None = None,
    shared_system: Any = None,
    cache_shared_system: bool = False,
    callbacks: Sequence[Callable[[str], Any] | None] | None = None,
    task_options: Iterable[str] = (),
    options: Mapping[str, Any] | None = None,
) -> list[Task]:
    """Validate ``prompts`` and return one :class:`Task` each.

    :param prompts: a list of prompt strings or dicts (``prompt`` plus any of
        :data:`PROMPT_FIELDS` and the transport's ``task_options``).
    :param model, max_tokens, temperature: defaults for prompts that omit them.
    :param shared_system: a system prompt put before every prompt's own.
    :param cache_shared_system: mark ``shared_system`` with ``cache_control``.
    :param callbacks: one callable (or ``None``) per prompt, called with each text chunk.
    :param task_options: further prompt fields the transport accepts.
    :param options: request options applied to every prompt (a prompt's own win).

    ``tools`` may hold Python functions (:mod:`mac_core.tools`) besides API
    tool dicts; each task then carries the functions (``Task.tool_functions``)
    and its ``max_tool_rounds`` (a prompt field or run-wide option wherever
    ``tools`` is one), and its request the functions' definitions.
    """
    if isinstance(prompts, (str, bytes, Mapping)) or not isinstance(prompts, Sequence):
        raise TypeError(f"prompts must be a list of prompt strings or dicts, not {type(prompts).__name__}")
    if len(prompts) == 0:
        raise ValueError("prompts is empty: pass at least one prompt")
    model = check_model(model, "model")
    max_tokens = check_max_tokens(max_tokens, "max_tokens")
    temperature = check_temperature(temperature, "temperature")
    shared = system_blocks(shared_system, "shared_system", cache=cache_shared_system)
    if callbacks is not None:
        if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Sequence):
            raise TypeError(f"callbacks must be a list, not {type(callbacks).__name__}")
        if len(callbacks) != len(prompts):
            raise ValueError(f"callbacks has {len(callbacks)} entries but there are {len(prompts)} prompts")
        for i, cb in enumerate(callbacks):
            if cb is not None and not callable(cb):
                raise TypeError(f"callbacks[{i}] must be callable or None, not {type(cb).__name__}")
    allowed = PROMPT_FIELDS | frozenset(task_options)
    base_options = dict(options or {})
    if OUTPUT in base_options:
        _check_output_supported(allowed, "output")
        if base_options[OUTPUT] is None:
            del base_options[OUTPUT]
        else:  # checked once, shared by every prompt
            base_options[OUTPUT] = output_schema(base_options[OUTPUT], "output")
        allowed |= {OUTPUT}
    if TOOLS in allowed:
        allowed |= {MAX_TOOL_ROUNDS}
        if base_options.get(TOOLS) is not None:  # checked once, shared by every prompt
            base_options[TOOLS] = tool_set(base_options[TOOLS], "tools")
        if MAX_TOOL_ROUNDS in base_options:
            check_max_tool_rounds(base_options[MAX_TOOL_ROUNDS], "max_tool_rounds")
    for key in base_options:
        if key not in allowed:
            raise ValueError(
                f"unknown option {key!r} for this transport (known: {', '.join(sorted(allowed - PROMPT_FIELDS))})"
            )

    tasks = []
    for i, item in enumerate(prompts):
        where = f"prompts[{i}]"
        spec: Mapping[str, Any] = {"prompt": item} if isinstance(item, str) else item
        if not isinstance(spec, Mapping):
            raise TypeError(f"{where} must be a string or a dict with 'prompt', not {type(item).__name__}")
        if "prompt" not in spec:
            raise ValueError(f"{where} is missing 'prompt'")
        if OUTPUT in spec:
            _check_output_supported(allowed, f"{where}['output']")
        unknown = [k for k in spec if k not in allowed and k != OUTPUT]
        if unknown:
            raise ValueError(
                f"{where} has unknown field {unknown[0]!r} (known: {', '.join(sorted(allowed))})"
            )
        prompt = spec["prompt"]
        if not isinstance(prompt, str):
            raise TypeError(f"{where}['prompt'] must be a string, not {type(prompt).__name__}")
        if not prompt.strip():
            raise ValueError(f"{where}['prompt'] is empty")
        check_encodable(prompt, f"{where}['prompt']")
        own_system = system_blocks(
            spec.get("system"), f"{where}['system']", cache=bool(spec.get("cache_system"))
        )
        for flag in ("cache_system", "cache_prompt"):
            if flag in spec and not isinstance(spec[flag], bool):
                raise TypeError(f"{where}['{flag}'] must be True or False")
        for label in ("name", "id"):
            if spec.get(label) is not None and not isinstance(spec[label], str):
                raise TypeError(f"{where}['{label}'] must be a string, not {type(spec[label]).__name__}")
        task_opts = dict(base_options)
        task_opts.update({k: v for k, v in spec.items() if k not in PROMPT_FIELDS})
        if task_opts.get("messages") is not None:
            _check_messages(task_opts["messages"], where)
        if OUTPUT in task_opts:
            _apply_output(task_opts, where)
        tool_functions = _apply_tools(task_opts, where)
        max_tool_rounds = DEFAULT_MAX_TOOL_ROUNDS
        if MAX_TOOL_ROUNDS in task_opts:
            max_tool_rounds = check_max_tool_rounds(task_opts.pop(MAX_TOOL_ROUNDS), where)
        if spec.get("cache_prompt"):
            task_opts["cache_prompt"] = True
        tasks.append(
            Task(
                i,
                prompt,
                model=check_model(spec["model"], where) if "model" in spec else model,
                max_tokens=check_max_tokens(spec["max_tokens"], where)
                if "max_tokens" in spec
                else max_tokens,
                temperature=check_temperature(spec["temperature"], where)
                if "temperature" in spec
                else temperature,
                system=_join_systems(shared, own_system),
                name=spec.get("name"),
                id=spec.get("id"),
                options=task_opts,
                on_text=callbacks[i] if callbacks is not None else None,
                tool_functions=tool_functions,
                max_tool_rounds=max_tool_rounds,
            )
        )
    return tasks
