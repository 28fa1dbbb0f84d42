"""boto3 sessions that share one loader of botocore's service models.

A new session parses botocore's JSON models again when it makes its first client: 0.28 s
of CPU for an S3 client, at every S3 delivery and every storage opened.  The parsed models
never change, so every session of this process shares one loader (0.05 s a client); each
session stays new, resolving its own credentials and settings as before.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

_lock = threading.Lock()
_loader: Any = None


def new_session() -> boto3.session.Session:
    """A ``boto3.session.Session`` whose models come from this process's shared loader."""
    import boto3
    import botocore.session

    session = botocore.session.Session()
    session.register_component("data_loader", _shared_loader())
    return boto3.session.Session(botocore_session=session)


def _shared_loader() -> Any:
    global _loader
    with _lock:
        if _loader is None:
            import botocore.loaders

            _loader = botocore.loaders.create_loader()
        return _loader
