"""The settings reference, generated from the settings model: ``python -m exportd.settings_doc``.

docs/settings.md is this module's output; a test fails when the two drift apart.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, SecretStr

from exportd.config import ENV_PREFIX, Settings

HEADER = """# Settings

Every setting is an environment variable prefixed `EXPORTD_`. The same keys, lower case
and without the prefix, may come from a TOML file named by `EXPORTD_CONFIG`; the
environment wins over the file. A value that does not validate stops `exportd` at
start with a message that names the variable.

This page is generated from `exportd.config.Settings` by
`python -m exportd.settings_doc > docs/settings.md`.

| variable | default | what |
| --- | --- | --- |
"""


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    if field.default_factory is not None:
        return "CPU count" if name == "worker_concurrency" else "(computed)"
    value: Any = field.default
    if isinstance(value, SecretStr):
        return "a development value"
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_none=True)
    if value is None:
        return "unset"
    if isinstance(value, dict | list | bool):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def settings_markdown() -> str:
    rows = [
        f"| `{ENV_PREFIX}{name.upper()}` | {_default(name)} | {field.description or ''} |"
        for name, field in Settings.model_fields.items()
    ]
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(settings_markdown(), end="")
