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


@dataclass(frozen=True)
class Analyst:
    """One reviewer of the fan-out."""

    name: str
    focus: str
    simulated_reply: str | None = None  # on the simulator; None means free deterministic text


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
    Analyst("performance", "performance (queries, memory, complexity)"),
    Analyst("architecture", "architecture (boundaries, naming, error handling)"),
    Analyst("tests", "testability and missing tests"),
    Analyst("docs", "documentation and API clarity"),
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
        if simulated and analyst.simulated_reply:
            reply = analyst.simulated_reply if sample == BUNDLED_SAMPLE else _simulated_finding(sample)
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
    if not any("CRITICAL" in a.text for a in analyses):
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
