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

    A file that is not a state file (not JSON, say) is moved aside to
    ``NAME.unreadable`` and the run starts afresh: the worst outcome is a
    request sent again, never a run that cannot start, and never the old
    records overwritten.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.requests: dict[str, dict[str, str]] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            aside = self.path.with_name(self.path.name + ".unreadable")
            try:
                os.replace(self.path, aside)
            except OSError:
                aside = None
            log.warning("batch state file %s unreadable (%s); starting afresh%s", self.path, exc,
                        f", the old file kept as {aside}" if aside else "")
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
        """Note that ``batch_id`` holds ``requests`` (custom_id → digest) and save; ``OSError`` if it cannot."""
        for custom_id, digest in requests.items():
            self.requests[custom_id] = {"batch_id": batch_id, "digest": digest}
        self.save()

    def save(self) -> None:
        """Write the file durably (temporary file, fsync, rename, fsync of the folder); ``OSError`` if it cannot.

        Called once before any batch is sent, so a file that cannot be written
        stops the run before anything is paid for.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        data = json.dumps({"version": VERSION, "requests": self.requests}).encode("utf-8")
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)  # a crash mid-write leaves the previous file whole
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself survives a power cut
        finally:
            os.close(folder)
