"""The ``messages`` transport: one Messages API request, one answer (no streaming)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mac_core import Completion, Event, Transport, TransportError, hookimpl
from mac_core.anthropic_api import (
    MESSAGES_TASK_OPTIONS,
    ClientShards,
    emit_message,
    messages_request,
    retries_taken,
    sdk_arguments,
    transport_error,
)
from mac_core.events import MESSAGE_START
from mac_core.transport import NoOptions

if TYPE_CHECKING:  # the SDK is imported when a task runs: loading the plugin (every `mac` start) stays fast
    import anthropic


class MessagesTransport(Transport):
    """Sends each task as one non-streaming ``POST /v1/messages``.

    The answer arrives whole, so it is emitted as a single ``text`` event (and
    one ``tool_use`` event per tool call); an interrupt can still cancel the
    request in flight, but there is no partial text to keep.
    """

    name = "messages"
    streams = False
    needs_api_key = True
    bills_tokens = True
    rate_limited = True  # one request per run_task: the engine's scheduler admits it
    task_options = MESSAGES_TASK_OPTIONS
    options_type = NoOptions  # takes none: a transport option given here is a mistake, said up front

    async def open(self) -> None:
        self._clients = ClientShards(self.settings, streaming=False)

    async def aclose(self) -> None:
        await self._clients.aclose()

    async def run_task(self, task, emit):
        import anthropic

        request = sdk_arguments(messages_request(task))
        try:
            async with self._clients.client() as client:
                if task.primes_cache:
                    message, request_id, retries, headers = await _streamed_for_the_cache(client, request, emit)
                else:
                    response = await client.messages.with_raw_response.create(**request)
                    message, request_id, retries = await response.parse(), response.request_id, response.retries_taken
                    headers = response.headers
        except anthropic.APIError as exc:
            raise transport_error(exc) from None
        except ValueError as exc:  # a body that is not JSON or not a Message
            raise TransportError(
                f"malformed response from the server ({type(exc).__name__}: {str(exc)[:120]})",
                error_type="malformed_response",
            ) from None
        usage = emit_message(message, emit)
        return Completion(
            usage=usage, stop_reason=message.stop_reason, request_id=request_id, retries=retries, headers=headers
        )


async def _streamed_for_the_cache(
    client: anthropic.AsyncAnthropic, request: dict, emit
) -> tuple[Any, str | None, int, Any]:
    """The same request, streamed, so the run learns at ``message_start`` that the prompt cache is written.

    The other tasks of a ``cache_shared_system`` run wait for that first
    event; without streaming it would come only with the whole answer.
    The answer is still emitted whole, as for any task of this transport.
    """
    async with client.messages.stream(**request) as stream:
        async for event in stream:
            if event.type == "message_start":
                emit(Event(MESSAGE_START, data=event.model_dump()))
        message = await stream.get_final_message()
        return message, stream.request_id, retries_taken(stream.response), stream.response.headers


@hookimpl
def mac_register_transports(register):
    register("messages", MessagesTransport)
