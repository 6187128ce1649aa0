"""The resume file: which batch holds each ``custom_id``, so a re-run polls it instead of paying twice."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger("mac_plugins.batch")

VERSION = 1


class BatchStateFile:
    """``{"version": 1, "requests": {custom_id: {"batch_id": ..., "digest": ...}}}``, rewritten atomically.

    A file that cannot be read is logged and treated as empty: the worst
    outcome is a request sent again, never a run that cannot start.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.requests: dict[str, dict[str, str]] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("batch state file %s unreadable (%s); starting afresh", self.path, exc)
            return
        if isinstance(data, dict) and data.get("version") == VERSION and isinstance(data.get("requests"), dict):
            self.requests = {k: v for k, v in data["requests"].items() if isinstance(v, dict) and "batch_id" in v}

    def batch_of(self, custom_id: str, digest: str) -> str | None:
        """The batch that already holds this very request, if any."""
        entry = self.requests.get(custom_id)
        if entry is not None and entry.get("digest") == digest:
            return entry["batch_id"]
        return None

    def record(self, batch_id: str, requests: dict[str, str]) -> None:
        """Note that ``batch_id`` holds ``requests`` (custom_id → digest) and save."""
        for custom_id, digest in requests.items():
            self.requests[custom_id] = {"batch_id": batch_id, "digest": digest}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps({"version": VERSION, "requests": self.requests}), encoding="utf-8")
        os.replace(temporary, self.path)  # a crash mid-write leaves the previous file whole
