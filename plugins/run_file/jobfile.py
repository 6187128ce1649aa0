"""Reading a JSONL file of prompts and the results file of an earlier attempt."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mac_core.prompts import build_tasks

#: Fields an input line may carry.
LINE_FIELDS = ("id", "prompt", "system", "model", "max_tokens", "temperature")

#: The input path that means "read the prompts from stdin".
STDIN = "-"

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


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
    ``path`` ``-`` reads stdin.
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
            reason = f"duplicate id {job_id!r}" if "id" in spec else (
                f"a line without an id takes its line number as id, and {job_id!r} is already another line's id; "
                "give this line an id")
            bad.append(BadLine(number, reason))
            continue
        spec["id"] = job_id
        try:  # the same checks as the library, so the messages match
            build_tasks([spec], model=model, max_tokens=max_tokens)
        except (TypeError, ValueError) as exc:
            bad.append(BadLine(number, str(exc).replace("prompts[0]", "this line")))
            continue
        unsendable = _unsendable(spec)
        if unsendable:
            bad.append(BadLine(number, unsendable))
            continue
        seen.add(job_id)
        prompts.append(spec)
    return JobFile(prompts, bad)


def _unsendable(spec: dict[str, Any]) -> str | None:
    """Why a line cannot be sent that the library's checks leave to the request: a model name with a lone surrogate.

    (Prompt and system text with one are refused by :func:`~mac_core.prompts.build_tasks`; the id is never sent.)
    """
    model = spec.get("model")
    found = _LONE_SURROGATE.search(model) if isinstance(model, str) else None
    if found:
        return (f"model has a lone surrogate {found.group()!r} at character {found.start()}; "
                "it has no UTF-8 form and cannot be sent")
    return None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    if str(path) == STDIN:
        lines = (raw.decode("utf-8", errors="replace") for raw in sys.stdin.buffer)
        yield from ((number, line) for number, line in enumerate(lines, start=1) if line.strip())
        return
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                yield number, line


def request_fingerprint(spec: dict[str, Any], *, model: str, max_tokens: int, system: str | None) -> str:
    """A short hash of what a line asks for: prompt, system (the line's and ``--system``), model, max_tokens, temperature.

    Stored with each result so a resume can tell that a line changed since
    its answer was written (a new prompt under the same id, or a shifted line
    number for a line without an id).
    """
    request = {
        "prompt": spec["prompt"],
        "system": [system, spec.get("system")],
        "model": spec.get("model") or model,
        "max_tokens": spec.get("max_tokens", max_tokens),
        "temperature": spec.get("temperature"),
    }
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))  # ASCII: lone surrogates hash too
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:16]  # 64 bits: enough to tell edits apart


def completed_results(output: Path) -> dict[str, str | None]:
    """Ids completed in an earlier run's output, each with its request fingerprint (``None`` if it has none).

    The last completed line for an id wins (a rerun appends, it never
    rewrites); a torn line left by a crash is ignored, so that task runs again.
    """
    done: dict[str, str | None] = {}
    if not output.exists():
        return done
    with output.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash; that task runs again
            if isinstance(record, dict) and record.get("status") == "completed" and "id" in record:
                fingerprint = record.get("request_hash")
                done[str(record["id"])] = fingerprint if isinstance(fingerprint, str) else None
    return done
