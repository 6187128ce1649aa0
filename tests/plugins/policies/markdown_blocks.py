"""Running a markdown page's Python blocks in order, checking each against the output shown after it.

A ```` ```text ```` block that directly follows a ```` ```python ```` block
(nothing but blank lines between) is that block's expected standard output.
Durations (``0.03 s``) are compared as ``N s``, since they vary run to run.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$", re.S | re.M)
DURATION = re.compile(r"\b\d+\.\d+ s\b")


@dataclass
class Block:
    lang: str
    code: str
    line: int  # of the opening fence, 1-based
    start: int
    end: int


def blocks_of(path: Path) -> list[Block]:
    text = path.read_text()
    return [
        Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1, m.start(), m.end())
        for m in FENCE.finditer(text)
    ]


def _normal(output: str) -> str:
    return "\n".join(DURATION.sub("N s", line.rstrip()) for line in output.strip().splitlines())


def run_markdown(path: Path) -> list[tuple[Block, str]]:
    """Execute every python block of ``path`` in one namespace; return each block with what it printed.

    Raises ``AssertionError`` naming the block's line when its output differs from the text shown after it.
    """
    text = path.read_text()
    blocks = blocks_of(path)
    namespace: dict = {"__name__": f"doc_{path.stem.replace('-', '_')}"}
    ran = []
    for i, block in enumerate(blocks):
        if block.lang != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block.code, f"{path.name}:{block.line}", "exec"), namespace)  # noqa: S102
        ran.append((block, out.getvalue()))
        following = blocks[i + 1] if i + 1 < len(blocks) else None
        if following and following.lang == "text" and not text[block.end : following.start].strip():
            assert _normal(out.getvalue()) == _normal(following.code), (
                f"{path.name}:{block.line}: printed\n{out.getvalue()}\nbut the page shows\n{following.code}"
            )
    return ran
