"""Writing one result line per finished task, as each finishes; a line that cannot be written stops the run."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from typing import IO, Any

from mac_core import hookimpl

#: Statuses written to the output; interrupted and cancelled tasks are left to the next attempt.
WRITTEN = frozenset({"completed", "failed"})


def encode_result(record: Mapping[str, Any]) -> bytes:
    """One JSON line in UTF-8; a lone surrogate (no UTF-8 form) becomes its ``\\udXXX`` escape, so nothing is lost.

    Lone surrogates can only occur inside JSON strings, where Python's
    ``backslashreplace`` spelling is exactly the JSON escape ``json.loads``
    reads back; everything else stays readable UTF-8.
    """
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8", errors="backslashreplace")


class ResultWriter:
    """A plugin that appends ``{"id", "status", "text", "usage", "error", "request_hash"}`` per finished task.

    :param stream: an unbuffered binary stream (``open(path, "ab", buffering=0)``),
        so a line is either handed to the kernel or reported, never left in a buffer.
    :param request_hashes: the request fingerprint of each id (see
        :func:`~.jobfile.request_fingerprint`), stored so a resume can tell a changed line.

    A line that cannot be written (full disk, closed pipe) is recorded in
    :attr:`unsaved` as ``(task id, reason)``, the run is stopped at once (no
    new request is sent), and a partly written line is cut off again, so the
    file holds only whole lines. Later results are still tried.
    """

    def __init__(self, stream: IO[bytes], request_hashes: Mapping[str, str] | None = None) -> None:
        self.stream = stream
        self.request_hashes = request_hashes or {}
        self.written = 0
        self.unsaved: list[tuple[str, str]] = []
        self._run = None

    @hookimpl
    def mac_run_started(self, run):
        self._run = run

    @hookimpl
    def mac_task_finished(self, task, result):
        if result.status not in WRITTEN:
            return
        task_id = result.id if result.id is not None else result.name
        record = {
            "id": task_id,
            "status": result.status,
            "text": result.text,
            "usage": result.usage.as_dict(),
            "error": result.error,
            "request_hash": self.request_hashes.get(task_id),
        }
        try:
            self._write_whole(encode_result(record))
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed under us
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.unsaved.append((task_id, reason))
            if self._run is not None:
                self._run.interrupt(f"the result of task {task_id!r} could not be written: {reason}")
            return
        self.written += 1

    def _write_whole(self, data: bytes) -> None:
        start = self._size()
        view = memoryview(data)
        try:
            while view:
                count = self.stream.write(view)
                if not count:
                    raise OSError(f"the output took none of the {len(view)} bytes left to write")
                view = view[count:]
        except BaseException:
            if start is not None and len(view) < len(data):
                self._cut_back(start)
            raise

    def _size(self) -> int | None:
        """The file's size before a write, or ``None`` for a pipe or device (nothing to cut back there)."""
        try:
            info = os.fstat(self.stream.fileno())
        except (OSError, ValueError):
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None

    def _cut_back(self, size: int) -> None:
        try:
            os.ftruncate(self.stream.fileno(), size)  # a torn line would be a result nobody can read
        except (OSError, ValueError):
            pass  # the line is torn; a resume skips a line that does not parse
