"""``mac run --transport-option KEY=VALUE``: text from the command line turned into a transport's typed options.

A value is converted by the type its transport declares for ``KEY`` (a field
of its ``options_type`` dataclass): an integer, a number, ``true``/``false``,
or text (secrets and paths included). A key the transport does not declare,
or a field typed with something richer, is passed on as text, and the core
(:func:`mac_core.transport.read_options`) then refuses it naming the option.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})


class TransportOptionError(ValueError):
    """A ``--transport-option`` that cannot be read: not ``KEY=VALUE``, given twice, or not of its option's type."""


def parse_transport_options(pairs: Iterable[str], options_type: type | None) -> dict[str, Any]:
    """``{"KEY": value}`` for ``KEY=VALUE`` strings, each value converted to the type ``options_type`` gives KEY.

    :param options_type: the transport's ``options_type`` dataclass, or ``None``
        (every value stays text).
    :raises TransportOptionError: naming the option.
    """
    hints = _field_types(options_type)
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TransportOptionError(f"expected KEY=VALUE, got {pair!r}")
        if key in options:
            raise TransportOptionError(f"{key!r} is given twice")
        options[key] = _converted(key, text, hints.get(key))
    return options


def missing_options(options_type: type | None, options: Mapping[str, Any]) -> list[str]:
    """The options ``options_type`` needs (no default) that ``options`` lacks; none while a name is unknown.

    An unknown name is usually a misspelt required one, so that error (the
    core's, naming it) is the one to show.
    """
    if options_type is None or not dataclasses.is_dataclass(options_type):
        return []
    fields = [f for f in dataclasses.fields(options_type) if f.init]
    if any(name not in {f.name for f in fields} for name in options):
        return []
    return [f.name for f in fields if f.name not in options and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING]


def _field_types(options_type: type | None) -> dict[str, Any]:
    if options_type is None or not dataclasses.is_dataclass(options_type):
        return {}
    hints = typing.get_type_hints(options_type)
    return {f.name: hints.get(f.name) for f in dataclasses.fields(options_type) if f.init}


def _converted(key: str, text: str, hint: Any) -> Any:
    """``text`` as the field typed ``hint`` wants it; text wherever text is accepted or the type is not simple."""
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    classes = set(typing.get_args(hint) if is_union else (hint,)) - {type(None)}
    if not classes or not all(isinstance(c, type) for c in classes) or not classes <= {bool, int, float}:
        return text  # str, Secret, a path, or something __post_init__ checks: the core decides
    word = text.strip().lower()
    if bool in classes and word in TRUE_WORDS | FALSE_WORDS:
        return word in TRUE_WORDS
    if int in classes:
        try:
            return int(word)
        except ValueError:
            pass
    if float in classes:
        try:
            return float(word)
        except ValueError:
            pass
    kinds = [kind for cls, kind in ((bool, "true or false"), (int, "an integer"), (float, "a number")) if cls in classes]
    raise TransportOptionError(f"{key!r} must be {' or '.join(kinds)}, got {text!r}")
