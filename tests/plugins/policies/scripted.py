"""A streaming transport that plays a script per prompt, registered through a plugin like a third party's.

Usage::

    run_scripted({"a": ["one ", 0.01, "two"], "b": [failure()]}, plugins=[policy])

A step is a ``str`` (a text event), a number (sleep that long), a
:class:`Usage` (a usage event), an :class:`Event` (emitted as is), ``HANG``
(wait until cancelled), or an exception (raised). A task that ends normally
reports ``Usage(input_tokens=10, output_tokens=<its text events>)`` unless its
script gave a usage. Between steps the transport yields to the event loop,
so an interrupt lands at the next step, as it would on a real stream.
"""

from __future__ import annotations

from typing import Any

import anyio

from mac_core import Completion, Coordinator, Event, Transport, TransportError, Usage, hookimpl

HANG = "HANG"


class ScriptedTransport(Transport):
    """Plays ``transport_options["scripts"][prompt]``; records what was emitted and what was cut off."""

    name = "scripted"
    streams = True
    needs_api_key = False

    async def run_task(self, task, emit):
        script = self.settings.transport_options["scripts"].get(task.prompt, ["ok"])
        log = self.settings.transport_options["log"]
        emitted = log.setdefault(task.prompt, [])
        usage = None
        try:
            for step in script:
                if isinstance(step, BaseException):
                    raise step
                if step == HANG:
                    await anyio.sleep_forever()
                elif isinstance(step, (int, float)):
                    await anyio.sleep(step)
                    continue
                event = (
                    step
                    if isinstance(step, Event)
                    else Event("usage", data=step)
                    if isinstance(step, Usage)
                    else Event("text", step)
                )
                if event.type == "usage":
                    usage = event.data
                emitted.append(event)
                emit(event)
                await anyio.sleep(0)
            if usage is None:
                usage = Usage(input_tokens=10, output_tokens=sum(1 for e in emitted if e.type == "text"))
                emit(Event("usage", data=usage))
            return Completion(usage=usage, stop_reason="end_turn")
        except anyio.get_cancelled_exc_class():
            log.setdefault("cancelled", []).append(task.prompt)
            raise


class ScriptedPlugin:
    """Registers :class:`ScriptedTransport` as ``scripted``."""

    @hookimpl
    def mac_register_transports(self, register):
        register("scripted", ScriptedTransport)


def run_scripted(scripts: dict[str, list[Any]], *, plugins=(), prompts=None, max_concurrency=10, **kwargs):
    """Run ``prompts`` (default: the scripts' keys, each named after itself) on the scripted transport.

    Returns ``(results, options)``; ``options["log"]`` has what each task emitted
    and which tasks were cancelled in flight.
    """
    options: dict[str, Any] = {"scripts": scripts, "log": {}}  # the run copies this dict, not "log"
    if prompts is None:
        prompts = [{"prompt": key, "name": key} for key in scripts]
    results = Coordinator(plugins=[ScriptedPlugin(), *plugins]).run(
        prompts, transport="scripted", max_concurrency=max_concurrency, transport_options=options, **kwargs
    )
    return results, options


def failure(message: str = "HTTP 500 api_error: boom") -> TransportError:
    """A failure as a transport would raise it."""
    return TransportError(message, status_code=500, error_type="api_error")
