"""Document templates: a folder with a ``manifest.toml`` and the files its engine reads.

The manifest names the template, its version (recorded on every export that used it),
the engine (``typst`` or ``html``), the entry file, the sections a document must have,
the most sections it takes, the default page size, and the fonts it uses — files in
its own ``fonts/`` folder or, failing that, in the package's shared one
(``documents/fonts``: Noto Sans, Hebrew, Arabic, Math, Symbols 2, Emoji), which every
built-in template shares instead of each carrying copies.  Engines see only these fonts
(and the operator's ``EXPORTD_TYPST_FONT_DIRS``), so a document looks the same on every
machine, whatever fonts the machine has.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from exportd.errors import ConfigError

BUILTIN_DIR = Path(__file__).parent / "templates"
SHARED_FONTS_DIR = Path(__file__).parent / "fonts"
PageSize = Literal["a4", "letter"]


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    version: str = Field(min_length=1, max_length=32)
    title: str
    description: str = ""
    engine: Literal["typst", "html"]
    entry: str
    required_sections: list[str] = Field(default_factory=lambda: ["profile"])
    max_sections: int = Field(default=20, ge=1, le=200)
    page_size: PageSize = "a4"
    fonts: list[str] = Field(
        default_factory=list, description="font files: in fonts/, else the shared folder"
    )


@dataclass(frozen=True, slots=True)
class Template:
    manifest: Manifest
    folder: Path

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def formats(self) -> tuple[str, ...]:
        # A Typst template makes PDF only; an HTML one serves its HTML too.
        return ("pdf",) if self.manifest.engine == "typst" else ("pdf", "html")

    @property
    def font_dirs(self) -> list[Path]:
        """Where its fonts are: its own ``fonts/`` folder (if any), then the shared one."""
        own = self.folder / "fonts"
        return [own, SHARED_FONTS_DIR] if own.is_dir() else [SHARED_FONTS_DIR]

    def font_file(self, name: str) -> Path | None:
        """The file behind ``fonts/NAME`` in its stylesheet, if it is one of its fonts."""
        if name not in self.manifest.fonts:
            return None
        return next((d / name for d in self.font_dirs if (d / name).is_file()), None)

    def local_file(self, path: Path) -> Path | None:
        """The file at ``path`` if the template may load it: a file in its folder, or
        ``fonts/NAME`` — one of its fonts, wherever that is."""
        path = path.resolve()
        if path.parent == self.folder / "fonts":
            return self.font_file(path.name)
        return path if path.is_relative_to(self.folder) and path.is_file() else None

    def describe(self) -> dict[str, object]:
        return {**self.manifest.model_dump(exclude={"entry"}), "formats": list(self.formats)}


class TemplateCatalogue:
    def __init__(self, templates: list[Template], default: str) -> None:
        self._by_name = {t.name: t for t in templates}
        if default not in self._by_name:
            raise ConfigError(f"the default template {default!r} is not in the catalogue")
        self.default = default

    def get(self, name: str | None) -> Template | None:
        return self._by_name.get(name or self.default)

    def all(self) -> list[Template]:
        return sorted(self._by_name.values(), key=lambda t: t.name)


def load_template(folder: Path) -> Template:
    try:
        raw = tomllib.loads((folder / "manifest.toml").read_text())
        manifest = Manifest.model_validate(raw)
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigError(f"template {folder.name!r}: bad manifest.toml: {exc}") from None
    if not (folder / manifest.entry).is_file():
        raise ConfigError(f"template {manifest.name!r}: its entry {manifest.entry!r} is missing")
    template = Template(manifest, folder.resolve())
    missing = [f for f in manifest.fonts if template.font_file(f) is None]
    if missing:
        raise ConfigError(f"template {manifest.name!r}: fonts missing from fonts/: {missing}")
    return template


@cache
def builtin_catalogue() -> TemplateCatalogue:
    folders = sorted(p for p in BUILTIN_DIR.iterdir() if (p / "manifest.toml").is_file())
    return TemplateCatalogue([load_template(p) for p in folders], default="classic")
