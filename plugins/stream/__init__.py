"""The ``stream`` transport: the streaming Messages API, text emitted as it is generated."""

from __future__ import annotations

from mac_core import Transport, TransportError, hookimpl
from mac_core.anthropic_api import (
    MESSAGES_TASK_OPTIONS,
    ClientShards,
    messages_request,
    sdk_arguments,
    transport_error,
)
from mac_core.transport import NoOptions

from .sse import consume_stream


class StreamTransport(Transport):
    """Sends each task as a streaming ``POST /v1/messages`` and emits its events live.

    The SDK makes the request (auth, headers, retries, error types); the body
    is parsed here (see :mod:`.sse`). Requests spread over SDK clients of at
    most 64 streams each (:class:`~mac_core.anthropic_api.ClientShards`), so a
    thousand-stream run's connection pools stay cheap. Cancelling the task
    closes the HTTP response, which stops generation on the far side; the
    text so far is kept.
    """

    name = "stream"
    streams = True
    needs_api_key = True
    bills_tokens = True
    rate_limited = True  # one request per run_task: the engine's scheduler admits it
    task_options = MESSAGES_TASK_OPTIONS
    options_type = NoOptions  # takes none: a transport option given here is a mistake, said up front

    async def open(self) -> None:
        self._clients = ClientShards(self.settings, streaming=True)

    async def aclose(self) -> None:
        await self._clients.aclose()

    async def run_task(self, task, emit):
        # The SDK is imported when a task runs: loading the plugin (every `mac` start) stays fast.
        import anthropic
        import httpx2

        request = sdk_arguments(messages_request(task))
        try:
            async with (
                self._clients.client() as client,
                client.messages.with_streaming_response.create(**request, stream=True) as response,
            ):
                completion = await consume_stream(
                    response.http_response.aiter_bytes(), emit, response.request_id
                )
                completion.retries = response.retries_taken
                completion.headers = response.headers
                return completion
        except anthropic.APIError as exc:
            raise transport_error(exc) from None
        except httpx2.TimeoutException:
            raise TransportError(
                f"no event for {self.settings.idle_timeout:g} s: the stream stalled", error_type="timeout"
            ) from None
        except httpx2.HTTPError as exc:
            raise TransportError(
                f"connection dropped mid-stream ({type(exc).__name__})", error_type="connection_error"
            ) from None


@hookimpl
def mac_register_transports(register):
    register("stream", StreamTransport)
