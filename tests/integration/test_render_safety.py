"""Renderers fetch nothing but the template's own files and data: URIs, whatever the
template's CSS or the data asks for; Typst cannot read outside its folder."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pypdf import PdfReader

from exportd.documents.models import Resume
from exportd.documents.render import Renderer, RenderOptions
from exportd.documents.templates import BUILTIN_DIR, load_template
from exportd.errors import TerminalJobError
from tests.support.browser import require_chromium

PNG_1PX = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, hits
    server.shutdown()
    server.server_close()


def hostile_html_template(folder: Path, port: int) -> Path:
    folder.mkdir()
    (folder / "manifest.toml").write_text(
        'name = "hostile"\nversion = "1"\ntitle = "Hostile"\nengine = "html"\n'
        'entry = "t.html"\nrequired_sections = ["profile"]\n'
    )
    (folder / "own.css").write_text("h1 { color: #123456; }")
    probes = [
        "file:///etc/passwd",
        "FILE:///etc/hostname",
        f"http://127.0.0.1:{port}/css",
        f"http://[::ffff:127.0.0.1]:{port}/v6",
        f"https://127.0.0.1:{port}/tls",
        "../outside.css",
    ]
    imports = "\n".join(f'@import url("{p}");' for p in probes)
    images = "".join(f'<img src="{p}">' for p in probes)
    (folder / "t.html").write_text(
        f'<html><head><link rel="stylesheet" href="own.css"><style>{imports}\n'
        f'body {{ background: url("http://127.0.0.1:{port}/bg"); }}</style></head>'
        f'<body><h1>{{{{ profile.name }}}}</h1>{images}<img src="{PNG_1PX}">'
        f"<p>{{{{ profile.summary }}}}</p></body></html>"
    )
    (folder.parent / "outside.css").write_text("h1 { color: red; }")
    return folder


def resume(summary: str) -> dict:
    raw = {"profile": {"name": "Mallory", "summary": summary}}
    return Resume.model_validate(raw).model_dump(mode="json")


@pytest.mark.parametrize("engine", ["weasyprint", "chromium"])
def test_html_templates_fetch_nothing_outside_their_folder(
    tmp_path: Path, listener: tuple[int, list[str]], engine: str
) -> None:
    if engine == "chromium":
        require_chromium()
    port, hits = listener
    template = load_template(hostile_html_template(tmp_path / "hostile", port))
    data = resume(f'<img src="http://127.0.0.1:{port}/data"> <link href="file:///etc/passwd">')
    renderer = Renderer(pdf_engine=engine)  # type: ignore[arg-type]
    try:
        pdf = renderer.render(template, data, "pdf", RenderOptions("a4", watermark=False))
    finally:
        renderer.close()
    assert pdf.startswith(b"%PDF")
    assert hits == []
    assert b"root:x:0:0" not in pdf
    assert "Mallory" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def test_typst_cannot_read_outside_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "sneaky"
    folder.mkdir()
    (folder / "manifest.toml").write_text(
        'name = "sneaky"\nversion = "1"\ntitle = "S"\nengine = "typst"\nentry = "main.typ"\n'
    )
    (folder / "main.typ").write_text('#read("/etc/passwd")\n#read("../secret.txt")\n')
    (tmp_path / "secret.txt").write_text("top secret")
    with pytest.raises(TerminalJobError) as raised:
        Renderer().render(
            load_template(folder), resume("x"), "pdf", RenderOptions("a4", watermark=False)
        )
    assert raised.value.code == "render_failed"


def test_too_many_pages_is_a_terminal_error() -> None:
    template = load_template(BUILTIN_DIR / "classic")
    raw = {
        "profile": {"name": "Long"},
        "sections": [{"title": f"Part {i}", "items": ["line " * 60] * 12} for i in range(8)],
    }
    data = Resume.model_validate(raw).model_dump(mode="json")
    with pytest.raises(TerminalJobError) as raised:
        Renderer().render(template, data, "pdf", RenderOptions("a4", False, max_pages=2))
    assert raised.value.code == "page_limit_exceeded"


@pytest.mark.parametrize("engine", ["weasyprint", "chromium"])
def test_a_templates_own_files_are_served(tmp_path: Path, engine: str) -> None:
    if engine == "chromium":
        require_chromium()
    folder = tmp_path / "own"
    folder.mkdir()
    (folder / "manifest.toml").write_text(
        'name = "own"\nversion = "1"\ntitle = "Own"\nengine = "html"\nentry = "t.html"\n'
    )
    (folder / "own.css").write_text("h1 { color: #123456; }")
    (folder / "t.html").write_text(
        '<html><head><link rel="stylesheet" href="own.css"></head>'
        "<body><h1>{{ profile.name }}</h1></body></html>"
    )
    renderer = Renderer(pdf_engine=engine)  # type: ignore[arg-type]
    try:
        pdf = renderer.render(
            load_template(folder), resume("x"), "pdf", RenderOptions("a4", watermark=False)
        )
    finally:
        renderer.close()
    content = PdfReader(io.BytesIO(pdf)).pages[0].get_contents().get_data()  # type: ignore[union-attr]
    # #123456 as the fill colour: the stylesheet next to the template was loaded.
    fills = [
        tuple(float(v) for v in found)
        for found in re.findall(rb"([\d.]+) ([\d.]+) ([\d.]+) rg", content)
    ]
    wanted = (0x12 / 255, 0x34 / 255, 0x56 / 255)
    assert any(all(abs(a - b) < 0.001 for a, b in zip(f, wanted, strict=True)) for f in fills)
