"""How often a cron schedule fires in the reference year (``runtime`` turns that into runs a month).

Runs per day are the product of the minute, hour (and seconds) field sizes; days are the dates of the
reference year the day fields (day of month, month, day of week) allow, with cron's rule that a day
matches either restricted day field when both are restricted. croniter is the authority on what a
schedule means. The plain form nearly every manifest uses (five fields of ``*``, numbers, ranges and
steps: ``0 */6 * * *``) is expanded here exactly as croniter expands it (``_plain``; the tests compare
the two): importing croniter costs ~20 ms of CPU and a ``file`` subprocess (its check of the platform),
in every worker process of a parallel ``check``. Every other form is croniter's to parse. Day fields of
numbers, ranges, steps, names and ``?`` in local time have their days counted here from the expansion;
``L``, ``W``, ``#`` and time zones are counted by croniter's own iteration over the year, which is exact
but costs ~20 ms a schedule (in every worker process, and in an admission request that meets the
schedule first).
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

#: Runs are counted over the 365 days from here and divided by 12 (a 30.4-day month on average), so that
#: @monthly is 1 and @weekly 52/12 whatever a month's alignment.
REFERENCE_START = datetime(2023, 1, 2)  # a Monday; the year after it has 52 Sundays and 12 month-ends
REFERENCE_DAYS = 365
_MACRO_DAYS = {
    "@yearly": "1 1 *",
    "@annually": "1 1 *",
    "@monthly": "1 * *",
    "@weekly": "* * 0",
    "@daily": "* * *",
    "@midnight": "* * *",
    "@hourly": "* * *",
}
_NAMES = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC|SUN|MON|TUE|WED|THU|FRI|SAT"
#: Day fields counted from croniter's expansion: numbers, ranges, steps, ``?`` and month/day names.
_COUNTABLE_DAY_FIELD = re.compile(rf"^(?:[0-9*,/?-]|{_NAMES})+$", re.IGNORECASE)
_DAY, _MONTH, _WEEKDAY = 2, 3, 4  # indexes in croniter's expansion
#: An item of a plain field: ``*``, ``*/step``, a number, ``low-high`` or ``low-high/step``.
_PLAIN_ITEM = re.compile(r"\*(?:/([0-9]{1,2}))?|([0-9]{1,2})(?:-([0-9]{1,2})(?:/([0-9]{1,2}))?)?")
#: The values of a plain schedule's five fields (the day of week 0-6, Sunday 0: croniter's ``7`` is not plain).
_PLAIN_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))

Expansion = list[list[int | str]]  # croniter's ``expanded``: each field's values, or ["*"] for all of them


@functools.lru_cache(maxsize=4096)  # pure; ~0.4 ms a call with croniter, and a tree repeats its schedules
def is_cron(text: str) -> bool:
    if _plain(text) is not None:
        return True
    from croniter import croniter  # imported here: only the other forms pay for it

    return bool(croniter.is_valid(text))


@functools.lru_cache(maxsize=4096)
def _plain(text: str) -> Expansion | None:
    """croniter's expansion of a plain schedule: five fields, each ``*``, ``*/step`` or a list of numbers in the
    field's range and ranges ``low-high`` (``low < high``) with an optional step no larger than the field;
    a field that takes every value is ``["*"]``, as croniter has it. None for any other form, croniter's to
    parse: names, ``?``, ``L``, ``W``, ``#``, ``7``, seconds, ``5/15``, ``*`` in a list, reversed ranges, a
    day field that takes every value but is not ``*`` (croniter reads ``1-31`` as unrestricted or not
    depending on the other day field), and all it refuses."""
    fields = text.split()
    if len(fields) != len(_PLAIN_BOUNDS):
        return None
    expanded: Expansion = []
    for index, (field, (low, high)) in enumerate(zip(fields, _PLAIN_BOUNDS, strict=True)):
        values: set[int] = set()
        items = field.split(",")
        for item in items:
            match = _PLAIN_ITEM.fullmatch(item)
            if match is None or (len(items) > 1 and item[0] == "*"):  # croniter keeps a "*" in a list as "*"
                return None
            star_step, first, last, range_step = match.groups()
            start, end = (low, high) if first is None else (int(first), int(last or first))
            step = int(star_step or range_step or 1)
            if not (low <= start <= end <= high and (last is None or start < end) and 1 <= step <= high - low + 1):
                return None
            values.update(range(start, end + 1, step))
        if len(values) == high - low + 1:
            if index in (_DAY, _WEEKDAY) and field != "*":  # croniter's "*" for it depends on the other day field
                return None
            expanded.append(["*"])
        else:
            expanded.append(sorted(values))
    return expanded


@functools.lru_cache(maxsize=4096)  # pure, and a tree repeats its schedules
def runs_per_year(text: str, tz: ZoneInfo | None) -> float:
    """Runs in the reference year: the days the schedule fires x the runs in each such day.

    DST shifts are ignored: they move runs, they barely change their number.
    """
    expanded = _expansion(text)
    sizes = {0: 60, 1: 24, 5: 60}
    per_day = 1
    for index, size in sizes.items():
        if index < len(expanded):
            values = expanded[index]
            per_day *= size if values == ["*"] else len(values)
    macro = _MACRO_DAYS.get(text.lower(), "* * *") if text.startswith("@") else None
    day_fields = macro.split() if macro else text.split()[2:5]
    days = None
    if tz is None and all(_COUNTABLE_DAY_FIELD.match(f) for f in day_fields):
        days = _count_days(_expansion("0 0 " + " ".join(day_fields)))
    if days is None:
        days = _iterate_days(day_fields, tz)
    return float(days * per_day)


def _expansion(text: str) -> Expansion:
    """Each field's values (``_plain``'s, else croniter's)."""
    plain = _plain(text)
    if plain is not None:
        return plain
    from croniter import croniter

    expanded: Expansion = croniter(text).expanded
    return expanded


def _count_days(expanded: Expansion) -> int | None:
    """Days of the reference year, or None for an expansion this does not model (``*`` inside a list)."""
    fields = [expanded[i] for i in (_DAY, _MONTH, _WEEKDAY)]
    if any(f != ["*"] and "*" in f for f in fields):
        return None
    any_day, any_month, any_weekday = (f == ["*"] for f in fields)
    days, months, weekdays = (set(expanded[i]) for i in (_DAY, _MONTH, _WEEKDAY))
    either = not any_day and not any_weekday  # both restricted: cron fires on either
    count = 0
    day = date(REFERENCE_START.year, REFERENCE_START.month, REFERENCE_START.day)
    one = timedelta(days=1)
    for _ in range(REFERENCE_DAYS):
        if any_month or day.month in months:
            by_day = any_day or day.day in days
            by_weekday = any_weekday or day.isoweekday() % 7 in weekdays  # cron: Sunday is 0
            if (by_day or by_weekday) if either else (by_day and by_weekday):
                count += 1
        day += one
    return count


def _iterate_days(day_fields: list[str], tz: ZoneInfo | None) -> int:
    from croniter import CroniterBadDateError, croniter

    start = REFERENCE_START.replace(tzinfo=tz) if tz else REFERENCE_START
    end = start + timedelta(days=REFERENCE_DAYS)
    it = croniter("0 0 " + " ".join(day_fields), start - timedelta(microseconds=1))
    days = 0
    try:
        while it.get_next(datetime) < end:
            days += 1
    except CroniterBadDateError:  # no (further) date: "0 0 30 2 *" never fires
        pass
    return days
