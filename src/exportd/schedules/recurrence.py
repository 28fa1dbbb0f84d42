"""When a schedule runs: pure functions of its recurrence and the time, no database.

A recurrence is either a ``cron`` expression read on the wall clock of ``timezone``, or
``every``, a fixed elapsed interval from the schedule's anchor.

Time zones and DST (the rule Debian's cron follows; cronsim implements it):

- A **fixed-time** cron expression (its minute and hour fields both name values, as
  ``0 6 * * 1`` or ``30 2 * * *``) runs at that wall-clock time all year: 06:00
  Europe/Paris is 05:00 UTC in winter and 04:00 UTC in summer.  A local time the clocks
  skip (spring forward: 02:30 on the last Sunday of March in Paris) runs at the first
  minute after the jump (03:00 local); a local time that happens twice (fall back) runs
  once, at its first occurrence (the summer-time one).
- An expression with ``*`` in its minute or hour field (``*/15 * * * *``, ``0 * * * *``)
  follows elapsed time: nothing fires in a skipped hour, and a repeated hour fires in
  both of its passes.
- ``every`` is elapsed time too: ``1d`` is 24 hours, so across a DST change its local
  time moves by an hour.  For "the same local time each day", use cron.

Catch-up: a schedule that finds several due times passed (its workers were down) runs
ONCE, for the latest of them, and says how many it skipped (:func:`decide`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from exportd.errors import RequestInvalid

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
EVERY = re.compile(r"^([1-9][0-9]{0,6})([smhdw])$")
MAX_EVERY_S = 366 * 86_400
# How far a missed-runs count is walked before it is only "at least this many".
CATCH_UP_WALK = 1_000
# How the shortest gap of a cron expression is measured: its runs over the coming year,
# at most this many of them.
GAP_SAMPLE = 1_000


@dataclass(frozen=True, slots=True)
class Recurrence:
    """``cron`` or ``every_s`` (exactly one), read in ``timezone``; ``anchor`` is where
    an ``every`` interval counts from."""

    timezone: str
    anchor: datetime
    cron: str | None = None
    every_s: int | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class Tick:
    """What a tick does with a schedule whose next run is due: run it once for
    ``due_at`` (the latest due time passed), having skipped ``missed`` earlier ones,
    and look again at ``next_due_at``."""

    due_at: datetime
    missed: int
    next_due_at: datetime


def parse_every(text: str) -> int:
    """``"90s"``, ``"15m"``, ``"1h"``, ``"1d"``, ``"7d"``, ``"2w"``: seconds."""
    found = EVERY.match(text.strip())
    seconds = int(found.group(1)) * UNITS[found.group(2)] if found else 0
    if not found or seconds > MAX_EVERY_S:
        raise RequestInvalid(
            f"every must be a number and a unit (s, m, h, d, w) up to 366d, not {text!r}",
            code="every_invalid",
            errors=[{"field": "every", "message": "e.g. 30m, 1h, 1d, 7d"}],
        )
    return seconds


def check_cron(expression: str) -> str:
    """The expression, if it is five cron fields that fire at least once."""
    fields = expression.split()
    try:
        if len(fields) != 5:
            raise CronSimError("a cron expression has five fields: minute hour day month weekday")
        next(CronSim(" ".join(fields), datetime(2000, 1, 1, tzinfo=UTC)))
    except (CronSimError, StopIteration) as exc:
        reason = str(exc) or "it never fires"
        raise RequestInvalid(
            f"not a cron expression exportd can run: {reason}",
            code="cron_invalid",
            errors=[{"field": "cron", "message": f"{reason}; e.g. '0 6 * * 1'"}],
        ) from None
    return " ".join(fields)


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RequestInvalid(
            f"no time zone named {name!r}",
            code="timezone_unknown",
            errors=[{"field": "timezone", "message": "an IANA time zone, e.g. Europe/Paris"}],
        ) from None
    return name


def next_due(recurrence: Recurrence, after: datetime) -> datetime:
    """The first due time strictly after ``after`` (UTC)."""
    if recurrence.every_s is not None:
        step = timedelta(seconds=recurrence.every_s)
        if after < recurrence.anchor:
            return recurrence.anchor + step
        periods = (after - recurrence.anchor) // step
        return recurrence.anchor + (periods + 1) * step
    assert recurrence.cron is not None
    local = after.astimezone(recurrence.zone)
    return next(CronSim(recurrence.cron, local)).astimezone(UTC)


def decide(recurrence: Recurrence, next_due_at: datetime, now: datetime) -> Tick | None:
    """None while ``next_due_at`` is in the future; else the one run to start now."""
    if now < next_due_at:
        return None
    if recurrence.every_s is not None:
        step = timedelta(seconds=recurrence.every_s)
        latest = next_due_at + ((now - next_due_at) // step) * step
        missed = (latest - next_due_at) // step
    else:
        later = _walk(recurrence, next_due_at, until=now, limit=CATCH_UP_WALK)
        latest = later[-1] if later else next_due_at
        missed = len(later)
        if missed == CATCH_UP_WALK:  # a long outage: jump to the last due time itself
            latest = max(latest, _latest_cron(recurrence, now))
    return Tick(due_at=latest, missed=missed, next_due_at=next_due(recurrence, latest))


def shortest_gap_s(recurrence: Recurrence, start: datetime) -> float:
    """The shortest time between two runs: ``every`` itself, or a cron expression's
    over its next year of runs (at most ``GAP_SAMPLE`` of them)."""
    if recurrence.every_s is not None:
        return float(recurrence.every_s)
    runs = _walk(recurrence, start, until=start + timedelta(days=366), limit=GAP_SAMPLE)
    gaps = [(b - a).total_seconds() for a, b in pairwise(runs)]
    return min(gaps, default=float("inf"))


def _walk(
    recurrence: Recurrence, after: datetime, *, until: datetime | None, limit: int
) -> list[datetime]:
    """Due times strictly after ``after`` and not after ``until``, at most ``limit``."""
    found: list[datetime] = []
    current = after
    while len(found) < limit:
        try:
            current = next_due(recurrence, current)
        except StopIteration:  # cronsim gives up after 50 years without a match
            break
        if until is not None and current > until:
            break
        found.append(current)
    return found


def _latest_cron(recurrence: Recurrence, now: datetime) -> datetime:
    """The last due time at or before ``now``, walking back from it."""
    assert recurrence.cron is not None
    local = (now + timedelta(seconds=1)).astimezone(recurrence.zone)
    return next(CronSim(recurrence.cron, local, reverse=True)).astimezone(UTC)
