"""The notification email's headers and parts (the e2e delivery test sends one for real)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import SimpleNamespace
from typing import Any

import pytest

from exportd.config import load_settings
from exportd.delivery.emails import compose_email, message_domain

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def _compose(link: str | None = "https://x.example/v1/downloads/t?a=1&b=<2>", **settings: Any):
    delivery = SimpleNamespace(id="d-1", event="export.completed", target="bob@example.com")
    export = SimpleNamespace(
        source="trades",
        format="csv",
        result={"filename": "trades <&>.csv", "row_count": 3, "size": 2048},
        expires_at=NOW,
        error=None,
    )
    return compose_email(load_settings(**settings), delivery, export, link, None, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "domain"),
    [
        ({"email_domain": "mail.acme.example"}, "mail.acme.example"),
        ({"email_from": "Acme exports <exports@acme.example>"}, "acme.example"),
        ({"public_url": "https://exports.acme.example/base"}, "exports.acme.example"),
    ],
)
def test_the_message_id_is_on_a_real_domain(settings: dict[str, str], domain: str) -> None:
    assert message_domain(load_settings(**settings)) == domain
    assert _compose(**settings)["Message-ID"] == f"<d-1@{domain}>"


def test_headers_mail_systems_expect() -> None:
    message = _compose(email_from="Acme <exports@acme.example>")
    assert parsedate_to_datetime(message["Date"]) == NOW
    assert message["From"] == "Acme <exports@acme.example>"
    assert message["Auto-Submitted"] == "auto-generated"


def test_a_text_part_and_an_html_part_say_the_same_and_html_is_escaped() -> None:
    message = _compose()
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    page = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "trades <&>.csv" in text
    assert "https://x.example/v1/downloads/t?a=1&b=<2>" in text
    assert "trades &lt;&amp;&gt;.csv" in page
    assert '<a href="https://x.example/v1/downloads/t?a=1&amp;b=&lt;2&gt;">' in page
    assert "<&>" not in page


def test_a_bad_email_domain_stops_the_start() -> None:
    from exportd.errors import ConfigError

    with pytest.raises(ConfigError, match="EXPORTD_EMAIL_DOMAIN"):
        load_settings(email_domain="evil.example>\r\nBcc: x@y")
