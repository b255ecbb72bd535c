"""How often a cron schedule fires in the reference year (``runtime`` turns that into runs a month).

Runs per day are the product of the minute, hour (and seconds) field sizes; days are the dates of the
reference year the day fields (day of month, month, day of week) allow, with cron's rule that a day
matches either restricted day field when both are restricted. croniter parses every schedule. Day fields
of numbers, ranges, steps, names and ``?`` in local time (nearly every schedule) have their days counted
here from croniter's expansion; ``L``, ``W``, ``#`` and time zones are counted by croniter's own iteration
over the year, which is exact but costs ~20 ms a schedule (in every worker process, and in an admission
request that meets the schedule first).
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


@functools.lru_cache(maxsize=4096)  # pure; ~0.4 ms a call, and a tree repeats its schedules
def is_cron(text: str) -> bool:
    from croniter import croniter  # imported here: only scheduled kinds pay for it

    return bool(croniter.is_valid(text))


@functools.lru_cache(maxsize=4096)  # pure, and a tree repeats its schedules
def runs_per_year(text: str, tz: ZoneInfo | None) -> float:
    """Runs in the reference year: the days the schedule fires x the runs in each such day.

    DST shifts are ignored: they move runs, they barely change their number.
    """
    from croniter import croniter

    expanded = croniter(text).expanded
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
        days = _count_days(croniter("0 0 " + " ".join(day_fields)).expanded)
    if days is None:
        days = _iterate_days(day_fields, tz)
    return float(days * per_day)


def _count_days(expanded: list[list[int | str]]) -> int | None:
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
