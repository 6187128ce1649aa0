"""The ``messages`` transport: one Messages API request, one answer (no streaming)."""

from __future__ import annotations

import anthropic

from mac_core import Completion, Transport, TransportError, hookimpl
from mac_core.anthropic_api import (
    MESSAGES_TASK_OPTIONS,
    ClientShards,
    emit_message,
    messages_request,
    sdk_arguments,
    transport_error,
)
from mac_core.transport import NoOptions


class MessagesTransport(Transport):
    """Sends each task as one non-streaming ``POST /v1/messages``.

    The answer arrives whole, so it is emitted as a single ``text`` event (and
    one ``tool_use`` event per tool call); an interrupt can still cancel the
    request in flight, but there is no partial text to keep.
    """

    name = "messages"
    streams = False
    needs_api_key = True
    task_options = MESSAGES_TASK_OPTIONS
    options_type = NoOptions  # takes none: a transport option given here is a mistake, said up front

    async def open(self) -> None:
        self._clients = ClientShards(self.settings, streaming=False)

    async def aclose(self) -> None:
        await self._clients.aclose()

    async def run_task(self, task, emit):
        request = sdk_arguments(messages_request(task))
        try:
            async with self._clients.client() as client:
                message = await client.messages.create(**request)
        except anthropic.APIError as exc:
            raise transport_error(exc) from None
        except ValueError as exc:  # a body that is not JSON or not a Message
            raise TransportError(
                f"malformed response from the server ({type(exc).__name__}: {str(exc)[:120]})",
                error_type="malformed_response",
            ) from None
        usage = emit_message(message, emit)
        return Completion(usage=usage, stop_reason=message.stop_reason, request_id=message._request_id)


@hookimpl
def mac_register_transports(register):
    register("messages", MessagesTransport)
