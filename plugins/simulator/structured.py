"""Structured answers: the text of a request that asks for ``output_config.format`` (a JSON schema).

The answer is the scripted ``[[reply: ...]]`` when that is JSON, conforming
or not (so a test can script a bad answer), else a value generated from the
schema, the same for the same prompt and seed: every property of an object,
each value of the type its schema says (an ``enum`` member, a ``const``, the
first non-null ``anyOf`` variant, a string in its ``format``), within the
bounds the schema gives, or that the SDK's ``transform_schema`` moved into
its ``description`` (``{minimum: 1, maximum: 10}``), as a model reads them.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from typing import Any

from .script import generated_words
from .wire import ApiError

#: Depth past which an object holds only its required properties and an array its fewest items (recursive schemas).
MAX_DEPTH = 6

_FORMATS = {
    "date-time": "2025-01-01T12:00:00Z",
    "date": "2025-01-01",
    "time": "12:00:00",
    "duration": "PT1H",
    "email": "simulated@example.com",
    "hostname": "simulated.example.com",
    "uri": "https://example.com/simulated",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}
_BOUND_KEYWORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
                   "minLength", "maxLength", "minItems", "maxItems")
# "{minimum: 1, maximum: 10}", as transform_schema appends what the API does not enforce to a description.
_DESCRIBED_BOUND = re.compile(r"\b(" + "|".join(_BOUND_KEYWORDS) + r"): (-?\d+(?:\.\d+)?)")


def requested_schema(request: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema of the request's ``output_config.format``, or ``None``; a malformed one is a 400."""
    config = request.get("output_config")
    if config is None:
        return None
    if not isinstance(config, dict):
        raise ApiError(400, "output_config: Input should be an object")
    answer_format = config.get("format")
    if answer_format is None:
        return None
    if not isinstance(answer_format, dict) or answer_format.get("type") != "json_schema":
        raise ApiError(400, "output_config.format.type: Input should be 'json_schema'")
    schema = answer_format.get("schema")
    if not isinstance(schema, dict):
        raise ApiError(400, "output_config.format.schema: Field required (a JSON schema object)")
    return schema


def structured_text(schema: dict[str, Any], reply: str | None, prompt: str, seed: int) -> str:
    """The answer's text: ``reply`` if it is JSON, else JSON generated from ``schema`` for ``prompt``."""
    if reply is not None:
        try:
            json.loads(reply)
        except ValueError:
            pass
        else:
            return reply
    return json.dumps(conforming_value(schema, prompt, seed), ensure_ascii=False)


def conforming_value(schema: dict[str, Any], prompt: str, seed: int = 0) -> Any:
    """A value that conforms to ``schema``, the same for the same prompt and seed."""
    digest = hashlib.sha256(f"{seed}:schema:{prompt}".encode()).digest()
    return _ValueMaker(schema, random.Random(int.from_bytes(digest[:8], "big")), prompt, seed).value(schema, 0)


class _ValueMaker:
    def __init__(self, root: dict[str, Any], rng: random.Random, prompt: str, seed: int) -> None:
        self.root = root
        self.rng = rng
        self.prompt = prompt
        self.seed = seed

    def value(self, schema: Any, depth: int) -> Any:
        if not isinstance(schema, dict):
            return None
        if isinstance(schema.get("$ref"), str):
            return self.value(self._resolve(schema["$ref"]), depth + 1)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.rng.choice(schema["enum"])
        variants = schema.get("anyOf") or schema.get("oneOf")
        if isinstance(variants, list) and variants:
            non_null = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
            return self.value((non_null or variants)[0], depth + 1)
        if isinstance(schema.get("allOf"), list):
            return self.value(_merged(schema), depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        bounds = _bounds(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, bounds, depth)
        if kind == "integer":
            return self._integer(bounds)
        if kind == "number":
            return self._number(bounds)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self._string(schema, bounds)

    def _resolve(self, ref: str) -> Any:
        target: Any = self.root
        for part in ref.removeprefix("#/").split("/") if ref.startswith("#/") else ():
            target = target.get(part) if isinstance(target, dict) else None
        return target if ref.startswith("#") else {}

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        names = [n for n in properties if depth < MAX_DEPTH or n in required]
        return {name: self.value(properties[name], depth + 1) for name in names}

    def _array(self, schema: dict[str, Any], bounds: dict[str, float], depth: int) -> list[Any]:
        low = int(bounds.get("minItems", 0))
        high = int(bounds.get("maxItems", max(low, 3)))
        count = low if depth >= MAX_DEPTH else max(low, min(high, self.rng.randint(1, 3)))
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [self.value(items, depth + 1) for _ in range(count)]

    def _integer(self, bounds: dict[str, float]) -> int:
        low, high = _range(bounds, step=1)
        value = self.rng.randint(int(-(-low // 1)), int(high // 1)) if low <= high else int(low)
        step = bounds.get("multipleOf")
        if step and float(step).is_integer() and step > 0:
            value = int(-(-value // int(step)) * int(step))  # the next multiple up
        return value

    def _number(self, bounds: dict[str, float]) -> float:
        low, high = _range(bounds, step=0.01)
        step = bounds.get("multipleOf")
        if step and step > 0:
            return float(-(-low // step) * step)
        return round(low + (high - low) * self.rng.random(), 2) if low < high else float(low)

    def _string(self, schema: dict[str, Any], bounds: dict[str, float]) -> str:
        shape = schema.get("format")
        if shape == "uuid":
            text = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        elif shape in _FORMATS:
            text = _FORMATS[shape]
        else:
            count = self.rng.randint(1, 4)
            text = "".join(generated_words(f"{self.prompt}:{self.rng.random()}", count, self.seed)).rstrip(".")
        low, high = int(bounds.get("minLength", 0)), bounds.get("maxLength")
        if len(text) < low:
            text = (text + " " + "x" * low)[:low] if text else "x" * low
        if high is not None:
            text = text[: int(high)]
        return text


def _bounds(schema: dict[str, Any]) -> dict[str, float]:
    """The schema's numeric bounds: its own keywords, else those its description spells out."""
    found = {key: float(value) for key, value in _DESCRIBED_BOUND.findall(str(schema.get("description") or ""))}
    for key in _BOUND_KEYWORDS:
        value = schema.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found[key] = float(value)
    return found


def _range(bounds: dict[str, float], *, step: float) -> tuple[float, float]:
    """The closed interval the bounds leave (``step`` inside an exclusive bound); 0 to 100 by default."""
    low = bounds.get("minimum", bounds["exclusiveMinimum"] + step if "exclusiveMinimum" in bounds else None)
    high = bounds.get("maximum", bounds["exclusiveMaximum"] - step if "exclusiveMaximum" in bounds else None)
    if low is None:
        low = 0.0 if high is None or high >= 0 else high - 100
    if high is None:
        high = low + 100
    return low, high


def _merged(schema: dict[str, Any]) -> dict[str, Any]:
    """An ``allOf`` schema as one: the parts' keywords together, their properties and required lists joined."""
    merged: dict[str, Any] = {key: value for key, value in schema.items() if key != "allOf"}
    for part in schema["allOf"]:
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged
