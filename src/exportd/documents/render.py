"""Rendering a document with its template: Typst (fast, self-contained) or HTML through a
sandboxed Jinja2 environment, printed by WeasyPrint.

What every engine's PDF is (docs/documents.md, "What the PDFs contain"): fonts from the
bundle only (``fontconfig.only_these_fonts``; Typst ignores the system's), tagged
(structure for screen readers and text extraction), optionally PDF/A-2b
(``RenderOptions.pdf_standard``), and the same bytes for the same document, template
version and options: dates come from the document (``RenderOptions.created``), never
the clock.

Safety: the data never becomes markup (Typst reads it as JSON from ``sys.inputs``;
Jinja2 autoescapes), and nothing is fetched except the template's own files and
``data:`` URIs — no ``file://`` elsewhere, no network, whatever the data or CSS says.
One engine per worker process keeps its compilers and font configuration warm.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import re
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from exportd.config import Settings
from exportd.documents.fontconfig import only_these_fonts
from exportd.documents.models import Resume
from exportd.documents.templates import PageSize, Template
from exportd.errors import ConfigError, TerminalJobError

# ``url("fonts/…")`` in a template's stylesheet: one of its bundled fonts.
_BUNDLED_FONT = re.compile(r"""url\(\s*(["']?)fonts/""")

# The date a PDF carries when its document has none (a plugin's document): fixed, so the
# same document still prints the same bytes.
FIXED_DATE = "2000-01-01T00:00:00Z"
PdfStandard = Literal["pdf/a-2b"]
# What each engine can produce; Chromium (Skia) writes no PDF/A.
PDF_STANDARDS: dict[str, tuple[str, ...]] = {
    "typst": ("pdf/a-2b",),
    "weasyprint": ("pdf/a-2b",),
    "chromium": (),
}


@dataclass(frozen=True, slots=True)
class RenderOptions:
    paper: PageSize
    watermark: bool
    max_pages: int = 20
    pdf_standard: PdfStandard | None = None
    # When the document last changed (UTC, ISO 8601 ``…Z``): the PDF's creation and
    # modification dates.  Never the clock, so the bytes are reproducible.
    created: str = FIXED_DATE

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.created).astimezone(UTC).replace(microsecond=0)


def engine_of(template: Template, pdf_engine: str) -> str:
    """Which engine prints the template's PDFs: ``typst``, ``weasyprint`` or ``chromium``."""
    return "typst" if template.manifest.engine == "typst" else pdf_engine


@dataclass(frozen=True, slots=True)
class Misfit:
    """Why a document's sections do not fit a template: ``document_sections_missing``
    (a required one is absent) or ``too_many_sections``."""

    code: str
    message: str
    reason: str  # the message without naming the template: "missing sections: work"


def misfit(section_names: Sequence[str], template: Template) -> Misfit | None:
    """What the template needs, named exactly; None when the sections fit."""
    present = set(section_names)
    missing = [s for s in template.manifest.required_sections if s not in present]
    problems = []
    if missing:
        problems.append(f"missing sections: {', '.join(missing)}")
    count = len(section_names)
    if count > template.manifest.max_sections:
        problems.append(
            f"{count} sections, the template takes at most {template.manifest.max_sections}"
        )
    if not problems:
        return None
    reason = "; ".join(problems)
    return Misfit(
        "document_sections_missing" if missing else "too_many_sections",
        f"the document does not fit the {template.name!r} template: {reason}",
        reason,
    )


def check_sections(resume: Resume, template: Template) -> None:
    """Before any rendering: a document that does not fit fails terminally."""
    found = misfit(resume.section_names(), template)
    if found is not None:
        raise TerminalJobError(found.message, code=found.code)


class Renderer:
    """Typst templates compile with Typst; HTML templates print with ``pdf_engine``.

    One thread at a time: a Typst compiler refuses a second caller while it compiles
    (``RuntimeError: Already borrowed``). Workers run one job per child process; the API
    compiles previews in processes of their own (``preview_pool``)."""

    def __init__(
        self,
        *,
        pdf_engine: Literal["weasyprint", "chromium"] = "weasyprint",
        chromium_path: str | None = None,
        chromium_restart_after: int = 200,
        typst_font_dirs: Sequence[str] = (),
    ) -> None:
        self.pdf_engine = pdf_engine
        self.typst_font_dirs = list(typst_font_dirs)
        self.chromium_path = chromium_path
        self.chromium_restart_after = chromium_restart_after
        self._typst: dict[Path, Any] = {}
        self._jinja: dict[Path, SandboxedEnvironment] = {}
        self._fonts: Any = None
        self._chromium: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Renderer:
        return cls(
            pdf_engine=settings.pdf_engine,
            chromium_path=settings.chromium_path,
            chromium_restart_after=settings.chromium_restart_after,
            typst_font_dirs=settings.typst_font_dirs,
        )

    def render(
        self, template: Template, data: dict[str, Any], fmt: str, options: RenderOptions
    ) -> bytes:
        if fmt not in template.formats:
            raise TerminalJobError(
                f"the {template.name!r} template makes {', '.join(template.formats)}, not {fmt}",
                code="format_not_supported",
            )
        if template.manifest.engine == "typst":
            return self._typst_pdf(template, data, options)
        html = self.html(template, data, options)
        if fmt == "html":
            return html.encode()
        engine = engine_of(template, self.pdf_engine)
        if options.pdf_standard is not None and options.pdf_standard not in PDF_STANDARDS[engine]:
            # Refused up front by the API (pdf_standard_unsupported); a job that slips
            # through never makes a file that claims what it is not.
            raise TerminalJobError(
                f"the {engine} engine cannot make {options.pdf_standard}",
                code="pdf_standard_unsupported",
            )
        if engine == "chromium":
            return self._chromium_pdf(template, html, options)
        return self._weasyprint_pdf(template, html, options)

    # -- Typst -------------------------------------------------------------------------

    def _typst_pdf(self, template: Template, data: dict[str, Any], options: RenderOptions) -> bytes:
        pdf = self.typst(template, data, options, "pdf")
        assert isinstance(pdf, bytes)  # one PDF, not per-page images
        _check_pages(_count_pages(pdf), options)
        return pdf

    def typst(
        self,
        template: Template,
        data: dict[str, Any],
        options: RenderOptions,
        fmt: Literal["pdf", "svg"],
    ) -> bytes | list[bytes]:
        """Compile with the template's warm compiler: a PDF, or SVG pages for a preview."""
        import typst

        compiler = self._typst.get(template.folder)
        if compiler is None:
            # root confines file access to the template's folder; fonts are the bundled
            # ones and the operator's EXPORTD_TYPST_FONT_DIRS, never the system's.
            font_paths = [str(d) for d in template.font_dirs] + self.typst_font_dirs
            compiler = typst.Compiler(
                root=str(template.folder),
                ignore_system_fonts=True,
                font_paths=font_paths,
            )
            self._typst[template.folder] = compiler
        inputs = {"data": json.dumps(data), "options": json.dumps(asdict(options))}
        try:
            output = compiler.compile(
                input=str(template.folder / template.manifest.entry),
                format=fmt,
                sys_inputs=inputs,
                # Typst tags its PDFs; its standards check the document (a font that
                # cannot be embedded is an error, not a non-conforming file).
                pdf_standards=["a-2b"] if options.pdf_standard == "pdf/a-2b" else [],
                timestamp=options.created_at,
            )
        except typst.TypstError as exc:
            raise TerminalJobError(
                f"the {template.name!r} template failed: {str(exc).splitlines()[0][:300]}",
                code="render_failed",
            ) from None
        assert output is not None
        return output

    # -- HTML --------------------------------------------------------------------------

    def html(
        self,
        template: Template,
        data: dict[str, Any],
        options: RenderOptions,
        *,
        fonts_url: str | None = None,
    ) -> str:
        """The template's HTML.  Its stylesheet names bundled fonts relative to the
        template's folder (what the PDF printer reads); ``fonts_url`` makes them point
        where a browser can fetch them instead (the page's previews)."""
        env = self._jinja.get(template.folder)
        if env is None:
            env = SandboxedEnvironment(
                loader=FileSystemLoader(template.folder), autoescape=True, undefined=StrictUndefined
            )
            env.filters["text_dir"] = text_dir
            self._jinja[template.folder] = env
        css_file = template.folder / "style.css"
        css = css_file.read_text() if css_file.is_file() else ""
        if fonts_url is not None:
            css = _BUNDLED_FONT.sub(lambda m: f"url({m[1]}{fonts_url}", css)
        # ``data`` is a validated model's dump: every field is there, if only as None.
        context = {**printable(data), "options": asdict(options), "css": css}
        try:
            return env.get_template(template.manifest.entry).render(context)
        except TemplateError as exc:
            # A template that breaks (or tries the sandbox's walls) fails the same way
            # on every attempt: terminal, naming the template, not retried.
            raise TerminalJobError(
                f"the {template.name!r} template failed: {type(exc).__name__}: {str(exc)[:300]}",
                code="render_failed",
            ) from None

    def _weasyprint_pdf(self, template: Template, html: str, options: RenderOptions) -> bytes:
        try:
            import weasyprint
            from weasyprint.text.fonts import FontConfiguration
        except (ImportError, OSError) as exc:  # Pango missing: say what to install
            raise ConfigError(
                "HTML templates need WeasyPrint and Pango (Debian: apt install libpango-1.0-0 "
                f"libpangoft2-1.0-0): {exc}"
            ) from None
        if self._fonts is None:
            # Fontconfig reads FONTCONFIG_FILE as the configuration loads: only the
            # bundled fonts (and the operator's folders) exist for this one.
            with only_these_fonts(self.typst_font_dirs):
                self._fonts = FontConfiguration()
        pdf_options: dict[str, Any] = {"pdf_tags": True}
        if options.pdf_standard == "pdf/a-2b":
            pdf_options["pdf_variant"] = "pdf/a-2b"
        try:
            document = weasyprint.HTML(
                string=html,
                base_url=template.folder.as_uri() + "/",
                url_fetcher=_confined_fetcher(weasyprint, template),
            ).render(font_config=self._fonts, **pdf_options)
        except (AssertionError, ValueError, TypeError, KeyError, IndexError) as exc:
            # A layout bug the same document hits on every attempt: terminal, not retried.
            raise TerminalJobError(
                f"the {template.name!r} template could not be laid out: {type(exc).__name__}",
                code="render_failed",
            ) from exc
        _check_pages(len(document.pages), options)
        stamp = options.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        document.metadata.created = document.metadata.modified = stamp
        # The file identifier: from the dates and layout, not random (reproducible).
        identifier = hashlib.sha256(html.encode() + stamp.encode()).hexdigest()[:32].encode()
        with warnings.catch_warnings():
            # WeasyPrint opens its sRGB profile for PDF/A and leaves closing it to the
            # garbage collector (a ResourceWarning, harmless): one job per process.
            warnings.simplefilter("ignore", ResourceWarning)
            pdf: bytes = document.write_pdf(pdf_identifier=identifier, **pdf_options)
            if "pdf_variant" in pdf_options:
                gc.collect()
        return pdf

    def _chromium_pdf(self, template: Template, html: str, options: RenderOptions) -> bytes:
        if self._chromium is None:
            from exportd.documents.chromium import ChromiumEngine

            self._chromium = ChromiumEngine(
                executable=self.chromium_path,
                restart_after=self.chromium_restart_after,
                font_dirs=self.typst_font_dirs,
            )
        pdf: bytes = self._chromium.pdf(template, html, options.paper, created=options.created_at)
        _check_pages(_count_pages(pdf), options)
        return pdf

    def close(self) -> None:
        """Stop a browser this renderer started (Typst and WeasyPrint hold no process)."""
        if self._chromium is not None:
            self._chromium.close()
            self._chromium = None


# Characters HTML cannot carry or that engines choke on (WeasyPrint's layout asserts on
# U+2029): line and paragraph separators become line breaks, other controls go.
_SEPARATORS = str.maketrans({"\u2028": "\n", "\u2029": "\n"})
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def printable(value: Any) -> Any:
    """The document with every string fit for HTML (structure unchanged)."""
    if isinstance(value, str):
        return _UNPRINTABLE.sub("", value.translate(_SEPARATORS))
    if isinstance(value, dict):
        return {key: printable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [printable(item) for item in value]
    return value


def text_dir(text: object) -> str:
    """``rtl`` when the text's first strong character reads right to left (Hebrew,
    Arabic…), else ``ltr``: templates write ``dir="{{ text | text_dir }}"``, which every
    engine honours (WeasyPrint has no ``dir="auto"``)."""
    for char in str(text or ""):
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return "ltr"


def _confined_fetcher(weasyprint: Any, template: Template) -> Any:
    """A fetcher that serves ``data:`` URIs, files inside the template's folder and its
    fonts (``fonts/NAME``, maybe in the shared folder), and nothing else."""

    class Confined(weasyprint.urls.URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file" and not parts.netloc:
                path = template.local_file(Path(unquote(parts.path)))
                if path is not None:
                    return super().fetch(path.as_uri(), headers)
            raise ValueError("refused: templates may load their own files and data: URIs only")

    return Confined(allowed_protocols=("data", "file"), allow_redirects=False, timeout=2)


def _count_pages(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


def _check_pages(pages: int, options: RenderOptions) -> None:
    if pages > options.max_pages:
        raise TerminalJobError(
            f"the document runs to {pages} pages; at most {options.max_pages} are allowed",
            code="page_limit_exceeded",
        )
