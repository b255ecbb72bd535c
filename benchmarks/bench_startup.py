"""Benchmark ``policy-engine check``'s fixed start-up: everything before the first document is read.

A check of one small document is nearly all start-up: the interpreter, the imports on check's path, the
engine's load (the pricing catalog and the compiled policies, from the start-up cache), the git root. It is
serial wall time in front of the workers of every run, and most of a small CI job's. Measured as an
installed tool runs: bytecode kept (pip compiles it; here in a scratch ``PYTHONPYCACHEPREFIX``) and the
start-up cache warm (a first run, not timed, fills both):

* ``policy-engine check ONE.yaml --format json`` and ``check -`` (the same document on stdin, the path of
  ``helm template … | policy-engine check -``): wall and CPU (user + system) time, median and best of
  ``--repeat`` runs;
* for scale, the interpreter alone (``python -c pass``) and ``python -c "import yaml"``;
* where one run's time goes, in one process: importing ``check``, the engine's load, the rest of the run.

Target (#12): the one-document check <= 0.07 s wall.

    .venv/bin/python benchmarks/bench_startup.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCUMENT = "kind: ConfigMap\n"
_PHASES = """
import sys, time
started = time.perf_counter()
import policy_engine.cli.check as check
imported = time.perf_counter()
real, marks = check.evaluate_paths, {}
def evaluate_paths(*args, **kwargs):
    marks["engine"] = time.perf_counter()
    return real(*args, **kwargs)
check.evaluate_paths = evaluate_paths
from policy_engine.cli.main import main
main(sys.argv[1:])
done = time.perf_counter()
sys.stderr.write(f"\\n{imported - started} {marks['engine'] - imported} {done - marks['engine']}\\n")
"""


def command() -> list[str]:
    """The console script an installation runs (``-m`` adds runpy's own imports), else the module."""
    script = Path(sys.executable).with_name("policy-engine")
    return [str(script)] if script.exists() else [sys.executable, "-m", "policy_engine.cli.main"]


def run(cmd: list[str], stdin: Path | None = None) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the child's) of one run, output discarded."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with stdin.open("rb") if stdin else open(os.devnull, "rb") as given:
        started = time.perf_counter()
        subprocess.run(cmd, stdin=given, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(label: str, cmd: list[str], repeat: int, stdin: Path | None = None) -> float:
    run(cmd, stdin)  # fills the bytecode and the start-up cache; not timed
    walls, cpus = zip(*(run(cmd, stdin) for _ in range(repeat)), strict=True)
    wall = statistics.median(walls)
    print(f"{label:<44}: wall {wall * 1000:6.1f} ms median, {min(walls) * 1000:6.1f} best; "
          f"CPU {statistics.median(cpus) * 1000:6.1f} ms median")
    return wall


def phases(document: Path, repeat: int) -> None:
    """One process's split of a run, best of ``repeat`` for each part."""
    rows = []
    for _ in range(repeat):
        proc = subprocess.run([sys.executable, "-c", _PHASES, "check", str(document), "--format", "json"],
                              cwd=document.parent,  # not the current directory first on sys.path
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        rows.append([float(x) for x in proc.stderr.strip().splitlines()[-1].split()])
    names = ("importing check", "arguments, the engine's load (catalog, policies), git root",
             "the run (read, evaluate, report)")
    for name, seconds in zip(names, zip(*rows, strict=True), strict=True):
        print(f"  {name:<58}: {min(seconds) * 1000:6.1f} ms best")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per measurement (default 20)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: pip compiles the bytecode
    os.environ["PYTHONPYCACHEPREFIX"] = str(scratch / "bytecode")
    os.environ["XDG_CACHE_HOME"] = str(scratch / "cache")  # its own start-up cache: no other run prunes it
    os.environ.pop("POLICY_ENGINE_NO_CACHE", None)
    try:
        document = scratch / "one.yaml"
        document.write_text(DOCUMENT)
        print(f"# check start-up ({os.cpu_count()} CPUs, Python {sys.version.split()[0]}, bytecode cached, start-up "
              f"cache warm; load average at start {os.getloadavg()[0]:.1f})")
        measure("python -c pass", [sys.executable, "-c", "pass"], args.repeat)
        measure('python -c "import yaml"', [sys.executable, "-c", "import yaml"], args.repeat)
        wall = measure("check ONE.yaml --format json (1 document)", [*command(), "check", str(document),
                                                                     "--format", "json"], args.repeat)
        measure("check - --format json (1 document on stdin)", [*command(), "check", "-", "--format", "json"],
                args.repeat, stdin=document)
        print("where a run's time goes (one process, after the interpreter's own start):")
        phases(document, args.repeat)
        print(f"target (#12): one-document check <= 70 ms wall: {'met' if wall <= 0.07 else 'not met'} "
              f"({wall * 1000:.0f} ms)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
