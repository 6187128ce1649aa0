"""Structured answers: a prompt's ``output=`` (a JSON Schema dict or a Pydantic model class).

A prompt (or a whole run) that carries ``output=`` asks the Messages API for
an answer in that shape (structured outputs: ``output_config: {"format":
{"type": "json_schema", "schema": {...}}}``); the engine then parses the
answer's text and validates it, so the result's ``parsed`` is a dict (a
schema was given) or an instance of the model (a model was given). An answer
that is not JSON, or does not conform, makes the task ``failed`` with
``error_type`` :data:`INVALID_OUTPUT`.

The API refuses schemas with features it does not enforce (numeric and
string bounds, most array bounds, ``additionalProperties`` other than
``false``) with a 400. So the request carries the schema as the SDK's own
``anthropic.transform_schema`` rewrites it (those constraints move into the
descriptions, which the model reads; every object gets
``additionalProperties: false``), and the answer is validated here against
the full schema the caller gave.

Everything that can be wrong with ``output=`` itself is found by
:func:`output_schema`, before any request is sent.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Mapping
from typing import Any

#: ``TaskResult.error_type`` of a completed answer that is not JSON or does not match ``output=``.
INVALID_OUTPUT = "invalid_output"

#: How many of an answer's schema violations an error message names.
ERRORS_NAMED = 3

# Keywords of which a JSON Schema (of the kinds the API takes) has at least one at its root.
_SCHEMA_ROOT_KEYWORDS = ("type", "properties", "$ref", "anyOf", "oneOf", "allOf", "enum", "const")


class InvalidOutput(ValueError):
    """An answer that is not JSON or does not match the prompt's ``output=``; the message says what is wrong."""


class OutputSchema:
    """What a prompt's ``output=`` asks of its answer: a JSON Schema, and the Pydantic model it came from.

    Built by :func:`output_schema` (which checks it); :meth:`request_format`
    is what the request carries, :meth:`parse` turns an answer into
    ``TaskResult.parsed`` or raises :class:`InvalidOutput`.

    :ivar schema: the JSON Schema as the caller gave it (a model's ``model_json_schema()``).
    :ivar model: the Pydantic model class, or ``None`` for a dict schema.
    """

    __slots__ = ("schema", "model", "_wire_schema", "_validator")

    def __init__(self, schema: dict[str, Any], model: type | None, wire_schema: dict[str, Any], validator: Any) -> None:
        self.schema = schema
        self.model = model
        self._wire_schema = wire_schema
        self._validator = validator  # a jsonschema validator, or None: the structural checks below are used

    @property
    def label(self) -> str:
        """How messages name it: the model's class name, or ``the schema``."""
        return self.model.__name__ if self.model is not None else "the schema"

    def request_format(self) -> dict[str, Any]:
        """The ``output_config.format`` of the request: ``{"type": "json_schema", "schema": ...}``."""
        return {"type": "json_schema", "schema": copy.deepcopy(self._wire_schema)}

    def parse(self, text: str, *, stop_reason: str | None = None) -> Any:
        """``text`` as JSON, validated: the dict (or list, ...) for a schema, a model instance for a model.

        :raises InvalidOutput: naming what is wrong (and why the answer may be
            cut short, when ``stop_reason`` says so).
        """
        cause = _STOP_CAUSES.get(stop_reason or "", "")
        try:
            data = json.loads(text)
        except ValueError as exc:
            preview = text.strip()[:80] or "(empty)"
            raise InvalidOutput(f"the answer is not JSON ({exc}){cause}: {preview!r}") from None
        if self.model is not None:
            return self._model_instance(data, cause)
        problems = self._problems(data)
        if problems:
            raise InvalidOutput(f"the answer does not match {self.label}{cause}: {'; '.join(problems)}")
        return data

    def _model_instance(self, data: Any, cause: str) -> Any:
        import pydantic

        try:
            return self.model.model_validate(data)  # type: ignore[union-attr]
        except pydantic.ValidationError as exc:
            problems = [f"{_path(error['loc'])}: {error['msg']}" for error in exc.errors()[:ERRORS_NAMED]]
            raise InvalidOutput(f"the answer does not match {self.label}{cause}: {'; '.join(problems)}") from None

    def _problems(self, data: Any) -> list[str]:
        if self._validator is None:
            return structural_problems(data, self.schema)[:ERRORS_NAMED]
        errors = sorted(self._validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
        return [f"{_path(error.absolute_path)}: {error.message}" for error in errors[:ERRORS_NAMED]]

    def __repr__(self) -> str:
        return f"OutputSchema({self.label})"


# Why an answer may be cut short or not an answer at all, named in the error.
_STOP_CAUSES = {
    "max_tokens": " (the answer was cut at max_tokens: give it more)",
    "refusal": " (the model refused to answer)",
    "stop_sequence": " (the answer was cut at a stop sequence)",
}


def output_schema(value: Any, where: str = "output") -> OutputSchema:
    """Check ``output=`` and return its :class:`OutputSchema`; an :class:`OutputSchema` is returned as is.

    :param value: a Pydantic model class (its ``model_json_schema()`` is the
        schema) or a JSON Schema dict (checked with ``jsonschema`` when it is
        installed, else for its basic shape).
    :param where: names the value in errors (``prompts[3]['output']``).
    :raises TypeError: ``value`` is neither (a model instance, a string, a list...).
    :raises ValueError: the schema is not one the API takes.
    """
    if isinstance(value, OutputSchema):
        return value
    if inspect.isclass(value) and _is_pydantic_model(value):
        try:
            schema = value.model_json_schema()
        except Exception as exc:  # pydantic's own errors name the field it cannot describe
            raise ValueError(f"{where}: the model {value.__name__} has no JSON schema: {exc}") from None
        return OutputSchema(schema, value, _wire_schema(schema, where), None)
    if isinstance(value, Mapping):
        schema = json.loads(_schema_json(value, where))  # a plain, independent copy of JSON values
        if not any(keyword in schema for keyword in _SCHEMA_ROOT_KEYWORDS):
            raise ValueError(
                f"{where}: a JSON Schema needs at least one of {', '.join(_SCHEMA_ROOT_KEYWORDS)} at its root"
                f" (got keys {sorted(schema)[:6]})"
            )
        validator = _checked_validator(schema, where)
        return OutputSchema(schema, None, _wire_schema(schema, where), validator)
    if inspect.isclass(value):
        kind = f"the class {value.__name__}, which is not a Pydantic model"
    elif _is_pydantic_model(type(value)):
        kind = f"an instance of {type(value).__name__}: pass the class itself"
    else:
        kind = type(value).__name__
    raise TypeError(f"{where} must be a JSON Schema dict or a Pydantic model class, not {kind}")


def output_schema_of(options: Mapping[str, Any]) -> OutputSchema | None:
    """The :class:`OutputSchema` a task's options carry (``build_tasks`` puts it under ``"output"``), or ``None``."""
    value = options.get("output")
    return value if isinstance(value, OutputSchema) else None


def _is_pydantic_model(cls: type) -> bool:
    """True for a Pydantic model class, without importing pydantic for callers that never use one."""
    if not any(base.__module__.startswith("pydantic") for base in cls.__mro__):
        return False
    import pydantic

    return issubclass(cls, pydantic.BaseModel)


def _schema_json(schema: Mapping[str, Any], where: str) -> str:
    try:
        return json.dumps(schema, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where}: the schema must hold only JSON values ({exc})") from None


def _checked_validator(schema: dict[str, Any], where: str) -> Any:
    """A ``jsonschema`` validator for ``schema`` (an invalid schema raises), or ``None`` without jsonschema."""
    try:
        import jsonschema
    except ImportError:
        return None
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        at = ".".join(map(str, exc.absolute_path)) or "its root"
        raise ValueError(f"{where}: not a valid JSON Schema: at {at}: {exc.message}") from None
    return cls(schema)


def _wire_schema(schema: dict[str, Any], where: str) -> dict[str, Any]:
    """``schema`` as the API takes it (the SDK's ``transform_schema``); its errors name ``where``."""
    from anthropic import transform_schema

    # A root with properties but no type is an object schema; the API wants the type said.
    source = {"type": "object", **schema} if "properties" in schema and not _has_shape(schema) else schema
    try:
        return transform_schema(source)
    except Exception as exc:  # the SDK raises ValueError, or asserts on a type it does not know
        raise ValueError(f"{where}: the API cannot take this schema: {exc or type(exc).__name__}") from None


def _has_shape(schema: Mapping[str, Any]) -> bool:
    return any(keyword in schema for keyword in ("type", "$ref", "anyOf", "oneOf", "allOf", "enum", "const"))


def _path(parts: Any) -> str:
    """``$.items[2].name``: where in the answer a problem is."""
    text = "$"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


_JSON_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def structural_problems(data: Any, schema: Any, root: Any = None, path: tuple = ()) -> list[str]:
    """What in ``data`` breaks ``schema``, checked without ``jsonschema``: types, required, properties,
    ``additionalProperties: false``, items, enum, const, anyOf/oneOf/allOf and local ``$ref``.

    Bounds (minimum, maxLength, pattern...) are not checked here; install
    ``jsonschema`` to have every keyword checked.
    """
    root = schema if root is None else root
    if not isinstance(schema, Mapping):
        return []
    where = _path(path)
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        return structural_problems(data, target, root, path)
    if "const" in schema and data != schema["const"]:
        return [f"{where}: {data!r} is not {schema['const']!r}"]
    if "enum" in schema and data not in schema["enum"]:
        return [f"{where}: {data!r} is not one of {schema['enum']!r}"]
    for variants in (schema.get("anyOf"), schema.get("oneOf")):
        if isinstance(variants, list) and all(structural_problems(data, v, root, path) for v in variants):
            return [f"{where}: {data!r} matches none of the allowed shapes"]
    problems: list[str] = []
    for part in schema.get("allOf") or ():
        problems += structural_problems(data, part, root, path)
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_is_type(data, name) for name in names):
            return [*problems, f"{where}: {data!r} is not of type {' or '.join(map(str, names))}"]
    if isinstance(data, dict):
        properties = schema.get("properties") or {}
        for name in schema.get("required") or ():
            if name not in data:
                problems.append(f"{where}: {name!r} is a required property")
        for name, value in data.items():
            if name in properties:
                problems += structural_problems(value, properties[name], root, (*path, name))
            elif schema.get("additionalProperties") is False:
                problems.append(f"{where}: additional property {name!r} is not allowed")
    elif isinstance(data, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(data):
            problems += structural_problems(item, schema["items"], root, (*path, index))
    return problems


def _is_type(data: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(data, int) and not isinstance(data, bool) or isinstance(data, float) and data.is_integer()
    if name == "number":
        return isinstance(data, (int, float)) and not isinstance(data, bool)
    expected = _JSON_TYPES.get(name)
    return expected is None or isinstance(data, expected)
