"""Reading the settings: the environment and the config file, every bad value named by
its variable, and production's refusals of development defaults."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from exportd.config.settings import Settings
from exportd.config.values import (
    DEV_SECRET,
    ENV_PREFIX,
    MIN_SECRET_BYTES,
    MIN_WEBHOOK_SECRET_BYTES,
    webhook_key,
)
from exportd.errors import ConfigError


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment (and config file); bad values raise ConfigError.

    The message names each offending setting by its environment variable so an operator
    can fix it without reading a traceback.
    """
    config_file = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if config_file and not Path(config_file).is_file():
        raise ConfigError(f"{ENV_PREFIX}CONFIG: no such file: {config_file}")
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except SettingsError as exc:  # a list or a table that is not JSON
        raise ConfigError(_describe_unparsed(exc)) from None
    _check_production(settings)
    return settings


def _describe_unparsed(exc: SettingsError) -> str:
    field = re.search(r'field "(\w+)"', str(exc))
    name = ENV_PREFIX + field.group(1).upper() if field else "a setting"
    return f'invalid setting {name}: not JSON (a list is written ["a", "b"])'


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        name = ENV_PREFIX + "_".join(str(part) for part in error["loc"][:1]).upper()
        detail = ".".join(str(part) for part in error["loc"][1:])
        where = f"{name} ({detail})" if detail else name
        lines.append(f"invalid setting {where}: {error['msg']}")
    return "; ".join(lines)


def _check_production(settings: Settings) -> None:
    if settings.env != "production":
        return
    if settings.secret_key.get_secret_value() == DEV_SECRET:
        raise ConfigError(f"{ENV_PREFIX}SECRET_KEY must be set in production")
    if settings.jwt_secret is None and settings.jwks_url is None:
        raise ConfigError(
            f"{ENV_PREFIX}JWT_SECRET or {ENV_PREFIX}JWKS_URL must be set in production"
        )
    _check_secret_lengths(settings)
    if settings.page_sign_in_demo:
        raise ConfigError(
            f"{ENV_PREFIX}PAGE_SIGN_IN_DEMO lets anyone sign in as a demo user: not in production"
        )
    if settings.smtp_url is None:
        raise ConfigError(
            f"{ENV_PREFIX}SMTP_URL must be set in production (emails are a delivery channel)"
        )


def _check_secret_lengths(settings: Settings) -> None:
    """A short key can be guessed offline from one signed link or token: refuse it."""
    keys = [("SECRET_KEY", settings.secret_key, MIN_SECRET_BYTES)]
    if settings.jwt_secret is not None:
        keys.append(("JWT_SECRET", settings.jwt_secret, MIN_SECRET_BYTES))
    if settings.webhook_secret is not None:
        keys.append(("WEBHOOK_SECRET", settings.webhook_secret, MIN_WEBHOOK_SECRET_BYTES))
    for name, secret, minimum in keys:
        size = _key_bytes(name, secret.get_secret_value())
        if size < minimum:
            raise ConfigError(
                f"{ENV_PREFIX}{name} is {size} bytes long: production needs at least "
                f"{minimum} random bytes (e.g. `openssl rand -base64 48`)"
            )


def _key_bytes(name: str, value: str) -> int:
    # A webhook secret is whsec_<base64>: its key is what it decodes to.
    return len(webhook_key(value)) if name == "WEBHOOK_SECRET" else len(value.encode())
