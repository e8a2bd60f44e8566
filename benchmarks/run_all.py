"""`make bench`: run every benchmark script and save its markdown table to build/bench/<name>.md."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKIP = {"harness.py", "run_all.py"}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="build/bench")
    ap.add_argument("scripts", nargs="*", help="default: every benchmarks/*.py")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scripts = [Path(s) for s in args.scripts] or sorted(p for p in HERE.glob("*.py") if p.name not in SKIP)
    failed = 0
    for s in scripts:
        print(f"== {s.name}", flush=True)
        r = subprocess.run([sys.executable, str(s)], capture_output=True, text=True)
        print(r.stdout)
        if r.returncode:
            failed += 1
            print(r.stderr, file=sys.stderr)
            continue
        target = out / f"{s.stem}.md"
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(r.stdout, encoding="utf-8")
        tmp.replace(target)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
