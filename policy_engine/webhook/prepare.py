"""Compile a changed policy set in a child process at low CPU priority, before the webhook loads it.

Parsing and checking the bundled library is ~120 ms of pure Python. Done in the serving process, it
holds the GIL in 5 ms slices against admissions for the whole time (measured at 500 req/s: ~25
answers at 10-30 ms per reload). The child does that work off the serving process's GIL, at the
lowest CPU priority there is (``SCHED_IDLE``), and leaves the result in the start-up cache
(``policy_engine.cache``); the webhook then loads the set from the cache, which costs ~10 ms of
unpickling and code generation.

The child is only a head start. Whatever it does, the webhook then loads the set as it always has,
so a set with errors is refused with the same located diagnostics, and a child that cannot run
(no cache, no interpreter, a timeout) only means the compile happens in process, as before.

    python -m policy_engine.webhook.prepare [--pricing FILE] POLICY_PATH...
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence

from policy_engine.errors import DiagnosticError

#: Where SCHED_IDLE is not available, how much lower than the server the child runs (nice(2) increment).
NICENESS = 19
TIMEOUT_SECONDS = 120.0


def precompile(policies: Sequence[str], pricing: str | None, timeout: float = TIMEOUT_SECONDS) -> bool:
    """Fill the start-up cache with ``policies`` (and ``pricing``) from a child process.

    True when the child compiled the set without errors (the next load in this process is a cache hit);
    False when it found errors or could not help, in which case the caller's own load decides.
    """
    from policy_engine.cache import DiskCache, signing_key

    cache = DiskCache.default()
    if not policies or cache is None:
        return False  # nothing to hand over: the child's work would be lost
    signing_key(cache.directory)  # a key of this process (no private key file) is exported to the child now
    command = [sys.executable, "-m", __name__, *(["--pricing", pricing] if pricing else []), "--", *policies]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def run_only_when_idle() -> str:
    """Give up the CPU to anything else that wants it; returns the policy obtained.

    ``SCHED_IDLE`` (Linux) runs this process only on a CPU nothing else wants, and a waking server thread
    preempts it at once; a positive niceness still takes a share of a busy CPU. Lowering one's own
    priority needs no privilege.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return "idle"
    except (AttributeError, OSError):
        pass
    try:
        os.nice(NICENESS)
        return f"nice {NICENESS}"
    except OSError:  # not permitted somewhere: still useful, only not deprioritised
        return "normal"


def main(argv: Sequence[str] | None = None) -> int:
    run_only_when_idle()
    parser = argparse.ArgumentParser(prog="python -m policy_engine.webhook.prepare")
    parser.add_argument("--pricing")
    parser.add_argument("policies", nargs="+")
    args = parser.parse_args(argv)

    from policy_engine.engine import load_engine

    try:
        load_engine(policy_paths=args.policies, pricing=args.pricing)
    except DiagnosticError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
