"""Stop a run when an agent writes a stop word: an installed mac interrupt policy.

``MAC_STOP_WORDS`` holds the words, comma-separated (``"CRITICAL,data loss"``),
read at the start of each run. They match whole words, regardless of case.
Unset or empty, the policy does nothing.
"""

from __future__ import annotations

import os
import re

from mac_core import Interrupt, hookimpl

ENV = "MAC_STOP_WORDS"

_pattern: re.Pattern[str] | None = None
_longest = 0
_tails: dict = {}  # the last characters each task wrote, so a word split over two chunks is found


@hookimpl
def mac_run_started(run):
    global _pattern, _longest
    words = [word.strip() for word in os.environ.get(ENV, "").split(",") if word.strip()]
    _pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE) if words else None
    _longest = max(map(len, words), default=0)
    _tails.clear()


@hookimpl
def mac_should_interrupt(task, event):
    if _pattern is None or event.type != "text":
        return None
    tail = _tails.get(task, "")
    text = tail + event.text
    _tails[task] = text[-(_longest + 1):]  # a word begun in an earlier chunk, and the character before it
    # Search from where such a word could start; the character before it only serves \b.
    match = _pattern.search(text, max(0, len(tail) - _longest))
    if match:
        return Interrupt(reason=f"{task.name} wrote the stop word {match.group(0)!r}", scope="run")
    return None


@hookimpl
def mac_task_finished(task):
    _tails.pop(task, None)
