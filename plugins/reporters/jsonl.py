"""The JSONL event log: one JSON line per hook call, enough to replay a run into any reporter.

Records, in order (``seq`` counts them within a run; ``t`` is ``time.time()``)::

    {"kind": "run_started",   "run", "seq", "t", "transport", "started_at", "tasks": [{"index", "name", "id", "model", "max_tokens"}]}
    {"kind": "task_started",  "run", "seq", "t", "task", "name"}
    {"kind": "task_waiting",  "run", "seq", "t", "task", "name", "seconds", "limit"}
    {"kind": "event",         "run", "seq", "t", "task", "name", "type", "text"?, "data"?}
    {"kind": "task_finished", "run", "seq", "t", "task", "name", "result": {...TaskResult fields}}
    {"kind": "run_finished",  "run", "seq", "t", "interrupt_reason", "usage"}

Prompts and system prompts are not logged, and neither are credentials:
mapping keys that name a secret (``api_key``, ``token``, ``authorization``…)
have their values replaced by ``"[redacted]"``, and so does anything shaped
like an Anthropic API key.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import fields
from typing import IO, Any

import pluggy

from mac_core import Event, Run, Task, TaskResult, Usage, hookimpl, hookspecs
from mac_core.events import USAGE

log = logging.getLogger("mac_plugins.reporters")

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"(^|[-_ ])(api[-_]?key|(secret|private)[-_]?key|token|secret|password|passwd|authorization|cookie|credentials?)$",
    re.IGNORECASE,
)
_API_KEY = re.compile(r"sk-ant-[A-Za-z0-9_\-]{6,}")
_RESULT_FIELDS = tuple(f.name for f in fields(TaskResult))


def _clean_text(text: str) -> str:
    return _API_KEY.sub(REDACTED, text) if "sk-ant-" in text else text


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-ready data, with secrets redacted."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return _clean_text(value)
    if depth > 20:
        return "…"
    if isinstance(value, dict):
        return {
            str(key): REDACTED if _SECRET_KEY.search(str(key)) else jsonable(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [jsonable(item, depth + 1) for item in value]
    for method in ("as_dict", "model_dump"):  # Usage; pydantic messages
        if callable(getattr(value, method, None)):
            return jsonable(getattr(value, method)(), depth + 1)
    return _clean_text(str(value))  # Secret's str is masked


class JsonlEventLog:
    """Writes every hook call of a run as one JSON line (see the module doc for the format).

    Lines are buffered and written at the end of each task and of the run
    (and every ``buffer_lines`` lines in between), so a busy stream costs no
    file write per event.

    :param target: a file path (appended to; each run's lines carry its id) or an open text stream.
    :param buffer_lines: lines held before an early write.
    """

    def __init__(self, target: str | os.PathLike[str] | IO[str], *, buffer_lines: int = 1000) -> None:
        self.target = target
        self.buffer_lines = buffer_lines
        self._out: IO[str] | None = None
        self._owned = False
        self._lines: list[str] = []
        self._run_id = ""
        self._seq = 0

    def _record(self, kind: str, **fields: Any) -> None:
        if self._out is None:
            return
        self._seq += 1
        record = {"kind": kind, "run": self._run_id, "seq": self._seq, "t": round(time.time(), 6), **fields}
        self._lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        if len(self._lines) >= self.buffer_lines:
            self._flush()

    def _flush(self) -> None:
        if self._out is None or not self._lines:
            return
        try:
            self._out.write("".join(self._lines))
            self._out.flush()
        except OSError:
            log.exception("the event log %s cannot be written; no more events are logged", self.target)
            self._out = None
        self._lines.clear()

    @hookimpl
    def mac_run_started(self, run):
        self._run_id, self._seq, self._lines = run.id, 0, []
        if hasattr(self.target, "write"):
            self._out, self._owned = self.target, False
        else:
            try:
                self._out, self._owned = open(self.target, "a", encoding="utf-8"), True  # noqa: SIM115
            except OSError:
                log.exception("the event log %s cannot be opened; this run is not logged", self.target)
                self._out = None
                return
        tasks = [{"index": t.index, "name": t.name, "id": t.id, "model": t.model, "max_tokens": t.max_tokens}
                 for t in run.tasks]
        self._record("run_started", transport=run.transport, started_at=run.started_at, tasks=tasks)

    @hookimpl
    def mac_task_started(self, task):
        self._record("task_started", task=task.index, name=task.name)

    @hookimpl
    def mac_task_waiting(self, task, seconds, limit):
        self._record("task_waiting", task=task.index, name=task.name, seconds=round(seconds, 3), limit=limit)

    @hookimpl
    def mac_task_event(self, task, event):
        record: dict[str, Any] = {"task": task.index, "name": task.name, "type": event.type}
        if event.text:
            record["text"] = _clean_text(event.text)
        if event.data is not None:
            record["data"] = jsonable(event.data)
        self._record("event", **record)

    @hookimpl
    def mac_task_finished(self, task, result):
        data = {name: getattr(result, name) for name in _RESULT_FIELDS}
        self._record("task_finished", task=task.index, name=task.name, result=jsonable(data))
        self._flush()

    @hookimpl
    def mac_run_finished(self, run):
        self._record("run_finished", interrupt_reason=run.interrupt_reason, usage=run.usage.as_dict())
        self._flush()
        if self._owned and self._out is not None:
            self._out.close()
        self._out = None

    def __repr__(self) -> str:
        return f"JsonlEventLog({os.fspath(self.target) if not hasattr(self.target, 'write') else '<stream>'!r})"


# --- replay -------------------------------------------------------------------


def read_runs(source: str | os.PathLike[str] | Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The records of an event log grouped by run id, in file order."""
    lines: Iterable[str] = open(source, encoding="utf-8") if isinstance(source, (str, os.PathLike)) else source  # noqa: SIM115
    runs: dict[str, list[dict[str, Any]]] = {}
    try:
        for line in lines:
            if line.strip():
                record = json.loads(line)
                runs.setdefault(record["run"], []).append(record)
    finally:
        if hasattr(lines, "close"):
            lines.close()
    return runs


def _rebuild(records: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The hook calls a run's records stand for, with live-like Run and Task objects."""
    head = records[0]
    if head["kind"] != "run_started":
        raise ValueError(f"run {head['run']}: the log does not start with run_started")
    tasks = [Task(t["index"], "", model=t["model"], max_tokens=t["max_tokens"], name=t["name"], id=t["id"])
             for t in head["tasks"]]
    run = Run(tasks, head["transport"])
    run.id, run.started_at = head["run"], head["started_at"]
    results: list[TaskResult | None] = [None] * len(tasks)
    yield "mac_run_started", {"run": run}
    for record in records[1:]:
        kind = record["kind"]
        if kind == "task_started":
            task = tasks[record["task"]]
            task.status = "running"
            yield "mac_task_started", {"task": task}
        elif kind == "task_waiting":
            yield "mac_task_waiting", {"task": tasks[record["task"]], "seconds": record["seconds"],
                                       "limit": record["limit"]}
        elif kind == "event":
            task = tasks[record["task"]]
            data = record.get("data")
            if record["type"] == USAGE:
                data = Usage(**data)
                run.usage = run.usage + (data - task.usage)
                task.usage = data
            event = Event(record["type"], record.get("text", ""), data)
            if event.type == "text":
                task.add_text(event.text)
            yield "mac_task_event", {"task": task, "event": event}
        elif kind == "task_finished":
            task = tasks[record["task"]]
            fields_ = dict(record["result"])
            fields_["usage"] = Usage(**fields_["usage"])
            result = results[task.index] = TaskResult(**fields_)
            task.status = result.status
            task.interrupt_reason = result.interrupt_reason
            yield "mac_task_finished", {"task": task, "result": result}
        elif kind == "run_finished":
            run.interrupt_reason = record["interrupt_reason"]
            run.usage = Usage(**record["usage"])
            yield "mac_run_finished", {"run": run, "results": results}


def replay(source: str | os.PathLike[str] | Iterable[str], *plugins: object, run_id: str | None = None) -> None:
    """Feed a logged run to reporter plugins, as if it were happening now (without its timing).

    :param source: an event log path, or its lines.
    :param plugins: reporters (objects or modules with the progress hooks).
    :param run_id: which run of the log (default: the first).

    Only the progress hooks are called; policies are not consulted.
    """
    runs = read_runs(source)
    if not runs:
        raise ValueError("the event log holds no run")
    if run_id is not None and run_id not in runs:
        raise ValueError(f"the event log has no run {run_id!r} (it has {', '.join(runs)})")
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for plugin in plugins:
        pm.register(plugin)
    for hook, kwargs in _rebuild(runs[run_id or next(iter(runs))]):
        getattr(pm.hook, hook)(**kwargs)
