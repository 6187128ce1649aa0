"""The ``agent-ws`` transport's settings: :class:`AgentOptions`, its ``options_type``, checked up front.

Keys (``url`` or ``urls`` is required)::

    url                 the agent server: http(s)://host:port[/prefix] or ws(s)://host:port[/prefix][/ws]
    urls                several agent servers (a list, or one string of comma-separated URLs): a fan-out
                        is spread over them, one turn per server at a time (see :mod:`.servers`)
    token               bearer token for /config and the WebSocket upgrade (str or Secret)
    anthropic_api_key   sent as ``anthropicApiKey`` in /config, for servers that need one (str or Secret)
    allow_insecure      allow http:// or ws:// to a host that is not loopback (default False)
    connect_timeout     seconds to reach /config, open the WebSocket and get ``connected``
                        (default: the run's connect_timeout)
    idle_timeout        seconds the agent may go without sending a frame (default: the run's idle_timeout)
    interrupt_timeout   seconds to wait for the turn's ``result`` after an interrupt (default 5)
    reconnect_timeout   seconds to get the connection back after a drop mid-turn; 0 disables (default 5)
    resume_timeout      after such a reconnect to a server that does not keep frames for an absent client
                        (the reference server), seconds to wait for the turn's next frame before deciding
                        that its end was lost (default 2)

Everything is checked before any connection (by the Coordinator, see
:func:`mac_core.transport.read_options`): a bad URL, an unknown key, a token
with a control character or a plaintext URL to a remote host raise ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from mac_core import ClientSettings, Secret
from mac_core.transport import read_options

DEFAULT_INTERRUPT_TIMEOUT = 5.0
DEFAULT_RECONNECT_TIMEOUT = 5.0
DEFAULT_RESUME_TIMEOUT = 2.0


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_seconds(key: str, value: float | None, *, zero_ok: bool = False) -> None:
    if value is not None and not (value >= 0 if zero_ok else value > 0):
        kind = "a non-negative" if zero_ok else "a positive"
        raise ValueError(f"transport_options[{key!r}] must be {kind} number of seconds, got {value!r}")


@dataclass(frozen=True)
class AgentServerAddress:
    """One agent server's endpoints, worked out from the URL the caller gave.

    :ivar name: the server as results and logs name it: its ``http(s)://host:port[/prefix]``
        (URLs with credentials or a query are refused, so it holds no secret).
    :ivar config_url: the ``/config`` endpoint (http or https).
    :ivar ws_url: the ``/ws`` endpoint (ws or wss).
    :ivar query_url: the ``/query`` endpoint of servers that report their query (this project's).
    :ivar loopback: the host is this machine (no proxy, plaintext allowed).
    """

    name: str
    config_url: str
    ws_url: str
    query_url: str
    loopback: bool

    @classmethod
    def parse(cls, url: str, *, allow_insecure: bool = False) -> AgentServerAddress:
        """The address of the server at ``url``, or ``ValueError`` saying what is wrong with it."""
        config_url, ws_url, loopback = endpoints(url, allow_insecure=allow_insecure)
        name = config_url[: -len("/config")]
        return cls(name, config_url, ws_url, name + "/query", loopback)


def _url_list(urls: object) -> tuple[str, ...]:
    if isinstance(urls, str):
        urls = [u for u in urls.replace(",", " ").split()]
    if not isinstance(urls, (list, tuple)) or not all(isinstance(u, str) for u in urls):
        raise ValueError("transport_options['urls'] must be a list of agent server URLs")
    if not urls:
        raise ValueError("transport_options['urls'] is empty: give at least one agent server URL")
    return tuple(u.strip() for u in urls)


@dataclass(frozen=True)
class AgentOptions:
    """Where the agent servers are and how to talk to them: the ``agent-ws`` transport's ``options_type``.

    The fields up to ``resume_timeout`` are the keys above; ``servers`` is
    worked out from ``url`` or ``urls``. :meth:`from_settings` fills the
    timeouts left ``None`` from the run's settings.

    :ivar servers: one :class:`AgentServerAddress` per URL, in the order given.
    :ivar token: the bearer token (the same for every server), or ``None``; never shown.
    :ivar anthropic_api_key: posted as ``anthropicApiKey``, or ``None``; never shown.
    """

    url: str = ""
    urls: tuple[str, ...] | list[str] | str | None = None
    token: Secret | None = None
    anthropic_api_key: Secret | None = None
    allow_insecure: bool = False
    connect_timeout: float | None = None
    idle_timeout: float | None = None
    interrupt_timeout: float = DEFAULT_INTERRUPT_TIMEOUT
    reconnect_timeout: float = DEFAULT_RECONNECT_TIMEOUT
    resume_timeout: float = DEFAULT_RESUME_TIMEOUT
    servers: tuple[AgentServerAddress, ...] = field(init=False)

    def __post_init__(self) -> None:
        url = self.url.strip() if isinstance(self.url, str) else self.url
        if url and self.urls is not None:
            raise ValueError(
                "give the agent-ws transport either transport_options['url'] (one server) or ['urls'] "
                "(several), not both"
            )
        if self.urls is not None:
            urls = _url_list(self.urls)
        elif url:
            urls = (url,)
        else:
            raise ValueError(
                "the agent-ws transport needs the option url, one server (e.g. 'http://127.0.0.1:3000'), "
                "or urls, a list of several"
            )
        for key in ("connect_timeout", "idle_timeout", "interrupt_timeout", "resume_timeout"):
            _check_seconds(key, getattr(self, key))
        _check_seconds("reconnect_timeout", self.reconnect_timeout, zero_ok=True)
        servers = tuple(AgentServerAddress.parse(u, allow_insecure=self.allow_insecure) for u in urls)
        repeated = [s.name for i, s in enumerate(servers) if s.name in {t.name for t in servers[:i]}]
        if repeated:
            raise ValueError(f"transport_options['urls'] names {repeated[0]} twice")
        object.__setattr__(self, "servers", servers)  # frozen: set once, here
        if self.urls is not None:
            object.__setattr__(self, "urls", urls)

    @property
    def config_url(self) -> str:
        """The first server's ``/config`` endpoint."""
        return self.servers[0].config_url

    @property
    def ws_url(self) -> str:
        """The first server's ``/ws`` endpoint."""
        return self.servers[0].ws_url

    @property
    def loopback(self) -> bool:
        """Every server is on this machine (then no proxy is used)."""
        return all(s.loopback for s in self.servers)

    @classmethod
    def from_settings(cls, settings: ClientSettings) -> AgentOptions:
        """``settings.options`` (or ``settings.transport_options``, checked) with the run's timeouts filled in."""
        options = settings.options
        if not isinstance(options, cls):
            options = read_options(cls, settings.transport_options, "agent-ws")
        return dataclasses.replace(
            options,
            connect_timeout=options.connect_timeout or settings.connect_timeout,
            idle_timeout=options.idle_timeout or settings.idle_timeout,
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
