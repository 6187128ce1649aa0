"""Structured answers: ``output=`` (a Pydantic model or a JSON Schema) sends the schema and returns ``parsed``."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from typing import Literal

import httpx
import jsonschema
import pytest
from anthropic import transform_schema
from pydantic import BaseModel, Field
from sse import API, SSE_HEADERS, message_json, sse_body

from mac_core import Coordinator, InterruptToken, hookimpl
from mac_core.results import CLIENT_ERROR_TYPES, TaskResult
from mac_core.structured import output_schema

EXAMPLE = Path(__file__).parents[2] / "examples" / "structured_answers.py"
TRANSPORTS = ("stream", "messages")


class Review(BaseModel):
    verdict: Literal["approve", "request_changes"]
    score: int = Field(ge=1, le=10)
    findings: list[str]


COUNT = {
    "type": "object",
    "properties": {"lines": {"type": "integer", "minimum": 1}, "why": {"type": "string"}},
    "required": ["lines", "why"],
}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_pydantic_model_answer_comes_back_as_an_instance_of_the_model(mac_sim, transport):
    (result,) = Coordinator().run([{"prompt": "Review this diff", "output": Review}], transport=transport)
    assert result.status == "completed", result.error
    assert isinstance(result.parsed, Review)
    assert 1 <= result.parsed.score <= 10  # the bound the SDK moved into the description is honoured
    assert json.loads(result.text) == result.parsed.model_dump()
    assert result.as_dict()["parsed"] == result.parsed.model_dump(mode="json")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_json_schema_answer_comes_back_as_a_dict_that_conforms(mac_sim, transport):
    (result,) = Coordinator().run([{"prompt": "How long may a function be?", "output": COUNT}], transport=transport)
    assert result.status == "completed", result.error
    assert isinstance(result.parsed, dict)
    jsonschema.validate(result.parsed, COUNT)
    assert result.parsed == json.loads(result.text)


def test_a_run_wide_output_applies_to_every_prompt_and_a_prompts_own_wins(mac_sim):
    results = Coordinator().run(
        ["first", "second", {"prompt": "third", "output": COUNT}, {"prompt": "fourth", "output": None}],
        output=Review,
    )
    assert [r.status for r in results] == ["completed"] * 4
    assert [type(r.parsed) for r in results] == [Review, Review, dict, type(None)]
    assert not results[3].text.startswith("{")  # output=None: a plain answer, not parsed


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_answer_that_does_not_conform_fails_with_invalid_output_and_keeps_its_text(mac_sim, transport):
    scripted = 'Review it [[reply: {"wrong": 1}]]'
    model_result, schema_result = Coordinator().run(
        [{"prompt": scripted, "output": Review}, {"prompt": scripted, "output": COUNT}], transport=transport
    )
    for result in (model_result, schema_result):
        assert result.status == "failed" and result.error_type == "invalid_output"
        assert result.text == '{"wrong": 1}' and result.parsed is None
        assert result.stop_reason == "end_turn" and result.usage.output_tokens > 0
    assert "Review" in model_result.error and "verdict" in model_result.error
    assert "'lines' is a required property" in schema_result.error
    assert "invalid_output" in CLIENT_ERROR_TYPES


def test_an_answer_cut_at_max_tokens_is_not_json_and_the_error_says_why(mac_sim):
    (result,) = Coordinator().run([{"prompt": "Review", "output": Review}], max_tokens=2)
    assert result.status == "failed" and result.error_type == "invalid_output"
    assert "not JSON" in result.error and "max_tokens" in result.error
    assert result.stop_reason == "max_tokens" and result.text


@pytest.mark.parametrize(
    ("output", "error", "names"),
    [
        ("a schema", TypeError, "not str"),
        (["type", "object"], TypeError, "not list"),
        (Review(verdict="approve", score=1, findings=[]), TypeError, "pass the class itself"),
        (dict, TypeError, "not a Pydantic model"),
        ({"title": "no shape"}, ValueError, "needs at least one of type"),
        ({"type": "objekt"}, ValueError, "not a valid JSON Schema"),
        ({"type": "object", "properties": {"a": {"type": 5}}}, ValueError, "at properties.a.type"),
        ({"type": "object", "properties": {"a": {"type": "string", "default": object()}}}, TypeError, "JSON values"),
    ],
)
def test_a_bad_output_is_refused_before_any_request_is_sent(mac_sim, output, error, names):
    with pytest.raises(error, match="output") as raised:
        Coordinator().run(["fine", {"prompt": "x", "output": output}])
    assert names in str(raised.value) and "prompts[1]['output']" in str(raised.value)
    with pytest.raises(error, match=r"^output"):
        Coordinator().run(["fine"], output=output)
    assert mac_sim.stats.requests == 0


def test_output_and_an_output_config_format_together_are_refused(mac_sim):
    with pytest.raises(ValueError, match="not both"):
        Coordinator().run([{"prompt": "x", "output": Review, "output_config": {"format": {"type": "json_schema"}}}])
    assert mac_sim.stats.requests == 0


def test_output_on_a_transport_that_does_not_call_the_messages_api_is_refused_before_sending(mac_sim):
    for prompts, options in (([{"prompt": "x", "output": Review}], {}), (["x"], {"output": Review})):
        with pytest.raises(ValueError, match="need a transport that calls the Messages API"):
            Coordinator().run(prompts, transport="agent-ws", transport_options={"url": mac_sim.ws_url}, **options)
    assert mac_sim.stats.requests == 0


@pytest.mark.mac_sim(token_delay=0.05)
def test_an_interrupt_mid_answer_ends_the_task_interrupted_with_nothing_parsed(mac_sim):
    token = InterruptToken()
    chunks: list[str] = []

    def on_text(chunk: str) -> None:
        chunks.append(chunk)
        if len(chunks) == 2:
            token.interrupt("seen enough")

    (result,) = Coordinator().run([{"prompt": "Review", "output": Review}], interrupt_token=token, callbacks=[on_text])
    assert result.status == "interrupted" and result.interrupt_reason == "seen enough"
    assert result.parsed is None and result.error_type is None
    assert result.text.startswith("{") and result.text == "".join(chunks)


class StopAfterTwoWords:
    """A policy: stops the run on a task's second text event."""

    @hookimpl
    def mac_should_interrupt(self, task, event, run):
        return "policy stop" if event.type == "text" and task.text.count(" ") >= 1 else None


class KeepResults:
    """A reporter: keeps what every finished task handed back."""

    def __init__(self) -> None:
        self.results: list[TaskResult] = []

    @hookimpl
    def mac_task_finished(self, task, result):
        self.results.append(result)


@pytest.mark.mac_sim(token_delay=0.02)
def test_policies_and_reporters_see_structured_runs_like_any_other(mac_sim):
    reporter = KeepResults()
    stopped, = Coordinator().run([{"prompt": "Review", "output": Review}], plugins=[StopAfterTwoWords(), reporter])
    assert stopped.status == "interrupted" and stopped.interrupt_reason == "policy stop" and stopped.parsed is None
    finished, = Coordinator().run([{"prompt": "Review", "output": Review}], plugins=[reporter])
    assert [r.status for r in reporter.results] == ["interrupted", "completed"]
    assert reporter.results[1].parsed == finished.parsed and isinstance(finished.parsed, Review)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_request_carries_the_schema_as_output_config_in_the_form_the_api_takes(httpx2_mock, api_key, transport):
    answer = '{"verdict": "approve", "score": 7, "findings": []}'
    if transport == "stream":
        response = httpx.Response(200, content=sse_body([answer]), headers=SSE_HEADERS)
    else:
        response = httpx.Response(200, json=message_json(answer))
    route = httpx2_mock.post(API).mock(return_value=response)
    (result,) = Coordinator().run([{"prompt": "Review", "output": Review}], transport=transport)
    body = json.loads(route.calls.last.request.content)
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": transform_schema(Review)}}
    assert "minimum: 1" in body["output_config"]["format"]["schema"]["properties"]["score"]["description"]
    assert "output" not in body
    assert result.parsed == Review(verdict="approve", score=7, findings=[])


def test_a_schema_keeps_other_output_config_settings(httpx2_mock, api_key):
    route = httpx2_mock.post(API).mock(return_value=httpx.Response(200, json=message_json('{"lines": 3, "why": "x"}')))
    (result,) = Coordinator().run(["x"], transport="messages", output=COUNT, output_config={"effort": "low"})
    body = json.loads(route.calls.last.request.content)
    assert body["output_config"]["effort"] == "low"
    assert body["output_config"]["format"]["schema"]["required"] == ["lines", "why"]
    assert result.parsed == {"lines": 3, "why": "x"}


def test_without_jsonschema_a_dict_schema_is_still_checked_for_types_required_and_extras(monkeypatch):
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # import jsonschema now raises ImportError
    schema = output_schema(
        {**COUNT, "additionalProperties": False, "properties": {**COUNT["properties"], "tags": {"type": "array", "items": {"enum": ["a"]}}}}
    )
    assert schema.parse('{"lines": 3, "why": "ok", "tags": ["a"]}') == {"lines": 3, "why": "ok", "tags": ["a"]}
    with pytest.raises(ValueError) as raised:
        schema.parse('{"lines": "3", "tags": ["b"], "extra": 1}')
    message = str(raised.value)
    assert "$.lines: '3' is not of type integer" in message and "'why' is a required property" in message
    assert "$.tags[0]" in message or "'extra'" in message


def test_the_example_runs_offline_against_the_simulator(capsys, no_api_key):
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("task-0: Review(") and lines[2].startswith("task-2: {'lines': ")
    assert lines[3].startswith("task-3: failed (invalid_output)")
