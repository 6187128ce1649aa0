"""Every test docs/reliability.md cites exists: a guarantee whose test was renamed or removed is a claim no test shows."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALIAS = re.compile(r"`([A-Z]{1,4})` = `(tests/[\w/.-]+\.py)`")
REFERENCE = re.compile(r"`((?:tests/[\w/.-]+\.py|[A-Z]{1,4})?)(?:::([\w:\[\]./ -]+))?`")


def cited_tests() -> list[tuple[int, str, str | None]]:
    """``(line number, file, test name or None)`` for each test a table row cites."""
    text = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    aliases = dict(ALIAS.findall(text))
    cited = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith("|"):
            continue
        current = None
        for prefix, name in REFERENCE.findall(line):
            if prefix.startswith("tests/"):
                current = prefix
            elif prefix in aliases:
                current = aliases[prefix]
            elif prefix or current is None:
                continue
            if not prefix and not name:
                continue
            cited.append((number, current, name.split("[")[0].split("::")[-1].strip() if name else None))
    return cited


def test_every_test_the_reliability_tables_cite_exists():
    cited = cited_tests()
    assert len(cited) > 150  # the tables are read, not skipped
    missing = []
    for number, file, name in cited:
        path = ROOT / file
        if not path.is_file():
            missing.append(f"line {number}: {file} does not exist")
        elif name is not None and not re.search(rf"^\s*(async )?def {re.escape(name)}\(", path.read_text(), re.M):
            missing.append(f"line {number}: {file} has no test {name}")
    assert not missing, "\n".join(missing)
