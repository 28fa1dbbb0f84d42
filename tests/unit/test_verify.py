"""``exportd verify``: an untouched download verifies; a flipped byte, a missing part, an
altered manifest, a missing signature or the wrong key each fail with exit 1 and a line
naming exactly that, never a traceback; what cannot be checked at all exits 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from exportd import cli_verify
from exportd.config import load_settings
from exportd.manifest_keys import derived, key_set
from tests.support.split import SECRET, Written, keys_file, write_split

ROOT = Path(__file__).resolve().parents[2]
ROWS = 9_000
PART = "trades-20261202-ab12cd34-part{:04d}.csv"


def run(*args: str | Path, env: dict[str, object] | None = None) -> Result:
    app = typer.Typer()
    cli_verify.register(app, lambda: load_settings(**(env or {})))
    app.command("noop")(lambda: None)  # two commands: `verify` stays a subcommand
    return CliRunner().invoke(app, ["verify", *map(str, args)])


def split_zip(folder: Path) -> Written:
    return write_split(folder / "store", "csv", {"split": {"rows": 3_000, "deliver": "zip"}}, ROWS)


def split_parts(folder: Path) -> Path:
    """The parts downloaded one by one into a folder: the manifest's path."""
    written = write_split(
        folder / "store", "csv", {"split": {"rows": 3_000, "deliver": "parts"}}, ROWS
    )
    return written.main


def rewritten(source: Path, target: Path, *, drop: str = "", change: dict[str, bytes]) -> Path:
    """The zip again, without ``drop`` and with some members' bytes replaced."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            if info.filename != drop:
                new.writestr(info, change.get(info.filename, old.read(info)))
    return target


def flip_a_byte(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_an_untouched_zip_verifies(tmp_path: Path) -> None:
    written = split_zip(tmp_path)
    done = run(written.main, "--key", keys_file(tmp_path))
    assert done.exit_code == 0, done.output
    assert "signature: good, by key" in done.output
    assert all(f"{PART.format(n)}: ok" in done.output for n in (1, 2, 3))
    assert "verified: 3 parts, 9,000 rows" in done.output


def test_a_flipped_byte_in_a_part_names_that_part(tmp_path: Path) -> None:
    written = split_zip(tmp_path)
    with zipfile.ZipFile(written.main) as archive:
        info = archive.getinfo(PART.format(2))
    # Inside the member's data: past its local header (30 bytes, the name, ZIP64 extra).
    flip_a_byte(written.main, info.header_offset + 30 + len(info.filename) + 20 + 5_000)
    done = run(written.main, "--key", keys_file(tmp_path))
    assert done.exit_code == 1, done.output
    assert f"{PART.format(2)}: ALTERED" in done.output
    assert f"{PART.format(1)}: ok" in done.output
    assert f"{PART.format(3)}: ok" in done.output
    assert "signature: good" in done.output
    assert "NOT verified: 1 problem" in done.output
    assert "Traceback" not in done.output


def test_a_flipped_byte_in_a_downloaded_part_is_found_by_its_sha256(tmp_path: Path) -> None:
    manifest = split_parts(tmp_path)
    flip_a_byte(manifest.parent / PART.format(3), 100)
    done = run(manifest, "--key", keys_file(tmp_path))
    assert done.exit_code == 1
    assert f"{PART.format(3)}: ALTERED: its SHA-256 is not the manifest's" in done.output


def test_a_missing_part_is_named(tmp_path: Path) -> None:
    written = split_zip(tmp_path)
    without = rewritten(written.main, tmp_path / "without.zip", drop=PART.format(1), change={})
    done = run(without, "--key", keys_file(tmp_path))
    assert done.exit_code == 1
    assert f"{PART.format(1)}: MISSING" in done.output
    manifest = split_parts(tmp_path / "parts")
    (manifest.parent / PART.format(2)).unlink()
    done = run(manifest.parent, "--key", keys_file(tmp_path))  # the folder works too
    assert done.exit_code == 1
    assert f"{PART.format(2)}: MISSING" in done.output


def test_a_truncated_part_says_its_size(tmp_path: Path) -> None:
    manifest = split_parts(tmp_path)
    part = manifest.parent / PART.format(1)
    size = part.stat().st_size
    part.write_bytes(part.read_bytes()[:-10])
    done = run(manifest, "--key", keys_file(tmp_path))
    assert f"ALTERED: {size - 10:,} bytes, the manifest says {size:,}" in done.output


def test_an_altered_manifest_fails_its_signature(tmp_path: Path) -> None:
    written = split_zip(tmp_path)
    with zipfile.ZipFile(written.main) as archive:
        manifest = archive.read("manifest.json")
    # A part replaced together with its line in the manifest: only the signature tells.
    forged = manifest.replace(b'"rows": 3000', b'"rows": 2999', 1)
    altered = rewritten(written.main, tmp_path / "forged.zip", change={"manifest.json": forged})
    done = run(altered, "--key", keys_file(tmp_path))
    assert done.exit_code == 1
    assert "signature: BAD: manifest.json or its signature was changed after signing" in (
        done.output
    )


def test_a_missing_signature_is_named(tmp_path: Path) -> None:
    written = split_zip(tmp_path)
    unsigned = rewritten(
        written.main, tmp_path / "unsigned.zip", drop="manifest.json.sig", change={}
    )
    done = run(unsigned, "--key", keys_file(tmp_path))
    assert done.exit_code == 1
    assert "signature: MISSING: manifest.json.sig is not there" in done.output


def test_an_extra_file_in_the_zip_is_named(tmp_path: Path) -> None:
    written = split_zip(tmp_path)
    extra = tmp_path / "extra.zip"
    rewritten(written.main, extra, change={})
    with zipfile.ZipFile(extra, "a") as archive:
        archive.writestr("invoice.pdf.exe", b"MZ")
    done = run(extra, "--key", keys_file(tmp_path))
    assert done.exit_code == 1
    assert "invoice.pdf.exe: EXTRA: in the download but not in the manifest" in done.output


def test_the_wrong_key_is_told_from_an_altered_manifest(tmp_path: Path) -> None:
    written = split_zip(tmp_path)
    other = tmp_path / "other.json"
    other.write_text(__import__("json").dumps(key_set(derived("another-secret" * 4).public)))
    done = run(written.main, "--key", other)
    assert done.exit_code == 1
    assert "signature: WRONG KEY: the manifest names key" in done.output
    assert derived("another-secret" * 4).public.kid in done.output


def test_a_pem_public_key_and_this_machines_own_key_work_too(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    from tests.support.split import KEY

    written = split_zip(tmp_path)
    pem = tmp_path / "public.pem"
    pem.write_bytes(
        KEY.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert run(written.main, "--key", pem).exit_code == 0
    # No --key: the key EXPORTD_SECRET_KEY makes on this machine (an operator's).
    assert run(written.main, env={"secret_key": SECRET}).exit_code == 0
    refused = run(written.main)  # the development secret proves nothing: refused
    assert refused.exit_code == 2
    assert "no key to check the signature with: pass --key" in refused.output


@pytest.mark.parametrize(
    ("target", "key_text", "said"),
    [
        ("nowhere.zip", None, "nowhere.zip: no such file"),
        ("notes.txt", None, "notes.txt cannot be read: not JSON"),
        ("main", "not a key", "neither a JWK set, a JWK nor a PEM key"),
        ("main", '{"keys": [{"kty": "RSA", "n": "x"}]}', "no Ed25519 key in it"),
    ],
)
def test_what_cannot_be_checked_says_why(
    tmp_path: Path, target: str, key_text: str | None, said: str
) -> None:
    written = split_zip(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    key = keys_file(tmp_path)
    if key_text is not None:
        key.write_text(key_text)
    path = written.main if target == "main" else tmp_path / target
    done = run(path, "--key", key)
    assert done.exit_code in (1, 2), done.output
    assert said in done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)


def test_the_command_exits_1_without_a_traceback_as_a_real_process(tmp_path: Path) -> None:
    written = split_zip(tmp_path)
    flip_a_byte(written.main, 200)  # in the first part's data
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "exportd",
            "verify",
            str(written.main),
            "--key",
            str(keys_file(tmp_path)),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "COLUMNS": "200"},
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{PART.format(1)}: ALTERED" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_after_a_rotation_this_machine_still_checks_what_the_old_key_signed(
    tmp_path: Path,
) -> None:
    """Signed before the rotation (SECRET), checked after it: the new secret alone names
    another key; with the old key set listed as retired, it verifies."""
    written = split_zip(tmp_path)
    rotated = {"secret_key": "after-the-rotation-" + "r" * 40}
    refused = run(written.main, env=rotated)
    assert refused.exit_code == 1
    assert "WRONG KEY" in refused.output
    retired = json.loads(keys_file(tmp_path).read_text())
    done = run(written.main, env={**rotated, "manifest_retired_keys": retired})
    assert done.exit_code == 0, done.output
    assert "verified: 3 parts, 9,000 rows" in done.output
