"""``make bench``: run every benchmark script in this folder, one after the other.

Each script is standalone (``python benchmarks/<name>.py``), measures Enrich against a plain
baseline in the same process and prints its own figures; nothing here asserts a speed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    chosen = set(argv)
    scripts = sorted(
        path
        for path in HERE.glob("*.py")
        if path.name != "run.py"
        and not path.name.startswith("_")
        and (not chosen or path.stem in chosen)
    )
    failed = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, check=False)
        print(f"--- {script.stem}: {time.perf_counter() - started:.1f} s", flush=True)
        if result.returncode != 0:
            failed.append(script.stem)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
