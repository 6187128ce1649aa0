"""Batch requests: a ``custom_id`` per task, their wire size, and a digest to recognise them on resume."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from mac_core.run import Task

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  #: the API's rule for a ``custom_id``


def wire_size(request: dict[str, Any]) -> int:
    """Bytes ``request`` adds to a batch's JSON body (with its separating comma)."""
    return len(json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode()) + 1


def digest(params: dict[str, Any]) -> str:
    """A short fingerprint of a request's params: a resumed task reuses a batch only if it asks the same."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class CustomIds:
    """Hands out a unique ``custom_id`` per task of a run.

    A task's own id is used when the API accepts it; otherwise one is derived
    from it (or from the task's position when it has none), so the same input
    gets the same ``custom_id`` on a re-run and resume finds its batch.
    """

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def assign(self, task: Task) -> str:
        """A ``custom_id`` for ``task`` no other task of this run has."""
        if task.id is not None and CUSTOM_ID.match(str(task.id)):
            wanted = str(task.id)
        elif task.id is not None:
            wanted = "id-" + hashlib.sha256(str(task.id).encode()).hexdigest()[:32]
        else:
            wanted = f"task-{task.index}"
        candidate, n = wanted, 1
        while candidate in self._taken:  # duplicate ids in one run still need distinct custom_ids
            n += 1
            suffix = f"-{n}"
            candidate = wanted[: 64 - len(suffix)] + suffix
        self._taken.add(candidate)
        return candidate
