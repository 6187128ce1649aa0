"""Where the API key comes from, and how it is kept out of sight.

Order: the explicit ``api_key=`` argument, then ``ANTHROPIC_API_KEY``, then
the config file (``$MAC_CONFIG`` or ``~/.config/mac/config.toml``) with a line
``api_key = "..."``. The key is held in a :class:`Secret`, whose repr and str
never show it.

Surrounding whitespace (a trailing newline from ``$(cat keyfile)``) is
stripped; a key or token still holding a control character, whitespace or a
non-ASCII character is refused with :class:`MalformedSecretError`, naming where
it came from and never showing it, before any request is sent.
"""

from __future__ import annotations

import os
import string
from pathlib import Path

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

API_KEY_ENV = "ANTHROPIC_API_KEY"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
CONFIG_ENV = "MAC_CONFIG"

#: The end of every missing-key message: how to try mac without a key.
OFFLINE_HINT = ("to try mac offline, run `mac demo`, or start `mac sim` and set ANTHROPIC_BASE_URL to the URL it "
                "prints and ANTHROPIC_API_KEY to anything")


class MissingAPIKeyError(ValueError):
    """No API key was found; raised before any request is sent."""


class MalformedSecretError(ValueError):
    """A key or token holds a character no HTTP header may carry; raised before any request, without the secret."""


class Secret:
    """A string that never shows itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself; hand it only to the HTTP client."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):  # never pickled into a file
        raise TypeError("Secret values cannot be pickled")


def check_secret(value: str, source: str) -> str:
    """``value`` without surrounding whitespace, or :class:`MalformedSecretError` naming ``source``.

    A key or token is printable ASCII without spaces once stripped; anything
    else would be sent in a header (or refused there, with the whole header
    quoted in the error). The error names ``source`` (``"ANTHROPIC_API_KEY"``,
    ``"--token"``…) and the character's code point, never the secret.
    """
    if not isinstance(value, str):
        raise TypeError(f"{source} must be a string, not {type(value).__name__}")
    lead = len(value) - len(value.lstrip(string.whitespace))
    stripped = value.strip(string.whitespace)
    for offset, char in enumerate(stripped):
        if "!" <= char <= "~":
            continue
        code = ord(char)
        kind = "a control character" if code < 0x20 or code == 0x7F else (
            "whitespace" if char.isspace() else "a non-ASCII character")
        raise MalformedSecretError(
            f"{source} contains {kind} (U+{code:04X} at position {lead + offset}); a key or token is "
            "printable ASCII without spaces: copy it again, without line breaks or terminal escapes"
        )
    return stripped


def checked_secret(value: str | Secret, source: str) -> Secret | None:
    """``value`` checked by :func:`check_secret` and wrapped in a :class:`Secret`; ``None`` when blank."""
    plain = check_secret(value.reveal() if isinstance(value, Secret) else value, source)
    return Secret(plain) if plain else None


def config_path() -> Path:
    """The config file consulted for ``api_key`` and ``base_url``."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "mac" / "config.toml"


def _config_value(name: str) -> str | None:
    path = config_path()
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read the mac config file {path}: {type(exc).__name__}") from None
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} in {path} must be a string")
    return value or None


def find_api_key(explicit: str | Secret | None = None) -> Secret | None:
    """The API key by the documented order, or ``None`` when there is none.

    Raises :class:`MalformedSecretError` for the first key found that cannot be sent.
    """
    if explicit is not None:
        if not isinstance(explicit, (str, Secret)):
            raise TypeError(f"api_key must be a string, not {type(explicit).__name__}")
        key = checked_secret(explicit, "the api_key argument")
        if key is not None:
            return key
    key = checked_secret(os.environ.get(API_KEY_ENV, ""), API_KEY_ENV)
    if key is not None:
        return key
    value = _config_value("api_key")
    return checked_secret(value, f"api_key in {config_path()}") if value else None


def require_api_key(explicit: str | Secret | None = None) -> Secret:
    """The API key, or :class:`MissingAPIKeyError` naming where to put one."""
    key = find_api_key(explicit)
    if key is None:
        raise MissingAPIKeyError(
            f"no Anthropic API key: set {API_KEY_ENV}, pass api_key=..., "
            f"or put api_key = \"...\" in {config_path()}; {OFFLINE_HINT}"
        )
    return key


def find_base_url(explicit: str | None = None) -> str | None:
    """The API base URL: the argument, ``ANTHROPIC_BASE_URL``, the config file, or ``None``."""
    if explicit:
        return explicit
    return os.environ.get(BASE_URL_ENV) or _config_value("base_url")
