"""``python -m exportd`` and the ``exportd`` script.

The command line's modules are imported here, inside the ``try``: a Ctrl-C while they
load (a second or two at start-up) exits 130 as a shell expects, not with the import's
traceback.  Once a command runs, Typer turns Ctrl-C into exit 130 itself.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from exportd.cli import main as run

        run()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
