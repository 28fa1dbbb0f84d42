"""The page's Jinja2 environment (autoescaped) and the fragments both the routes and the
live stream render."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates

from exportd.web.forms import format_name
from exportd.web.views import Row, human_bytes, share

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["bytes"] = human_bytes
templates.env.globals["share"] = share
templates.env.filters["format_name"] = format_name


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


templates.env.filters["when"] = _when


def render(name: str, **context: Any) -> str:
    return templates.get_template(name).render(**context)


def row_html(row: Row) -> str:
    return render("_row.html", row=row)
