"""Where ``mac run`` writes results: a regular file (locked, resumable) or a stream (stdout, a pipe, a device)."""

from __future__ import annotations

import fcntl
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
        stream = open(self.path, "ab", buffering=0)
        if not self.resumable:
            return stream
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            _start_on_fresh_line(self.path, stream)
        except BlockingIOError:
            stream.close()
            raise OutputBusy(f"another mac run is writing to {self.path}; wait for it to end, or give another -o") from None
        except BaseException:
            stream.close()
            raise
        return stream


def _start_on_fresh_line(path: Path, stream: IO[bytes]) -> None:
    """End a line torn by a crash, so the next result starts a line of its own."""
    size = os.fstat(stream.fileno()).st_size
    if not size:
        return
    with path.open("rb") as fh:
        fh.seek(size - 1)
        if fh.read(1) != b"\n":
            stream.write(b"\n")
