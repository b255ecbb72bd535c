"""The usage ledger: GPU pods' lifetimes in SQLite, usage per quota/budget group and period, budget alerts.

``store.Ledger`` is the file (``db.py``: schema and migrations); ``writer.LedgerWriter`` fills it from the
cluster-state cache; ``snapshot.SnapshotUsage`` is the webhook's background-refreshed view of it;
``report``/``render`` are ``policy-engine usage``. docs/usage.md explains the counting.
"""
