"""When a schedule is due: cron in a time zone across DST, fixed intervals, catch-up after
an outage, and the shortest gap a plan is checked against — pure functions, a fake clock.

2026's transitions: Europe/Paris springs forward on 29 March (02:00 → 03:00) and falls
back on 25 October (03:00 → 02:00); America/New_York on 8 March (02:00 → 03:00) and
1 November (02:00 → 01:00).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from exportd.clock import ManualClock
from exportd.errors import RequestInvalid
from exportd.schedules.recurrence import (
    Recurrence,
    check_cron,
    check_timezone,
    decide,
    next_due,
    parse_every,
    shortest_gap_s,
)

START = datetime(2026, 1, 1, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def cron(expression: str, zone: str) -> Recurrence:
    return Recurrence(timezone=zone, anchor=START, cron=expression)


def runs(recurrence: Recurrence, after: datetime, count: int) -> list[datetime]:
    found = []
    for _ in range(count):
        after = next_due(recurrence, after)
        found.append(after)
    return found


def local(times: list[datetime], zone: str) -> list[str]:
    return [t.astimezone(cron("* * * * *", zone).zone).strftime("%m-%d %H:%M %Z") for t in times]


# -- DST ---------------------------------------------------------------------------------


def test_six_oclock_in_paris_is_six_oclock_all_year() -> None:
    paris = cron("0 6 * * *", "Europe/Paris")
    spring = runs(paris, utc(2026, 3, 27), 4)
    assert spring == [
        utc(2026, 3, 27, 5),
        utc(2026, 3, 28, 5),
        utc(2026, 3, 29, 4),
        utc(2026, 3, 30, 4),
    ]
    autumn = runs(paris, utc(2026, 10, 24), 3)
    assert autumn == [utc(2026, 10, 24, 4), utc(2026, 10, 25, 5), utc(2026, 10, 26, 5)]
    assert {t.astimezone(paris.zone).hour for t in spring + autumn} == {6}


def test_weekly_monday_six_oclock_across_the_spring_change() -> None:
    monday = cron("0 6 * * 1", "Europe/Paris")
    assert runs(monday, utc(2026, 3, 20), 2) == [utc(2026, 3, 23, 5), utc(2026, 3, 30, 4)]


@pytest.mark.parametrize(
    ("zone", "expression", "after", "expected"),
    [
        # Paris, 29 March: 02:30 never happens; it runs when the clocks jump (03:00 CEST).
        (
            "Europe/Paris",
            "30 2 * * *",
            utc(2026, 3, 28, 2),
            [utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)],
        ),
        # Paris, 25 October: 02:30 happens twice; it runs once, the first time (CEST).
        (
            "Europe/Paris",
            "30 2 * * *",
            utc(2026, 10, 24, 2),
            [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)],
        ),
        # New York, 8 March: 02:30 never happens; 03:00 EDT instead.
        (
            "America/New_York",
            "30 2 * * *",
            utc(2026, 3, 7, 12),
            [utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30)],
        ),
        # New York, 1 November: 01:30 happens twice; once, at 01:30 EDT.
        (
            "America/New_York",
            "30 1 * * *",
            utc(2026, 10, 31, 12),
            [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)],
        ),
    ],
)
def test_fixed_times_that_dst_skips_or_repeats_run_once(
    zone: str, expression: str, after: datetime, expected: list[datetime]
) -> None:
    assert runs(cron(expression, zone), after, 2) == expected


def test_every_half_hour_follows_elapsed_time_through_the_repeated_hour() -> None:
    paris = cron("*/30 * * * *", "Europe/Paris")
    found = runs(paris, utc(2026, 10, 24, 23, 10), 6)
    # Both passes of 02:00-03:00 run: the wall clock reads 02:00 and 02:30 twice.
    assert local(found, "Europe/Paris") == [
        "10-25 01:30 CEST",
        "10-25 02:00 CEST",
        "10-25 02:30 CEST",
        "10-25 02:00 CET",
        "10-25 02:30 CET",
        "10-25 03:00 CET",
    ]
    assert {b - a for a, b in pairwise(found)} == {timedelta(minutes=30)}


def test_hourly_in_new_york_skips_the_hour_that_does_not_exist() -> None:
    new_york = cron("0 * * * *", "America/New_York")
    found = runs(new_york, utc(2026, 3, 8, 5, 30), 3)  # 00:30 EST
    assert local(found, "America/New_York") == [
        "03-08 01:00 EST",
        "03-08 03:00 EDT",
        "03-08 04:00 EDT",
    ]
    assert found == [utc(2026, 3, 8, 6), utc(2026, 3, 8, 7), utc(2026, 3, 8, 8)]


def test_every_is_elapsed_time_so_its_local_hour_moves_with_dst() -> None:
    daily = Recurrence(timezone="Europe/Paris", anchor=utc(2026, 3, 27, 5), every_s=86_400)
    found = runs(daily, utc(2026, 3, 27, 5), 3)
    assert found == [utc(2026, 3, 28, 5), utc(2026, 3, 29, 5), utc(2026, 3, 30, 5)]
    assert local(found, "Europe/Paris")[-1] == "03-30 07:00 CEST"


def test_every_counts_from_its_anchor() -> None:
    hourly = Recurrence(timezone="UTC", anchor=utc(2026, 1, 1, 0, 20), every_s=3600)
    assert next_due(hourly, utc(2026, 1, 1, 0, 20)) == utc(2026, 1, 1, 1, 20)
    assert next_due(hourly, utc(2026, 1, 1, 5, 0)) == utc(2026, 1, 1, 5, 20)
    assert next_due(hourly, utc(2026, 1, 1, 5, 20)) == utc(2026, 1, 1, 6, 20)  # strictly after


# -- the tick's decision, with a fake clock ---------------------------------------------


def test_nothing_is_due_before_the_due_time() -> None:
    clock = ManualClock(utc(2026, 1, 5, 4, 59, 59))
    assert decide(cron("0 5 * * *", "UTC"), utc(2026, 1, 5, 5), clock.now()) is None
    clock.advance(1)
    tick = decide(cron("0 5 * * *", "UTC"), utc(2026, 1, 5, 5), clock.now())
    assert tick is not None
    assert (tick.due_at, tick.missed, tick.next_due_at) == (
        utc(2026, 1, 5, 5),
        0,
        utc(2026, 1, 6, 5),
    )


def test_a_late_tick_runs_the_due_time_it_was_late_for() -> None:
    tick = decide(cron("0 6 * * *", "Europe/Paris"), utc(2026, 1, 5, 5), utc(2026, 1, 5, 5, 0, 40))
    assert tick is not None
    assert (tick.due_at, tick.missed) == (utc(2026, 1, 5, 5), 0)


def test_an_outage_makes_one_catch_up_run_not_a_storm() -> None:
    clock = ManualClock(utc(2026, 1, 2, 5))  # the last run was Friday's
    paris = cron("0 6 * * *", "Europe/Paris")
    clock.advance(4 * 86_400 + 3 * 3600)  # workers down until Tuesday 09:00 Paris
    tick = decide(paris, utc(2026, 1, 3, 5), clock.now())
    assert tick is not None
    # One run, for Tuesday's 06:00; Saturday, Sunday and Monday are counted, not run.
    assert (tick.due_at, tick.missed, tick.next_due_at) == (
        utc(2026, 1, 6, 5),
        3,
        utc(2026, 1, 7, 5),
    )
    assert decide(paris, tick.next_due_at, clock.now()) is None  # and nothing more today


def test_catch_up_for_an_interval() -> None:
    every = Recurrence(timezone="UTC", anchor=utc(2026, 1, 1), every_s=3600)
    tick = decide(every, utc(2026, 1, 1, 1), utc(2026, 1, 1, 10, 30))
    assert tick is not None
    assert (tick.due_at, tick.missed, tick.next_due_at) == (
        utc(2026, 1, 1, 10),
        9,
        utc(2026, 1, 1, 11),
    )


def test_a_very_long_outage_still_runs_the_latest_due_time() -> None:
    minutely = cron("* * * * *", "UTC")
    tick = decide(minutely, utc(2026, 1, 1), utc(2026, 3, 1, 0, 0, 30))
    assert tick is not None
    assert tick.due_at == utc(2026, 3, 1)
    assert tick.missed >= 1000
    assert tick.next_due_at == utc(2026, 3, 1, 0, 1)


def test_catch_up_across_the_autumn_change_keeps_to_local_time() -> None:
    paris = cron("0 6 * * *", "Europe/Paris")
    tick = decide(paris, utc(2026, 10, 24, 4), utc(2026, 10, 26, 12))
    assert tick is not None
    assert (tick.due_at, tick.missed, tick.next_due_at) == (
        utc(2026, 10, 26, 5),
        2,
        utc(2026, 10, 27, 5),
    )


# -- checks --------------------------------------------------------------------------------


def test_shortest_gap_is_the_interval_or_the_cron_expressions_closest_runs() -> None:
    assert shortest_gap_s(Recurrence("UTC", START, every_s=7200), START) == 7200
    assert shortest_gap_s(cron("*/5 * * * *", "UTC"), START) == 300
    assert shortest_gap_s(cron("0 9,17 * * 1-5", "UTC"), START) == 8 * 3600
    # Weekly at 06:00 Paris: one week is six days and 23 hours when the clocks go forward.
    assert shortest_gap_s(cron("0 6 * * 1", "Europe/Paris"), START) == 7 * 86_400 - 3600


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("1d", 86_400), ("7d", 604_800), ("2w", 1_209_600)],
)
def test_every_reads_a_number_and_a_unit(text: str, seconds: int) -> None:
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "0h", "1.5h", "1 h", "-1d", "1y", "367d", "1h30m"])
def test_every_refuses_anything_else(text: str) -> None:
    with pytest.raises(RequestInvalid) as refused:
        parse_every(text)
    assert refused.value.code == "every_invalid"


@pytest.mark.parametrize(
    "expression",
    ["", "* * * *", "0 0 * * * *", "61 * * * *", "* 24 * * *", "0 0 30 2 *", "@daily", "a b c d e"],
)
def test_cron_refuses_what_is_not_five_fields_that_fire(expression: str) -> None:
    with pytest.raises(RequestInvalid) as refused:
        check_cron(expression)
    assert refused.value.code == "cron_invalid"
    assert refused.value.errors[0]["field"] == "cron"


def test_cron_takes_names_and_spacing() -> None:
    assert check_cron("  0 6  * *   MON ") == "0 6 * * MON"
    assert check_cron("0 0 29 2 *") == "0 0 29 2 *"  # leap years only: it fires


def test_unknown_time_zones_are_refused() -> None:
    assert check_timezone("America/New_York") == "America/New_York"
    for name in ("Mars/Olympus", "../etc/passwd", "", "Europe/Paris "):
        with pytest.raises(RequestInvalid) as refused:
            check_timezone(name)
        assert refused.value.code == "timezone_unknown"
