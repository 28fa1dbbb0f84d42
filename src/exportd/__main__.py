"""``python -m exportd`` and the ``exportd`` script.

The command line's modules are imported here, inside the ``try``: a Ctrl-C while they
load (a second or two at start-up) exits 130 as a shell expects, not with the import's
traceback.  Once a command runs, Typer turns Ctrl-C into exit 130 itself.  However it
ends, the process then exits without a last garbage collection (process_exit.py).

A Ctrl-C does not always arrive as a KeyboardInterrupt: code it lands in may wrap what
it raises (Python 3.11's ``__set_name__`` in a RuntimeError, pydantic-core building a
validator in a SchemaError).  So the SIGINT handler notes that it fired, and whatever
then ends start-up exits 130 quietly.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from exportd.process_exit import exit_quickly

_interrupted = False


def _on_sigint(_signum: int, _frame: FrameType | None) -> None:
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt  # as Python's own handler does


def main() -> None:
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        from exportd.cli import main as run

        run()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if _interrupted or isinstance(exc.__cause__, KeyboardInterrupt):
            sys.exit(130)
        raise
    finally:
        exit_quickly()


if __name__ == "__main__":
    main()
