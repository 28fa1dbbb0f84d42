"""How an exportd process ends: without the interpreter's last garbage collections."""

from __future__ import annotations

import gc


def exit_quickly() -> None:
    """Leave this process's heap to the operating system.  At exit the interpreter tears
    its modules down and collects everything they held: a quarter of a second for each
    ``exportd`` process (a command a script runs, a worker stopping, each of its
    children).  Frozen, the heap is skipped; ``atexit`` handlers, ``finally`` blocks and
    the flush of stdout and stderr still run, and nothing exportd keeps needs a garbage
    collection to be closed (databases, files and children are closed explicitly)."""
    gc.freeze()
