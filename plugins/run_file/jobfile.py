"""Reading a JSONL file of prompts and the results file of an earlier attempt."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mac_core.prompts import build_tasks

#: Fields an input line may carry.
LINE_FIELDS = ("id", "prompt", "system", "model", "max_tokens", "temperature")


@dataclass(frozen=True)
class BadLine:
    """An input line that was skipped, and why."""

    number: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.number}: {self.reason}"


@dataclass
class JobFile:
    """The valid prompts of an input file (with their ids) and the lines that were not."""

    prompts: list[dict[str, Any]]
    bad_lines: list[BadLine]


def read_jobs(path: Path, *, model: str, max_tokens: int) -> JobFile:
    """Parse ``path``: one JSON object per line with ``prompt`` and optionally the other :data:`LINE_FIELDS`.

    A line that is not JSON, not an object, has no usable prompt, has a bad
    field, or repeats an id is reported and skipped; it never stops the job.
    A line without ``id`` gets its line number as id. Blank lines are ignored.
    """
    prompts: list[dict[str, Any]] = []
    bad: list[BadLine] = []
    seen: set[str] = set()
    for number, line in _lines(path):
        try:
            spec = json.loads(line)
        except ValueError as exc:
            bad.append(BadLine(number, f"not JSON ({exc.msg})"))
            continue
        if not isinstance(spec, dict):
            bad.append(BadLine(number, f"expected a JSON object, got {type(spec).__name__}"))
            continue
        unknown = sorted(set(spec) - set(LINE_FIELDS))
        if unknown:
            bad.append(BadLine(number, f"unknown field {unknown[0]!r} (known: {', '.join(LINE_FIELDS)})"))
            continue
        raw_id = spec.get("id", str(number))
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            bad.append(BadLine(number, "id must be a string or an integer"))
            continue
        job_id = str(raw_id)
        if job_id in seen:
            bad.append(BadLine(number, f"duplicate id {job_id!r}"))
            continue
        spec["id"] = job_id
        try:  # the same checks as the library, so the messages match
            build_tasks([spec], model=model, max_tokens=max_tokens)
        except (TypeError, ValueError) as exc:
            bad.append(BadLine(number, str(exc).replace("prompts[0]", "this line")))
            continue
        seen.add(job_id)
        prompts.append(spec)
    return JobFile(prompts, bad)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line


def completed_ids(output: Path) -> set[str]:
    """Ids already completed in an earlier run's output (a torn last line is ignored)."""
    done: set[str] = set()
    if not output.exists():
        return done
    with output.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash; that task runs again
            if isinstance(record, dict) and record.get("status") == "completed" and "id" in record:
                done.add(str(record["id"]))
    return done
