"""A plain ``websockets`` client for the protocol, with a timeout on every wait."""

from __future__ import annotations

import json
from typing import Any

from websockets.sync.client import ClientConnection, connect

WAIT = 10.0  # seconds any single frame may take before a test fails instead of hanging


def open_ws(server: Any, **kwargs: Any) -> ClientConnection:
    """A WebSocket to the server (no Origin header, as a non-browser client)."""
    return connect(server.ws_url, open_timeout=WAIT, close_timeout=2, **kwargs)


def recv(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=WAIT))


def send_user(ws: ClientConnection, text: str) -> None:
    message = {"role": "user", "content": text}
    ws.send(
        json.dumps({"type": "user_message", "data": {"type": "user", "message": message, "session_id": ""}})
    )


def until_result(ws: ClientConnection) -> list[dict[str, Any]]:
    """Frames up to and including the next ``result`` SDKMessage."""
    frames = []
    while True:
        frame = recv(ws)
        frames.append(frame)
        if frame["type"] == "sdk_message" and frame["data"]["type"] == "result":
            return frames
