"""Templates: the Jinja2 sandbox holds against escapes (each a terminal error, never
retried), data never becomes template code, and template names cannot climb out."""

from __future__ import annotations

from pathlib import Path

import pytest

from exportd.documents.models import Resume
from exportd.documents.render import Renderer, RenderOptions
from exportd.documents.templates import builtin_catalogue, load_template
from exportd.errors import TerminalJobError, classify

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].system('id') }}",
    "{{ profile.__class__.__init__.__globals__ }}",
    "{{ '{0.__class__.__mro__}'.format(profile) }}",
    "{{ '%s' % profile.__class__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ request.application.__globals__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ options.__setitem__('watermark', False) }}",
]
DATA = Resume.model_validate({"profile": {"name": "Mallory"}}).model_dump(mode="json")


def hostile(folder: Path, body: str) -> Path:
    folder.mkdir()
    (folder / "manifest.toml").write_text(
        'name = "hostile"\nversion = "1"\ntitle = "H"\nengine = "html"\nentry = "t.html"\n'
    )
    (folder / "t.html").write_text(f"<p>{body}</p>")
    return folder


@pytest.mark.parametrize("body", ESCAPES)
def test_sandbox_escapes_fail_terminally(tmp_path: Path, body: str) -> None:
    template = load_template(hostile(tmp_path / "t", body))
    with pytest.raises(TerminalJobError) as raised:
        Renderer().render(template, DATA, "html", RenderOptions("a4", False))
    assert raised.value.code == "render_failed"
    assert classify(raised.value).retryable is False


@pytest.mark.parametrize(
    "value",
    [
        "{{ 7*7 }}",
        "{% for x in range(9999999) %}x{% endfor %}",
        "{{ cycler.__init__.__globals__ }}",
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
    ],
)
def test_data_is_text_never_template_code_or_markup(value: str) -> None:
    template = builtin_catalogue().get("modern")
    assert template is not None
    data = Resume.model_validate({"profile": {"name": value}, "work": []}).model_dump(mode="json")
    html = Renderer().html(template, data, RenderOptions("a4", False))
    assert value.replace('"', "&#34;").replace("<", "&lt;").replace(">", "&gt;") in html
    assert "<script>" not in html
    assert "<img src=x" not in html


@pytest.mark.parametrize(
    "name", ["../classic", "../../etc/passwd", "/etc/passwd", "classic/../modern", "CLASSIC", ""]
)
def test_template_names_are_names_not_paths(name: str) -> None:
    found = builtin_catalogue().get(name)
    # The empty name means "the default"; nothing else but an exact name matches.
    assert found is None or (name == "" and found.name == builtin_catalogue().default)
