"""Counting a schedule's days from croniter's expansion gives what croniter's iteration gives."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.model import cron


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    part = st.one_of(
        st.just("*"),
        st.builds(lambda k: f"*/{k}", st.integers(1, high)),
        number.map(str),
        st.builds(lambda a, b: f"{min(a, b)}-{max(a, b)}", number, number),
        st.builds(lambda a, b, k: f"{min(a, b)}-{max(a, b)}/{k}", number, number, st.integers(1, high)),
    )
    return st.lists(part, min_size=1, max_size=3).map(",".join)


@settings(max_examples=150, deadline=None)
@given(day=_field(1, 31), month=_field(1, 12), weekday=_field(0, 7))
def test_counted_days_match_croniter(day: str, month: str, weekday: str) -> None:
    text = f"0 0 {day} {month} {weekday}"
    if not cron.is_cron(text):
        return
    from croniter import croniter

    counted = cron._count_days(croniter(text).expanded)
    assert counted is None or counted == cron._iterate_days([day, month, weekday], None), text


def test_common_schedules() -> None:
    per_year = {"0 2 * * *": 365, "30 1 * * 0": 52, "0 */6 * * *": 4 * 365, "@weekly": 52, "@monthly": 12,
                "0 0 L * *": 12, "0 0 * * 1#2": 12, "0 0 * jan sun": 4, "0 0 * * *,0": 365}
    for text, runs in per_year.items():
        assert cron.runs_per_year(text, None) == runs, text
    from croniter import croniter

    for text in ("0 2 * * *", "30 1 * * 0", "0 0 1,15 * 1-5", "0 0 */2 1-6 *"):  # counted, not iterated
        assert cron._count_days(croniter(text).expanded) is not None


def test_named_days_and_question_marks_are_counted_as_croniter_iterates_them() -> None:
    from croniter import croniter

    for text in ("0 9 * * MON-FRI", "0 0 ? * MON", "0 12 * JUL,AUG SAT,SUN", "0 0 1 jan-mar *", "0 0 13 * FRI",
                 "0 0 ? * sun"):
        fields = text.split()[2:5]
        counted = cron._count_days(croniter(text).expanded)
        assert counted is not None and counted == cron._iterate_days(fields, None), text
        assert cron._COUNTABLE_DAY_FIELD.match(fields[0]) and cron._COUNTABLE_DAY_FIELD.match(fields[2]), text
    for special in ("L", "15W", "5#2", "5L", "LW"):
        assert not cron._COUNTABLE_DAY_FIELD.match(special), special


def test_a_schedule_that_never_fires_runs_zero_times() -> None:
    assert cron._iterate_days(["30", "2", "*"], None) == 0
    assert cron.runs_per_year("0 0 30 2 *", None) == 0


def _loose_field(low: int, high: int) -> st.SearchStrategy[str]:
    """Items of a field in and around the plain form: out of range, reversed, zero and oversized steps, ``7``,
    names, ``?``, ``L`` and ``5/15``, so that what ``_plain`` takes and what it leaves to croniter are both met."""
    number = st.integers(max(low - 1, 0), high + 2)
    step = st.integers(0, high + 3)
    part = st.one_of(
        st.just("*"),
        st.builds(lambda k: f"*/{k}", step),
        number.map(str),
        st.builds(lambda a, b: f"{a}-{b}", number, number),
        st.builds(lambda a, b, k: f"{a}-{b}/{k}", number, number, step),
        st.builds(lambda a, k: f"{a}/{k}", number, step),
        st.sampled_from(["?", "L", "mon", "jan", "7", "5#2", "05", "1-1"]),
    )
    return st.lists(part, min_size=1, max_size=3).map(",".join)


def _plain_field(low: int, high: int) -> st.SearchStrategy[str]:
    """A field of the plain form, mostly: ``*``, ``*/k``, or a list of numbers and ranges (some taking every value)."""
    number = st.integers(low, high)
    part = st.one_of(number.map(str), st.builds(lambda a, b: f"{min(a, b)}-{max(a, b) + 1}", number, number),
                     st.builds(lambda a, b, k: f"{a}-{b}/{k}", st.just(low), st.just(high), st.integers(1, 3)))
    return st.one_of(st.just("*"), st.builds(lambda k: f"*/{k}", st.integers(1, high + 1)),
                     st.lists(part, min_size=1, max_size=3).map(",".join))


def _any_field(low: int, high: int) -> st.SearchStrategy[str]:
    return st.one_of(_plain_field(low, high), _loose_field(low, high))


@settings(max_examples=300, deadline=None)
@given(fields=st.tuples(_any_field(0, 59), _any_field(0, 23), _any_field(1, 31), _any_field(1, 12), _any_field(0, 6)))
def test_a_plain_schedule_is_expanded_as_croniter_expands_it(fields: tuple[str, ...]) -> None:
    """croniter stays the authority: what ``_plain`` expands croniter accepts and expands the same way."""
    from croniter import croniter

    text = " ".join(fields)
    plain = cron._plain(text)
    if plain is not None:
        assert croniter.is_valid(text), text
        assert plain == croniter(text).expanded, text
        assert cron.runs_per_year(text, None) == _runs_by_croniter(text), text
    assert cron.is_cron(text) == croniter.is_valid(text), text


def _runs_by_croniter(text: str) -> float:
    """``runs_per_year`` with croniter's expansion (the plain form not recognised)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(cron, "_plain", lambda text: None)
        return cron.runs_per_year.__wrapped__(text, None)


def test_common_schedules_are_plain_and_other_forms_go_to_croniter() -> None:
    for text in ("0 2 * * *", "0 */6 * * *", "30 1 * * 0", "*/5 * * * *", "50-59/1 * * * *", "0 0 1,15 * 1-5"):
        assert cron._plain(text) is not None, text
    for text in ("@daily", "0 0 * * MON", "0 0 L * *", "0 0 * * 7", "0 0 ? * 1", "0 0 0 * * *", "5/15 * * * *",
                 "0 0 5-1 * *", "*/0 * * * *", "0 0 * * 1#2", "60 * * * *", "0 0 1-1 * *"):
        assert cron._plain(text) is None, text
    assert cron._plain("0-59 0 * 1-12 *") == [["*"], [0], ["*"], ["*"], ["*"]]  # every value, as croniter has it
    assert cron._plain("0 0 1-31 * *") is None  # for a day field croniter decides (as the other day field is)


def test_counting_a_plain_schedule_does_not_import_croniter() -> None:
    """croniter's import (~20 ms and a ``file`` subprocess) is paid by the other forms only: in a parallel
    ``check``, by no worker process when every schedule is plain."""
    code = ("import sys; from policy_engine.model import cron; "
            "assert cron.is_cron('0 */6 * * *') and cron.runs_per_year('30 1 * * 0', None) == 52; "
            "assert 'croniter' not in sys.modules; "
            "assert cron.runs_per_year('@weekly', None) == 52 and 'croniter' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
