"""The notification email: what it says, and the headers mail systems expect of it.

RFC 5322 requires ``Date``; ``Message-ID`` carries a real domain (spam filters score a
bare ``@exportd`` down) and stays the same across a delivery's retries, so a receiver
that got the first attempt can drop a duplicate; ``Auto-Submitted: auto-generated``
(RFC 3834) keeps vacation responders from answering. The body is a text part with an
HTML alternative that says the same.
"""

from __future__ import annotations

import html
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Row

from exportd.config import Settings

Attachment = tuple[bytes, str, str]  # data, file name, content type


def compose_email(
    settings: Settings,
    delivery: Row[Any],
    export: Row[Any],
    link: str | None,
    attachment: Attachment | None,
    *,
    now: datetime,
) -> EmailMessage:
    subject, paragraphs = _wording(delivery.event, export, link, attachment)
    message = EmailMessage()
    message["From"] = settings.email_from
    message["To"] = delivery.target
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{delivery.id}@{message_domain(settings)}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n\n".join(paragraphs) + "\n")
    message.add_alternative(_html(subject, paragraphs, link), subtype="html")
    if attachment:
        data, filename, content_type = attachment
        main, _, sub = content_type.partition(";")[0].partition("/")
        message.add_attachment(data, maintype=main, subtype=sub, filename=filename)
    return message


def message_domain(settings: Settings) -> str:
    """EXPORTD_EMAIL_DOMAIN, else the From address's domain, else the public URL's host."""
    if settings.email_domain:
        return settings.email_domain
    _, address = parseaddr(settings.email_from)
    domain = address.rpartition("@")[2]
    if domain and domain != "localhost":
        return domain
    return urlsplit(settings.public_url).hostname or "localhost"


def _wording(
    event: str, export: Row[Any], link: str | None, attachment: Attachment | None
) -> tuple[str, list[str]]:
    what = f"{export.source} export ({export.format})"
    if event != "export.completed":
        error = export.error or {}
        reason = error.get("message", "unknown error")
        return f"Your {what} failed", [
            f"Your {what} could not be produced: {reason}",
            "You can retry it from the application.",
        ]
    result = export.result or {}
    paragraphs = [
        f"Your {what} is ready: {result.get('filename')}, "
        f"{result.get('row_count', 0)} rows, {_size(int(result.get('size', 0)))}."
    ]
    if link:
        paragraphs.append(
            f"Download it here (the page shows the file; its button downloads it once):\n{link}"
        )
    if attachment:
        paragraphs.append("The file is attached.")
    paragraphs.append(f"The file is kept until {export.expires_at:%Y-%m-%d %H:%M} UTC.")
    return f"Your {what} is ready", paragraphs


def _html(subject: str, paragraphs: list[str], link: str | None) -> str:
    parts = []
    for paragraph in paragraphs:
        text = html.escape(paragraph).replace("\n", "<br>\n")
        if link:
            escaped = html.escape(link)
            text = text.replace(escaped, f'<a href="{escaped}">Download the file</a>')
        parts.append(f"<p>{text}</p>")
    body = "\n".join(parts)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )


def _size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover
