"""Values bound at execution are checked as ``.values()`` checked them."""

from __future__ import annotations

import pytest

from exportd.db.rows import checked
from exportd.db.tables import jobs


def test_known_columns_pass_unchanged() -> None:
    values = {"queue": "default", "task": "t"}
    assert checked(jobs, values) is values


def test_a_key_that_names_no_column_is_refused() -> None:
    with pytest.raises(ValueError, match="jobs has no column fair_kee, quue"):
        checked(jobs, {"queue": "default", "quue": "x", "fair_kee": "k"})
