"""Writing one result line per finished task, appended and flushed as each finishes."""

from __future__ import annotations

import json
from typing import IO

from mac_core import hookimpl

#: Statuses written to the output; interrupted and cancelled tasks are left to the next attempt.
WRITTEN = frozenset({"completed", "failed"})


class ResultWriter:
    """A plugin that appends ``{"id", "status", "text", "usage", "error"}`` per finished task."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.written = 0

    @hookimpl
    def mac_task_finished(self, task, result):
        if result.status not in WRITTEN:
            return
        record = {
            "id": result.id,
            "status": result.status,
            "text": result.text,
            "usage": result.usage.as_dict(),
            "error": result.error,
        }
        self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.stream.flush()  # a crash or Ctrl-C right after must not lose this line
        self.written += 1
