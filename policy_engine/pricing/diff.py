"""Two catalogs compared figure by figure: what changed and by how much, what appeared, what disappeared.

Each priced figure is addressed by its place — ``instance_types.<name>`` (default region),
``instance_types.<name>@<region>`` (a regional price), ``gpu_models.<key>``, ``attached_gpus.<label>``,
``cpu`` — and by which price (``on_demand``, ``spot``, a CPU rate). A change whose size is at least the
threshold (percent of the old figure), a figure that disappeared, or a spot price that appeared or vanished
is flagged: those are the changes a reviewer of a price refresh must look at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PRICE_FIELDS = ("on_demand", "spot")
CPU_FIELDS = ("vcpu_hour", "memory_gib_hour", "vcpu_hour_spot", "memory_gib_hour_spot")


@dataclass(frozen=True, slots=True)
class Change:
    place: str
    field: str
    old: float | None
    new: float | None
    flagged: bool
    old_date: str | None = None
    new_date: str | None = None
    note: str | None = None  # a type moving between priced and recognised-without-a-price, and why

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed"

    @property
    def percent(self) -> float | None:
        if self.old is None or self.new is None or self.old == 0:
            return None
        return (self.new - self.old) / self.old * 100.0

    def to_dict(self) -> dict[str, Any]:
        return {"place": self.place, "field": self.field, "kind": self.kind, "old": self.old, "new": self.new,
                "percent": None if self.percent is None else round(self.percent, 3), "flagged": self.flagged,
                "old_date": self.old_date, "new_date": self.new_date, "note": self.note}


def figures(data: dict[str, Any]) -> dict[tuple[str, str], tuple[float, str | None]]:
    """(place, field) → (price, date) for every price in catalog data."""
    out: dict[tuple[str, str], tuple[float, str | None]] = {}
    for name, entry in (data.get("instance_types") or {}).items():
        _prices(out, f"instance_types.{name}", entry)
        for region, price in (entry.get("regions") or {}).items():
            _prices(out, f"instance_types.{name}@{region}", price)
    for section in ("gpu_models", "attached_gpus"):
        for name, entry in (data.get(section) or {}).items():
            _prices(out, f"{section}.{name}", entry)
    cpu = data.get("cpu") or {}
    for key in CPU_FIELDS:
        if cpu.get(key) is not None:
            out[("cpu", key)] = (float(cpu[key]), None)
    return out


def _prices(out: dict[tuple[str, str], tuple[float, str | None]], place: str, entry: dict[str, Any]) -> None:
    for key in PRICE_FIELDS:
        if entry.get(key) is not None:
            date = entry.get("spot_date" if key == "spot" else "date")
            out[(place, key)] = (float(entry[key]), None if date is None else str(date))


def diff(old: dict[str, Any], new: dict[str, Any], threshold_percent: float) -> list[Change]:
    before, after = figures(old), figures(new)
    changes: list[Change] = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if was is not None and now is not None and abs(was[0] - now[0]) < 1e-12:
            continue
        old_value = None if was is None else was[0]
        new_value = None if now is None else now[0]
        if old_value is None or new_value is None:
            flagged = new_value is None or key[1] == "spot"  # a lost price, or a spot price appearing
        else:
            flagged = old_value == 0 or abs(new_value - old_value) / old_value * 100.0 >= threshold_percent - 1e-9
        changes.append(Change(key[0], key[1], old_value, new_value, flagged,
                              None if was is None else was[1], None if now is None else now[1],
                              _unpriced_note(key[0], old_value, new_value, old, new)))
    return changes


def _unpriced_note(place: str, old_value: float | None, new_value: float | None, old: dict[str, Any],
                   new: dict[str, Any]) -> str | None:
    """Why a type's price appeared or disappeared, when it moved to or from ``unpriced_types``."""
    if not place.startswith("instance_types.") or (old_value is None) == (new_value is None):
        return None
    name = place.split(".", 1)[1].split("@", 1)[0]
    if new_value is None and name in (new.get("unpriced_types") or {}):
        return f"now recognised without a published price: {new['unpriced_types'][name].get('reason')}"
    if old_value is None and name in (old.get("unpriced_types") or {}):
        return "was recognised without a published price"
    return None


def render(changes: list[Change], threshold_percent: float) -> str:
    if not changes:
        return "no price changed"
    lines = []
    for c in changes:
        mark = "!" if c.flagged else " "
        if c.kind == "added":
            lines.append(f"{mark} + {c.place} {c.field}: {c.new:g}{_date(c.new_date)}{_note(c.note)}")
        elif c.kind == "removed":
            lines.append(f"{mark} - {c.place} {c.field}: {c.old:g}{_date(c.old_date)} disappeared{_note(c.note)}")
        else:
            pct = c.percent
            by = f"{pct:+.1f} %" if pct is not None else "from 0"
            lines.append(f"{mark} ~ {c.place} {c.field}: {c.old:g} → {c.new:g} ({by}){_date(c.new_date)}")
    counts = {k: sum(1 for c in changes if c.kind == k) for k in ("changed", "added", "removed")}
    flagged = sum(1 for c in changes if c.flagged)
    lines.append(f"{counts['changed']} changed, {counts['added']} added, {counts['removed']} disappeared; "
                 f"{flagged} flagged (! = change ≥ {threshold_percent:g} %, a price gone, or a spot price new)")
    return "\n".join(lines)


def _note(note: str | None) -> str:
    return f" — {note}" if note else ""


def _date(date: str | None) -> str:
    return f" (as of {date})" if date else ""
