"""Schedules: recurring exports.  A schedule keeps an export request and when to run it
(a cron expression in a time zone, or a fixed interval); a periodic job on one worker at
a time starts each due run as an ordinary export carrying ``schedule_id``.

- ``recurrence``: when a schedule is due (pure functions: DST, catch-up);
- ``models``: the values; ``requests``: an export request kept as JSON;
- ``service``: what owners do (create, list, change, delete, run now);
- ``runs``: starting one run in a transaction, and counting a schedule's failures;
- ``ticker``: the periodic job that starts due runs; ``worker``: its wiring.
"""
