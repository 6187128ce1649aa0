"""The reporters' tests share the scripted transport of the policies' tests."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "policies"))
