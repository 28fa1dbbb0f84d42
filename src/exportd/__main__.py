"""``python -m exportd`` and the ``exportd`` script.

The command line's modules are imported here, inside the ``try``: a Ctrl-C while they
load (a second or two at start-up) exits 130 as a shell expects, not with the import's
traceback.  Once a command runs, Typer turns Ctrl-C into exit 130 itself.  However it
ends, the process then exits without a last garbage collection (process_exit.py).
"""

from __future__ import annotations

import sys

from exportd.process_exit import exit_quickly


def main() -> None:
    try:
        from exportd.cli import main as run

        run()
    except KeyboardInterrupt:
        sys.exit(130)
    except RuntimeError as exc:
        # Python 3.11 wraps what a class's __set_name__ raises, a Ctrl-C landing there
        # during an import too ("Error calling __set_name__"): still a Ctrl-C.
        if isinstance(exc.__cause__, KeyboardInterrupt):
            sys.exit(130)
        raise
    finally:
        exit_quickly()


if __name__ == "__main__":
    main()
