"""The ``agent-ws`` transport's settings, read from ``ClientSettings.transport_options`` and checked up front.

Keys (only ``url`` is required)::

    url                 the agent server: http(s)://host:port[/prefix] or ws(s)://host:port[/prefix][/ws]
    token               bearer token for /config and the WebSocket upgrade (str or Secret)
    anthropic_api_key   sent as ``anthropicApiKey`` in /config, for servers that need one (str or Secret)
    allow_insecure      allow http:// or ws:// to a host that is not loopback (default False)
    connect_timeout     seconds to reach /config, open the WebSocket and get ``connected``
                        (default: the run's connect_timeout)
    idle_timeout        seconds the agent may go without sending a frame (default: the run's idle_timeout)
    interrupt_timeout   seconds to wait for the turn's ``result`` after an interrupt (default 5)
    reconnect_timeout   seconds to get the connection back after a drop mid-turn; 0 disables (default 5)

Everything is checked when the transport is created, before any connection:
a bad URL, an unknown key or a plaintext URL to a remote host raise ``ValueError``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mac_core import ClientSettings, Secret

KEYS = (
    "url",
    "token",
    "anthropic_api_key",
    "allow_insecure",
    "connect_timeout",
    "idle_timeout",
    "interrupt_timeout",
    "reconnect_timeout",
)
DEFAULT_INTERRUPT_TIMEOUT = 5.0
DEFAULT_RECONNECT_TIMEOUT = 5.0


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _secret(value: Any, key: str) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value or None
    if not isinstance(value, str):
        raise TypeError(f"transport_options[{key!r}] must be a string, not {type(value).__name__}")
    return Secret(value.strip()) if value.strip() else None


def _seconds(options: Mapping[str, Any], key: str, default: float, *, zero_ok: bool = False) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value >= 0 if zero_ok else value > 0):
        kind = "a non-negative" if zero_ok else "a positive"
        raise ValueError(f"transport_options[{key!r}] must be {kind} number of seconds, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class AgentOptions:
    """Where the agent server is and how to talk to it; built by :meth:`from_settings`.

    :ivar config_url: the ``/config`` endpoint (http or https).
    :ivar ws_url: the ``/ws`` endpoint (ws or wss).
    :ivar loopback: the host is this machine (no proxy, plaintext allowed).
    :ivar token: the bearer token, or ``None``; never shown.
    :ivar anthropic_api_key: posted as ``anthropicApiKey``, or ``None``; never shown.
    """

    config_url: str
    ws_url: str
    loopback: bool
    token: Secret | None
    anthropic_api_key: Secret | None
    connect_timeout: float
    idle_timeout: float
    interrupt_timeout: float
    reconnect_timeout: float

    @classmethod
    def from_settings(cls, settings: ClientSettings) -> AgentOptions:
        """Read and check ``settings.transport_options``; raise ``ValueError`` naming what is wrong."""
        options = settings.transport_options
        unknown = sorted(set(options) - set(KEYS))
        if unknown:
            raise ValueError(f"unknown agent-ws transport option {unknown[0]!r} (known: {', '.join(KEYS)})")
        url = options.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ValueError("the agent-ws transport needs transport_options['url'], e.g. 'http://127.0.0.1:3000'")
        allow_insecure = options.get("allow_insecure", False)
        if not isinstance(allow_insecure, bool):
            raise TypeError("transport_options['allow_insecure'] must be True or False")
        config_url, ws_url, loopback = endpoints(url.strip(), allow_insecure=allow_insecure)
        return cls(
            config_url=config_url,
            ws_url=ws_url,
            loopback=loopback,
            token=_secret(options.get("token"), "token"),
            anthropic_api_key=_secret(options.get("anthropic_api_key"), "anthropic_api_key"),
            connect_timeout=_seconds(options, "connect_timeout", settings.connect_timeout),
            idle_timeout=_seconds(options, "idle_timeout", settings.idle_timeout),
            interrupt_timeout=_seconds(options, "interrupt_timeout", DEFAULT_INTERRUPT_TIMEOUT),
            reconnect_timeout=_seconds(options, "reconnect_timeout", DEFAULT_RECONNECT_TIMEOUT, zero_ok=True),
        )


def endpoints(url: str, *, allow_insecure: bool = False) -> tuple[str, str, bool]:
    """``(config_url, ws_url, loopback)`` for an agent server URL, or ``ValueError`` saying why not."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "ws", "wss"):
        raise ValueError(f"agent URL {url!r} must start with http://, https://, ws:// or wss://")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the agent URL must not carry credentials; pass the token as token=...")
    if parts.query or parts.fragment:
        raise ValueError("the agent URL must not have a query or fragment; pass the token as token=...")
    host = parts.hostname
    if not host:
        raise ValueError(f"agent URL {url!r} has no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"agent URL {url!r} has an invalid port") from None
    loopback = is_loopback(host)
    secure = scheme in ("https", "wss")
    if not secure and not loopback and not allow_insecure:
        raise ValueError(
            f"refusing {scheme}:// to {host}, which is not this machine: the prompt, the token and any API key "
            f"would travel in clear. Use {'wss' if scheme == 'ws' else 'https'}://, or pass allow_insecure=True "
            "if the network is trusted"
        )
    prefix = parts.path.rstrip("/")
    if prefix.endswith("/ws"):
        prefix = prefix[: -len("/ws")]
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    http_scheme, ws_scheme = ("https", "wss") if secure else ("http", "ws")
    config_url = urlunsplit((http_scheme, netloc, prefix + "/config", "", ""))
    ws_url = urlunsplit((ws_scheme, netloc, prefix + "/ws", "", ""))
    return config_url, ws_url, loopback
