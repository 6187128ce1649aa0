"""Where ``mac run`` writes results: a regular file (locked, resumable) or a stream (stdout, a pipe, a device)."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import sys
from pathlib import Path
from typing import IO

from .jobfile import completed_results

#: The ``-o`` value that means "write the results to stdout".
STDOUT = "-"


class OutputBusy(Exception):
    """Another ``mac run`` holds the lock on the results file."""


class ResultsTarget:
    """The ``-o`` of ``mac run``.

    A regular file (or one not created yet) is resumable: its completed
    results are read back and skipped, and while a run appends to it the run
    holds an exclusive ``flock`` on it, which the kernel releases when the
    process ends in any way (Ctrl-C, ``kill -9``). Anything else (``-``,
    ``/dev/stdout`` on a pipe, a device) is written to and never read.

    :param path: the path given to ``-o``; ``-`` is stdout.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.to_stdout = str(path) == STDOUT

    def __str__(self) -> str:
        return "stdout" if self.to_stdout else str(self.path)

    @property
    def resumable(self) -> bool:
        """True for a regular file or a path not created yet: results can be read back from it."""
        if self.to_stdout:
            return False
        try:
            return stat.S_ISREG(self.path.stat().st_mode)
        except FileNotFoundError:
            return True
        except OSError:
            return False

    def is_file(self, other: Path) -> bool:
        """True if results would land in ``other`` (the same file through a link, ``/dev/stdout`` or ``-``)."""
        try:
            theirs = other.stat()
            mine = os.fstat(sys.stdout.fileno()) if self.to_stdout else self.path.stat()
        except (OSError, ValueError):
            return False
        return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)

    def completed(self) -> dict[str, str | None]:
        """The completed ids already written, with their request fingerprints (nothing for a stream)."""
        return completed_results(self.path) if self.resumable else {}

    def open(self) -> IO[bytes]:
        """An unbuffered binary stream to append to, locked for as long as it stays open.

        :raises OutputBusy: another ``mac run`` is writing to the same file.
        :raises OSError: the file cannot be opened for appending.
        """
        if self.to_stdout:
            return open(sys.stdout.fileno(), "wb", buffering=0, closefd=False)
        while True:
            stream = open(self.path, "ab", buffering=0)
            if not self.resumable:
                return stream
            try:
                fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                if not _still_at(self.path, stream):
                    stream.close()  # a run compacting the file renamed a new one over it: lock that one
                    continue
                _start_on_fresh_line(self.path, stream)
            except BlockingIOError:
                stream.close()
                raise OutputBusy(f"another mac run is writing to {self.path}; wait for it to end, "
                                 "or give another -o") from None
            except BaseException:
                stream.close()
                raise
            return stream

    def compact(self) -> int:
        """Rewrite the file with one line per id, its last; returns how many lines were dropped (0: left alone).

        Call it while holding the stream :meth:`open` returned. A failed
        result followed by a success, or an answer superseded by
        ``--rerun-changed``, leaves only the later line; a line torn by a
        crash is dropped. A superseded *completed* line was paid for, so it
        is first appended to :attr:`superseded_path` (flushed to disk), never
        thrown away. The new file is written beside the old one, flushed to
        disk and renamed over it, so a crash at any point leaves one whole
        file. Lines keep the order in which each id's last line was written.

        :raises OSError: a file could not be written; the results file is untouched.
        """
        if not self.resumable or not self.path.exists():
            return 0
        last: dict[str, int] = {}
        paid: set[int] = set()
        total = 0
        with self.path.open("rb") as fh:
            for total, line in enumerate(fh, start=1):
                record = _record_of(line)
                if record is not None:
                    last[str(record["id"])] = total
                    if record.get("status") == "completed":
                        paid.add(total)
        dropped = total - len(last)
        if not dropped:
            return 0
        kept = set(last.values())
        if paid - kept:
            self._keep_superseded(paid - kept)
        temporary = self.path.with_name(f".{self.path.name}.compacting")
        try:
            with self.path.open("rb") as old, open(temporary, "wb") as new:
                os.fchmod(new.fileno(), stat.S_IMODE(os.fstat(old.fileno()).st_mode))
                new.writelines(line if line.endswith(b"\n") else line + b"\n"
                               for number, line in enumerate(old, start=1) if number in kept)
                new.flush()
                os.fsync(new.fileno())  # the new file is on disk before it replaces the old one
            os.replace(temporary, self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return dropped

    @property
    def superseded_path(self) -> Path:
        """Where compaction keeps paid answers that a later line superseded: ``OUT.jsonl.superseded``."""
        return self.path.with_name(self.path.name + ".superseded")

    def _keep_superseded(self, numbers: set[int]) -> None:
        with self.path.open("rb") as old, open(self.superseded_path, "ab") as kept:
            kept.writelines(line if line.endswith(b"\n") else line + b"\n"
                            for number, line in enumerate(old, start=1) if number in numbers)
            kept.flush()
            os.fsync(kept.fileno())


def _record_of(line: bytes) -> dict | None:
    """A result line's record (with an ``id``), or ``None`` for a line that is not one (torn by a crash)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "id" in record else None


def _still_at(path: Path, stream: IO[bytes]) -> bool:
    """True if ``stream`` is still the file at ``path`` (not one a compaction renamed another file over)."""
    try:
        mine, theirs = os.fstat(stream.fileno()), path.stat()
    except FileNotFoundError:
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


def _start_on_fresh_line(path: Path, stream: IO[bytes]) -> None:
    """End a line torn by a crash, so the next result starts a line of its own."""
    size = os.fstat(stream.fileno()).st_size
    if not size:
        return
    with path.open("rb") as fh:
        fh.seek(size - 1)
        if fh.read(1) != b"\n":
            stream.write(b"\n")
