"""Download file names: a resume's name transliterated to ASCII for the file, and the
exact UTF-8 name kept in ``Content-Disposition``'s ``filename*`` (RFC 6266 / 5987)."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from exportd.documents.export import filename_slug
from exportd.storage.base import content_disposition


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Zoë Ångström", "zoe-angstrom"),
        ("Łukasz Żółkiewski", "lukasz-zolkiewski"),  # Ł has no decomposition: it was dropped
        ("Małgorzata Wąsowska-Łęcka", "malgorzata-wasowska-lecka"),
        ("Дмитрий Шостакович", "dmitriy-shostakovich"),  # Cyrillic
        ("Γιώργος Παπαδόπουλος", "giorgos-papadopoylos"),  # Greek
        ("محمد عبد الله", "mhmd-bd-llh"),  # Arabic: its consonants (vowels are unwritten)
        ("דוד לוי", "dvd-lvy"),  # Hebrew
        ("王小明", "wangxiaoming"),  # Chinese: pinyin
        ("山田 太郎", "shantian-tailang"),  # Japanese kanji: Chinese readings, still ASCII
        ("김민준", "gimminjun"),  # Korean
        ("Søren Kierkegaard-Straße", "soren-kierkegaard-strasse"),
        ("Seán O'Brien", "sean-obrien"),
        ("Ana 🌸", "ana"),  # an emoji is not part of the name
    ],
)
def test_names_are_transliterated_not_dropped(name: str, slug: str) -> None:
    assert filename_slug(name) == slug


@pytest.mark.parametrize("name", ["", "🌸🌸", "!!!", "   "])
def test_a_name_with_nothing_to_spell_gives_no_slug(name: str) -> None:
    # The file is then named after the source alone: "resume-1a2b3c4d.pdf".
    assert filename_slug(name) == ""


def test_a_long_name_is_cut_without_a_trailing_dash() -> None:
    slug = filename_slug("Wolfeschlegelsteinhausenbergerdorff " * 3)
    assert len(slug) <= 40
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug)


@pytest.mark.parametrize(
    ("filename", "fallback"),
    [
        ("Łódź-raport.csv", "Lodz-raport.csv"),
        ("Отчёт.xlsx", "Otchet.xlsx"),
        ("αναφορά.pdf", "anafora.pdf"),
        ("تقرير.csv", "tqryr.csv"),
        ("报告.pdf", "BaoGao.pdf"),
        ('a"b\\c\r\nd.csv', "a_b_c__d.csv"),  # nothing that could end the header
    ],
)
def test_the_header_keeps_the_exact_name_and_a_transliterated_fallback(
    filename: str, fallback: str
) -> None:
    value = content_disposition(filename)
    assert value.isascii()
    assert f'filename="{fallback}"' in value
    exact = value.split("filename*=UTF-8''", 1)[1]
    assert unquote(exact) == filename
