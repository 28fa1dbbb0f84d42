from __future__ import annotations

import pytest

from exportd.delivery.smtp import SmtpServer
from exportd.errors import ConfigError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:2525", ("127.0.0.1", 2525, "plain", None, None)),
        (
            "smtp+starttls://mailer:p%40ss@mail.example",
            ("mail.example", 587, "starttls", "mailer", "p@ss"),
        ),
        ("smtps://u:p@mail.example", ("mail.example", 465, "tls", "u", "p")),
    ],
)
def test_smtp_urls_are_read(url: str, expected: tuple[object, ...]) -> None:
    server = SmtpServer.from_url(url)
    assert (server.host, server.port, server.security, server.username, server.password) == expected


@pytest.mark.parametrize(
    "url", ["http://mail.example", "smtp://", "smtp://h:notaport", "mail.example"]
)
def test_bad_smtp_urls_name_the_setting(url: str) -> None:
    with pytest.raises(ConfigError, match="EXPORTD_SMTP_URL"):
        SmtpServer.from_url(url)


def test_the_password_never_shows_in_its_repr() -> None:
    assert "secret" not in repr(SmtpServer.from_url("smtps://u:secret@mail.example"))


def test_an_unreachable_server_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"cannot reach the SMTP server at 127\.0\.0\.1:1"):
        SmtpServer.from_url("smtp://127.0.0.1:1").check(timeout=2)
