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

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from exportd.documents.templates import SHARED_FONTS_DIR

_LOCK = threading.Lock()


def config_file(extra_dirs: Sequence[str | Path] = ()) -> Path:
    """The ``fonts.conf`` for these folders (written once per set of folders)."""
    dirs = [SHARED_FONTS_DIR, *(Path(d) for d in extra_dirs)]
    key = hashlib.sha256("\n".join(str(d.resolve()) for d in dirs).encode()).hexdigest()[:16]
    home = Path(tempfile.gettempdir()) / f"exportd-fontconfig-{os.getuid()}" / key
    path = home / "fonts.conf"
    if path.is_file():
        return path
    home.mkdir(parents=True, exist_ok=True)
    lines = [f"  <dir>{escape(str(d.resolve()))}</dir>" for d in dirs]
    # Generic families resolve to the bundled Noto Sans (there is nothing else to find).
    generic = "".join(
        f"  <alias><family>{name}</family><prefer><family>Noto Sans</family></prefer></alias>\n"
        for name in ("sans-serif", "serif", "monospace", "system-ui", "emoji")
    )
    text = (
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        "<fontconfig>\n" + "\n".join(lines) + "\n"
        f"  <cachedir>{escape(str(home / 'cache'))}</cachedir>\n{generic}</fontconfig>\n"
    )
    partial = home / f"fonts.conf.{os.getpid()}"
    partial.write_text(text)
    partial.replace(path)  # atomic: another process may be writing the same file
    return path


@contextlib.contextmanager
def only_these_fonts(extra_dirs: Sequence[str | Path] = ()) -> Iterator[None]:
    """While inside, a Fontconfig configuration loaded in this process sees only the
    bundled fonts and ``extra_dirs``."""
    path = str(config_file(extra_dirs))
    with _LOCK:
        before = os.environ.get("FONTCONFIG_FILE")
        os.environ["FONTCONFIG_FILE"] = path
        try:
            yield
        finally:
            if before is None:
                del os.environ["FONTCONFIG_FILE"]
            else:
                os.environ["FONTCONFIG_FILE"] = before
