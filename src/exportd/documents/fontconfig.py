"""A Fontconfig configuration that knows only exportd's fonts.

WeasyPrint (through Pango) and Chromium find fonts with Fontconfig, whose default
configuration lists every font on the machine: a character the bundled fonts lack, or a
generic family (``sans-serif``), would print with whatever the machine has — different
output on every machine, and a font that may not even allow embedding.  This writes a
``fonts.conf`` naming only the shared fonts folder and the operator's font folders
(``EXPORTD_TYPST_FONT_DIRS``), with its own cache; the engines load it through
``FONTCONFIG_FILE`` (an environment variable Fontconfig reads when a configuration is
loaded: WeasyPrint's ``FontConfiguration()``, a browser's start).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from exportd.documents.templates import SHARED_FONTS_DIR

_LOCK = threading.Lock()
_ENV_LOCK = threading.Lock()
_WRITTEN: dict[tuple[str, ...], Path] = {}


def config_file(extra_dirs: Sequence[str | Path] = ()) -> Path:
    """The ``fonts.conf`` for these folders, written once per process and set of folders
    into a private temporary folder (``mkdtemp``: mode 0700, a name no one can guess, so
    no other local user can plant a configuration or a font; removed at exit)."""
    dirs = [SHARED_FONTS_DIR.resolve(), *(Path(d).resolve() for d in extra_dirs)]
    key = tuple(str(d) for d in dirs)
    with _LOCK:
        path = _WRITTEN.get(key)
        if path is None:
            path = _WRITTEN[key] = _write(dirs)
    return path


def _write(dirs: list[Path]) -> Path:
    home = Path(tempfile.mkdtemp(prefix="exportd-fontconfig-"))
    atexit.register(_remove, home, os.getpid())
    lines = [f"  <dir>{escape(str(d))}</dir>" for d in dirs]
    # Generic families resolve to bundled fonts (there is nothing else to find).
    generic = "".join(
        f"  <alias><family>{name}</family><prefer><family>{font}</family></prefer></alias>\n"
        for name, font in (
            ("sans-serif", "Noto Sans"),
            ("serif", "Noto Sans"),
            ("monospace", "Noto Sans"),
            ("system-ui", "Noto Sans"),
            ("emoji", "Noto Emoji"),
        )
    )
    text = (
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        "<fontconfig>\n" + "\n".join(lines) + "\n"
        f"  <cachedir>{escape(str(home / 'cache'))}</cachedir>\n{generic}</fontconfig>\n"
    )
    path = home / "fonts.conf"
    path.write_text(text)
    return path


def _remove(home: Path, owner: int) -> None:
    # A forked child inherits the exit hook: only the process that wrote it removes it.
    if os.getpid() == owner:
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def only_these_fonts(extra_dirs: Sequence[str | Path] = ()) -> Iterator[None]:
    """While inside, a Fontconfig configuration loaded in this process sees only the
    bundled fonts and ``extra_dirs``."""
    path = str(config_file(extra_dirs))
    with _ENV_LOCK:
        before = os.environ.get("FONTCONFIG_FILE")
        os.environ["FONTCONFIG_FILE"] = path
        try:
            yield
        finally:
            if before is None:
                del os.environ["FONTCONFIG_FILE"]
            else:
                os.environ["FONTCONFIG_FILE"] = before
