"""Typed settings, read once at the edge (the CLI or the app factory) and passed in.

Every setting is an environment variable prefixed ``EXPORTD_``; a TOML file named by
``EXPORTD_CONFIG`` may supply the same keys (without the prefix, lower case).  The
environment wins over the file, the file over the defaults.  Nothing here runs at
import time: call :func:`load_settings`.
"""

from exportd.config.connections import ConnectionSpec
from exportd.config.job_settings import KeepPolicy
from exportd.config.keys import hs256_key, jwt_key
from exportd.config.loading import load_settings
from exportd.config.settings import Settings
from exportd.config.values import DEV_SECRET, ENV_PREFIX, web_origin, webhook_key

__all__ = [
    "DEV_SECRET",
    "ENV_PREFIX",
    "ConnectionSpec",
    "KeepPolicy",
    "Settings",
    "hs256_key",
    "jwt_key",
    "load_settings",
    "web_origin",
    "webhook_key",
]
