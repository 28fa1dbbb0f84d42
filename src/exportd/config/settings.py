"""The settings, one frozen object composed of its sections."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from exportd.config.job_settings import QueueSettings, ScheduleSettings, WorkerSettings
from exportd.config.service_settings import ApiSettings, DeliverySettings, StateSettings
from exportd.config.values import ENV_PREFIX


# Sections listed last first: pydantic collects fields from the last base up, so the
# settings keep their documented order (state, delivery, API, schedules, queue, worker).
class Settings(
    WorkerSettings,
    QueueSettings,
    ScheduleSettings,
    ApiSettings,
    DeliverySettings,
    StateSettings,
    BaseSettings,
):
    """All of exportd's settings.  See docs/settings.md for the reference."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(f"{ENV_PREFIX}CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)
