"""exportd: asynchronous exports with a durable queue, streaming writers and signed links."""

__version__ = "0.1.0"
