"""What the demo asks: the analysts, their prompts, and the decision that leads to a fix.

On the simulator the prompts also carry scripting directives (see
docs/simulator.md) so the simulated model behaves like a reviewer: the
security analyst reports the planted flaw as CRITICAL part-way through, the
others keep talking until the interrupt stops them, and the implementing
agent reads and edits the file. On the real API the same prompts go out
without directives and the model decides for itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mac_core import TaskResult, findings_report

BUNDLED_SAMPLE = Path(__file__).parent / "samples" / "inventory.py"

#: The planted flaw in the bundled sample and its fix (used to script the simulated agent).
FLAWED_LINE = "    query = f\"SELECT id, name, quantity FROM items WHERE name = '{name}'\"\n"
FIXED_LINES = (
    '    query = "SELECT id, name, quantity FROM items WHERE name = ?"\n'
)
FLAWED_CALL = "db.execute(query).fetchall()"
FIXED_CALL = "db.execute(query, (name,)).fetchall()"


#: What the decision looks for, and the sentence that carries it (to its full stop, or as far as it was written).
FINDING_MARK = "CRITICAL"
_FINDING_SENTENCE = re.compile(rf"{FINDING_MARK}[^.\n]*(?:[.\n]|$)")


def finding_in(text: str) -> str | None:
    """The first CRITICAL sentence of ``text`` (whole if it was finished), or ``None``."""
    match = _FINDING_SENTENCE.search(text)
    return match.group(0).strip() if match else None


@dataclass(frozen=True)
class Analyst:
    """One reviewer of the fan-out.

    ``simulated_reply`` is what the simulated model answers (``{file}`` is the
    sample's name): the security analyst's reaches a CRITICAL sentence early;
    the others are long, readable reviews that the stop cuts mid-sentence.
    """

    name: str
    focus: str
    simulated_reply: str


ANALYSTS = (
    Analyst(
        "security",
        "security flaws (injection, unsafe input handling, secrets)",
        "Reviewing input handling across the module. connect creates the table safely and restock uses "
        "bound parameters for both values, which is correct. find_item is different: "
        "CRITICAL: find_item formats the user-supplied name into the SQL text, so a name such as "
        "' OR '1'='1 returns every row (SQL injection). Use a parameterized query. "
        "Lower severity: low_stock loads every row, which is a scaling rather than a security concern.",
    ),
    Analyst(
        "performance",
        "performance (queries, memory, complexity)",
        "Looking at {file} for work done more often than needed. Opening a connection is cheap here, but every "
        "lookup builds a fresh query and reads the full result into memory before returning it, which is fine for a "
        "handful of items and slow once the table holds tens of thousands of rows, so the listing functions should "
        "stream rows from the cursor instead of collecting them first, and the low stock report should let the "
        "database filter by quantity with an index on that column rather than loading every row and comparing in "
        "Python, which also keeps memory flat as the inventory grows.",
    ),
    Analyst(
        "architecture",
        "architecture (boundaries, naming, error handling)",
        "Reading {file} for how its parts fit together. The data class and the functions are small and named for "
        "what they do, which makes the module easy to follow, but every function takes a raw connection and mixes "
        "the SQL with the mapping to items, so a repository object that owns the connection and returns items would "
        "give callers one place to go, make transactions explicit instead of scattered across functions, and let "
        "the error handling say what failed in the inventory's own terms rather than passing database exceptions "
        "on to whoever called it.",
    ),
    Analyst(
        "tests",
        "testability and missing tests",
        "Checking {file} for what is tested and what could break unnoticed. There are no tests beside the module, "
        "and the functions are easy to test against an in-memory database because connect already defaults to one, "
        "so a first suite should cover looking up an item that exists and one that does not, restocking with a "
        "positive and a zero amount, and the low stock report at the threshold and just below it, then add a case "
        "with a name containing a quote, since names come from users and a change to how queries are built should "
        "be caught before it ships.",
    ),
    Analyst(
        "docs",
        "documentation and API clarity",
        "Reading {file} for how clearly it explains itself to a new caller. The module docstring says what the "
        "service does in one line, which is a good start, but none of the functions say what they return when "
        "nothing matches, whether names are compared exactly or ignoring case, or which exceptions a caller should "
        "expect, so each public function deserves a short docstring with its arguments and its result, and the low "
        "stock threshold should say whether an item with exactly that quantity counts as low, because readers will "
        "otherwise guess differently.",
    ),
)


def analysis_prompts(sample: Path, count: int, simulated: bool) -> list[dict[str, str]]:
    """The analysts' prompts for ``sample``; scripted for the simulator when ``simulated``."""
    code = sample.read_text()
    prompts = []
    for analyst in ANALYSTS[:count]:
        prompt = (
            f"Review the file {sample.name} for {analyst.focus}. Write one finding per sentence. "
            "Start any finding that must be fixed before release with CRITICAL.\n\n"
            f"```python\n{code}```"
        )
        if simulated:
            unknown_file = analyst.name == "security" and sample != BUNDLED_SAMPLE
            reply = _simulated_finding(sample) if unknown_file else analyst.simulated_reply.format(file=sample.name)
            prompt += f"\n\n[[reply: {reply}]]"
        prompts.append({"name": analyst.name, "prompt": prompt})
    return prompts


def _simulated_finding(sample: Path) -> str:
    """A finding the simulated security analyst reports on a file the demo does not know."""
    return (
        f"Reading {sample.name} from the top. The simulator cannot judge code it was not scripted for, so this "
        f"finding is simulated. CRITICAL: {sample.name} carries no review marker yet. "
        "Everything else is left to a real model."
    )


def implementation_prompt(analyses: list[TaskResult], target: Path, simulated: bool, bundled: bool) -> str | None:
    """The decision: delegate a fix when an analysis reported something CRITICAL, else nothing."""
    if not any(FINDING_MARK in a.text for a in analyses):
        return None
    prompt = (
        f"Fix the CRITICAL findings below in the file {target}. Change only what the findings require, "
        "keep the file's style, then say in one sentence what you changed.\n\n" + findings_report(analyses)
    )
    if simulated:
        prompt += "\n\n" + _scripted_fix(target, bundled)
    return prompt


def _scripted_fix(target: Path, bundled: bool) -> str:
    """Directives that make the simulated model read and then edit ``target``."""
    read = {"file_path": str(target)}
    if bundled:
        edits = [
            {"file_path": str(target), "old_string": FLAWED_LINE, "new_string": FIXED_LINES},
            {"file_path": str(target), "old_string": FLAWED_CALL, "new_string": FIXED_CALL},
        ]
    else:  # an unknown file: a visible, harmless change
        first = target.read_text().splitlines(keepends=True)[0]
        edits = [{"file_path": str(target), "old_string": first, "new_string": "# Reviewed by mac demo.\n" + first}]
    directives = [f"[[tool: Read {json.dumps(read)}]]"]
    directives += [f"[[tool: Edit {json.dumps(edit)}]]" for edit in edits]
    return " ".join(directives)
