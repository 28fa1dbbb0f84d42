"""What the page says when an action is refused: the error's code in words a user can
act on.  The code itself stays in the page (``data-code`` and small print), for support
and for scripts, but it is never the message.

A code without words of its own here falls back to the service's message, which is
already a sentence ("the free plan does not include parquet exports").
"""

from __future__ import annotations

import re

NOTICES = {
    "csrf_failed": "This page is out of date: reload it and try again.",
    "database_unavailable": "Exports are unavailable for a moment. Nothing was lost.",
    "source_unknown": "Choose what to export.",
    "request_invalid": "Some fields need fixing.",
    "params_invalid": "Some filters need fixing.",
    "active_exports_limit": (
        "You have as many exports running as your plan allows: one must finish first."
    ),
    "idempotency_key_reused": "This form was already sent with other values: reload the page.",
    "export_not_found": "That export no longer exists.",
    "export_not_active": "Already finished, nothing to cancel.",
    "export_active": "Cancel it first: it is still running.",
    "export_not_failed": "Only a failed export can be retried.",
    "export_expired": "Its file was removed after the retention period: export it again.",
    "export_not_ready": "Its file is not ready yet.",
    "retry_rate_limited": "It was retried moments ago.",
    "export_again_owner_only": (
        "Only its owner can export it again (an admin may retry a failed one)."
    ),
    "document_not_found": "That resume was not found.",
    "preview_rate_limited": "Too many previews in a minute.",
    "preview_busy": "Previews are busy: try again in a moment.",
    "preview_timed_out": "The preview took too long.",
    "session_ended": "Your session has ended: sign in again.",
    "session_expired": "Your session has expired: sign in again.",
}

_BARE_CODE = re.compile(r"[a-z0-9_]+")


def notice_text(code: str, message: str) -> str:
    """The words for a refusal: ours for the code, else the service's as a sentence."""
    return NOTICES.get(code) or sentence(message) or "That did not work."


def sentence(message: str | None) -> str | None:
    """A service's message as a sentence; None when there is none (or only a code)."""
    text = (message or "").strip()
    if not text or _BARE_CODE.fullmatch(text):  # a bare code is no message
        return None
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")")) else text + "."
