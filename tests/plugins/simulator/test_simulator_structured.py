"""The simulator honours structured outputs: JSON in the requested schema's shape, or the scripted JSON."""

from __future__ import annotations

import json
from typing import Literal

import anthropic
import jsonschema
import pytest
from anthropic import transform_schema
from mac_plugins.simulator.structured import conforming_value
from pydantic import BaseModel, Field

SCHEMAS = {
    "flat": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "count": {"type": "integer"}, "ok": {"type": "boolean"}},
        "required": ["name", "count", "ok"],
        "additionalProperties": False,
    },
    "bounds and formats": {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": -5, "maximum": -1},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "step": {"type": "number", "multipleOf": 0.5, "minimum": 2},
            "id": {"type": "string", "format": "uuid"},
            "at": {"type": "string", "format": "date-time"},
            "mail": {"type": "string", "format": "email"},
            "short": {"type": "string", "maxLength": 3},
            "long": {"type": "string", "minLength": 40},
        },
        "required": ["n", "ratio", "step", "id", "at", "mail", "short", "long"],
    },
    "nesting, enums, nullables and refs": {
        "type": "object",
        "properties": {
            "kind": {"enum": ["a", "b", 3]},
            "fixed": {"const": "always"},
            "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "either": {"type": ["null", "integer"]},
            "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 2, "maxItems": 4},
            "both": {"allOf": [{"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
                               {"properties": {"y": {"type": "string"}}, "required": ["y"]}]},
        },
        "required": ["kind", "fixed", "maybe", "either", "items", "both"],
        "$defs": {"Item": {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
                           "required": ["tags"]}},
    },
    "a recursive tree": {
        "$ref": "#/$defs/Node",
        "$defs": {"Node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
                           "required": ["children"]}},
    },
    "an array at the root": {"type": "array", "items": {"type": "integer", "minimum": 10}, "minItems": 1},
}


@pytest.mark.parametrize("schema", SCHEMAS.values(), ids=list(SCHEMAS))
def test_a_generated_value_conforms_to_its_schema_and_is_the_same_for_the_same_prompt(schema):
    for prompt in ("one", "two", "three"):
        value = conforming_value(schema, prompt)
        jsonschema.validate(value, schema)
        assert conforming_value(schema, prompt) == value


class Line(BaseModel):
    sku: str = Field(max_length=6)
    quantity: int = Field(ge=3, le=7)
    price: float = Field(gt=0, lt=1)


class Order(BaseModel):
    status: Literal["open", "closed"]
    lines: list[Line] = Field(min_length=2)
    note: str | None = None


def test_bounds_the_sdk_moved_into_descriptions_are_honoured_like_a_model_reads_them():
    wire = transform_schema(Order)
    quantity = wire["$defs"]["Line"]["properties"]["quantity"]
    assert "minimum" not in quantity and "minimum: 3" in quantity["description"]
    for prompt in ("a", "b", "c", "d"):
        Order.model_validate(conforming_value(wire, prompt))


def ask(text: str, schema: dict, **extra) -> dict:
    return {
        "model": "claude-test",
        "max_tokens": 500,
        "messages": [{"role": "user", "content": text}],
        "output_config": {"format": {"type": "json_schema", "schema": schema}},
        **extra,
    }


@pytest.mark.parametrize("stream", [False, True])
def test_a_structured_request_is_answered_with_conforming_json_streamed_or_not(client, stream):
    schema = SCHEMAS["flat"]
    if stream:
        with client.messages.stream(**ask("Count things", schema)) as answer:
            deltas = [event.delta.text for event in answer if event.type == "content_block_delta"]
            text = answer.get_final_message().content[0].text
        assert len(deltas) > 1 and "".join(deltas) == text
    else:
        text = client.messages.create(**ask("Count things", schema)).content[0].text
    jsonschema.validate(json.loads(text), schema)
    assert client.messages.create(**ask("Count things", schema)).content[0].text == text


def test_a_scripted_json_reply_is_sent_as_is_even_when_it_does_not_conform(client):
    message = client.messages.create(**ask('Go [[reply: {"wrong": 1}]]', SCHEMAS["flat"]))
    assert message.content[0].text == '{"wrong": 1}' and message.stop_reason == "end_turn"


def test_a_scripted_reply_that_is_not_json_gives_way_to_a_conforming_answer(client):
    text = client.messages.create(**ask("Go [[reply: plain words]]", SCHEMAS["flat"])).content[0].text
    jsonschema.validate(json.loads(text), SCHEMAS["flat"])


def test_a_tool_script_calls_its_tool_first_and_closes_with_the_json(client):
    tool = {"name": "Write", "description": "Write a file", "input_schema": {"type": "object"}}
    request = ask('[[tool: Write {"path": "a"}]]', SCHEMAS["flat"], tools=[tool])
    first = client.messages.create(**request)
    assert first.stop_reason == "tool_use"
    call = first.content[0]
    request["messages"] += [
        {"role": "assistant", "content": [call.model_dump()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "ok"}]},
    ]
    closing = client.messages.create(**request).content[0].text
    jsonschema.validate(json.loads(closing), SCHEMAS["flat"])


@pytest.mark.parametrize(
    ("output_config", "names"),
    [
        ("json please", "output_config"),
        ({"format": {"type": "json_object"}}, "json_schema"),
        ({"format": {"type": "json_schema"}}, "schema"),
    ],
)
def test_a_malformed_output_config_is_a_400(client, output_config, names):
    request = ask("x", {})
    request["output_config"] = output_config
    with pytest.raises(anthropic.BadRequestError, match=names):
        client.messages.create(**request)
