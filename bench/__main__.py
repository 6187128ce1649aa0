"""``python -m bench [--quick | --tiny] [--out PATH] [--docs PATH | --no-docs]``: run, then write JSON, table, plot."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .report import machine, write_docs
from .runner import run_all

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run every section, write the outputs."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", const="quick", dest="mode", help="smaller sizes, < 60 s")
    size.add_argument("--tiny", action="store_const", const="tiny", dest="mode", help="a few seconds (the test)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true", help="write only the JSON")
    args = parser.parse_args(argv)
    mode = args.mode or "full"
    started = time.perf_counter()
    results = {"mode": mode, "machine": machine(), **run_all(mode, log=lambda m: print(m, file=sys.stderr))}
    results["total_s"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"bench: wrote {args.out} in {results['total_s']:.1f} s", file=sys.stderr)
    if not args.no_docs:
        write_docs(results, args.docs)
        print(f"bench: wrote {args.docs}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
