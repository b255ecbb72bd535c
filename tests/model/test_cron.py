"""Counting a schedule's days from croniter's expansion gives what croniter's iteration gives."""

from __future__ import annotations

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
