"""Run every benchmark in this folder, one after another, and print their figures.

`make bench` calls this. Each benchmark is its own script (see its docstring for what it measures and
its options); they are run as subprocesses so one's imports and caches do not flatter another.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["bench_compile.py", "bench_model.py", "bench_check.py", "bench_webhook.py"]


def main() -> int:
    failed = []
    for name in ORDER + sorted(p.name for p in HERE.glob("bench_*.py") if p.name not in ORDER):
        script = HERE / name
        if not script.exists():
            continue
        print(f"\n===== {name} =====", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
