"""The ledger writer as its own process, for the SIGKILL test: simulated cluster time advances one hour per
cycle; the transaction of cycle SLOW_CYCLE is slowed (20 ms per pod written) so that a kill lands inside it
even on a loaded machine.

    python writer_proc.py LEDGER LAST_CYCLE POD_COUNT SLOW_CYCLE
Resumes after the last cycle the ledger committed; prints "begin K" / "commit K" around cycle K.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from policy_engine.ledger.store import Ledger
from policy_engine.ledger.writer import LedgerWriter
from tests.ledger.cluster import HOUR, T0, Cache, engine, fleet


class SlowLedger(Ledger):
    cycle = 0
    slow = -1

    def _upsert(self, o):  # type: ignore[no-untyped-def]
        if self.cycle == self.slow:
            time.sleep(0.02)
        super()._upsert(o)

    def record(self, observations, now, *, complete=False):  # type: ignore[no-untyped-def]
        print(f"begin {self.cycle}", flush=True)
        written = super().record(observations, now, complete=complete)
        print(f"commit {self.cycle}", flush=True)
        return written


def main() -> None:
    path, last, count, slow = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    e = engine()
    ledger = SlowLedger(path)
    ledger.slow = slow
    done = ledger.last_cycle()
    first = 0 if done is None else int((done - T0) / HOUR) + 1
    cache = Cache(e.catalog)
    pods = fleet(count)
    clock = {"now": T0}
    writer = LedgerWriter(ledger, cache, lambda: e.policies, lambda: e.catalog, clock=lambda: clock["now"])
    for k in range(first, last + 1):
        clock["now"] = T0 + k * HOUR
        cache.list_at(pods, clock["now"])
        ledger.cycle = k
        writer.cycle()
    print("done", flush=True)


if __name__ == "__main__":
    main()
