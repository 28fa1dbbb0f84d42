"""One demo trade as a row to insert: open (no exit price, no close) or closed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def trade_row(opened: datetime, exit_price: float | None, owner_id: str = "bob") -> dict[str, Any]:
    return {
        "owner_id": owner_id,
        "symbol": "ZZZ",
        "direction": "long",
        "status": "open" if exit_price is None else "closed",
        "quantity": 1.0,
        "entry_price": 10.0,
        "exit_price": exit_price,
        "pnl": None if exit_price is None else exit_price - 10.0,
        "opened_at": opened,
        "closed_at": None if exit_price is None else opened + timedelta(hours=1),
        "notes": None,
        "tag": None,
    }
