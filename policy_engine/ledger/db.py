"""The ledger's SQLite file: connection settings, schema version and migrations.

WAL journal with ``synchronous=FULL``: a transaction is either wholly in the file or not at all, whatever
kills the writer (SIGKILL, OOM, power loss), and readers (the CLI, webhook replicas on the same volume)
never block the writer. ``PRAGMA user_version`` holds the schema version; ``MIGRATIONS[n]`` takes a file
from version n to n+1, each in its own transaction, so an old ledger is upgraded in place on open and a
ledger written by a newer release is refused rather than misread.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from policy_engine.errors import PolicyEngineError

SCHEMA_VERSION = 3

# Times are UNIX seconds (UTC) as REAL. A pod is one row per uid: its lifetime, its rate (GPUs and the
# hourly price that applied on its node) and what grouping reads (labels, namespace, kind, GPU model).
_V1 = """
CREATE TABLE pods (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    workload TEXT NOT NULL,
    kind TEXT NOT NULL,
    node TEXT,
    instance_type TEXT,
    capacity_type TEXT,
    model TEXT NOT NULL,
    gpus REAL NOT NULL,
    hourly REAL,
    started REAL,
    ended REAL,
    deadline REAL,
    labels TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX pods_ended ON pods (ended);
CREATE TABLE rules (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    key_label TEXT NOT NULL
);
CREATE TABLE pod_keys (
    rule INTEGER NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    pod INTEGER NOT NULL REFERENCES pods (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    PRIMARY KEY (rule, pod)
) WITHOUT ROWID;
CREATE TABLE state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""

# v2: what alerting remembers: each (rule, group, period, alert) fires once.
_V2 = """
CREATE TABLE alerts (
    rule TEXT NOT NULL,
    key TEXT NOT NULL,
    period_start REAL NOT NULL,
    alert TEXT NOT NULL,
    fired_at REAL NOT NULL,
    summary TEXT NOT NULL,
    PRIMARY KEY (rule, key, period_start, alert)
) WITHOUT ROWID;
"""

# v3: the pod's key source moves out of ``pods`` (zlib-compressed, labels read from ``pods.labels``): the
# table every usage query scans shrinks to its figures, and the file to about half.
_V3 = """
CREATE TABLE pod_sources (
    pod INTEGER PRIMARY KEY REFERENCES pods (id) ON DELETE CASCADE,
    source BLOB NOT NULL
);
INSERT INTO pod_sources (pod, source) SELECT id, source FROM pods;
ALTER TABLE pods DROP COLUMN source;
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)


class LedgerError(PolicyEngineError):
    """A ledger file that cannot be opened or used, with the path and why."""


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open (creating and migrating unless ``readonly``) the ledger at ``path``."""
    path = Path(path)
    if readonly and not path.is_file():
        raise LedgerError(f"{path}: no ledger here (the controller writes it; see docs/usage.md)")
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=10.0)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"{path}: not a usable ledger: {exc}") from exc
    if version > SCHEMA_VERSION:
        conn.close()
        raise LedgerError(f"{path}: schema version {version} is newer than this release understands "
                          f"({SCHEMA_VERSION}); upgrade policy-engine")
    if version < SCHEMA_VERSION:
        if readonly:
            conn.close()
            raise LedgerError(f"{path}: schema version {version} needs migrating to {SCHEMA_VERSION}; open it "
                              f"once writable (the controller does on start)")
        migrate(conn, version)
    return conn


def migrate(conn: sqlite3.Connection, version: int) -> None:
    """Apply every migration after ``version``, each atomically with its version bump."""
    for target in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # re-read under the write lock: another process may have migrated meanwhile
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if current > target:
                conn.execute("COMMIT")
                continue
            for statement in MIGRATIONS[target].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={target + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
