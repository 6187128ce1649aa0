"""The ``batch`` transport's options (``transport_options=``), checked before any batch is sent."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class BatchOptions:
    """How the ``batch`` transport gathers tasks into batches and polls them: its ``options_type``.

    :ivar poll_interval: seconds before the first poll of a batch; each wait
        after is longer, up to ``max_poll_interval``.
    :ivar max_poll_interval: the longest wait between two polls.
    :ivar flush_after: seconds without a new task before the queue is sent
        (0 sends as soon as the submitter runs).
    :ivar max_batch_wait: the longest the oldest queued task waits to be sent.
    :ivar cancel_timeout: seconds an interrupted batch's cancel request may take.
    :ivar state_file: a JSON file recording which batch holds each request, so
        a re-run after a crash polls those batches instead of sending (and
        paying for) the requests again; ``None`` records nothing.
    """

    poll_interval: float = 1.0
    max_poll_interval: float = 30.0
    flush_after: float = 0.2
    max_batch_wait: float = 5.0
    cancel_timeout: float = 10.0
    state_file: str | os.PathLike | None = None

    def __post_init__(self) -> None:
        for name in ("poll_interval", "max_poll_interval", "max_batch_wait", "cancel_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"the batch transport option {name!r} must be a positive number of seconds, "
                                 f"got {getattr(self, name)!r}")
        if not self.flush_after >= 0:
            raise ValueError(f"the batch transport option 'flush_after' must be a non-negative number of seconds, "
                             f"got {self.flush_after!r}")
        if self.state_file is not None and not os.fspath(self.state_file):
            raise ValueError("the batch transport option 'state_file' must be a path, not an empty string")
