"""A loopback HTTP server that streams a little SSE and then holds the connection open.

It shows what an interrupt does on the wire: the client must close the
connection (the server sees EOF) instead of waiting for the end of the answer.
"""

from __future__ import annotations

import asyncio
import threading

from sse import stream_head, text_delta


class HangingSSEServer:
    """Serves ``POST /v1/messages``: message_start, ``chunks`` as deltas, then nothing until the client leaves."""

    def __init__(self, chunks: list[str]) -> None:
        self.chunks = chunks
        self.requests = 0
        self.closed_by_client = 0
        self.streams_open = 0
        self.streaming = threading.Event()  # set once a client has received its chunks
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        self.requests += 1
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nrequest-id: req_hang\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        body = stream_head() + b"".join(text_delta(c) for c in self.chunks)
        writer.write(b"%x\r\n%s\r\n" % (len(body), body))
        await writer.drain()
        self.streams_open += 1
        self.streaming.set()
        if await reader.read() == b"":  # blocks until the client closes its end
            self.closed_by_client += 1
        writer.close()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        self._ready.set()
        self._loop.run_forever()
        server.close()
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    def __enter__(self) -> HangingSSEServer:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
