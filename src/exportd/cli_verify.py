"""``exportd verify``: check a split export's download offline.

Exit codes: 0 verified; 1 something is wrong, each problem named on its own line (a file
that is no manifest is one); 2 nothing could be checked (no such file, no usable key).
Never a traceback: every failure is a line saying what and where.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from exportd.config import DEV_SECRET, Settings
from exportd.exports.manifest import MANIFEST_NAME
from exportd.exports.verify import Bundle, FolderBundle, Report, ZipBundle, verify
from exportd.manifest_keys import PublicKey, derived, published, read_public_keys

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
KEYS_PATH = "/.well-known/exportd-manifest-keys"


def register(app: typer.Typer, settings: Callable[[], Settings]) -> None:
    """``settings``: the command line's loader, for a key this machine is configured with."""

    def verify_command(
        path: Annotated[
            Path,
            typer.Argument(
                help="The .parts.zip as downloaded, a manifest.json beside its .sig and parts, "
                "or a folder holding them."
            ),
        ],
        key: Annotated[
            str | None,
            typer.Option(
                "--key",
                help=f"The server's public keys: a file (JWK set from {KEYS_PATH}, a JWK or a "
                "PEM) or that URL. Default: the key this machine's EXPORTD_SECRET_KEY or "
                "EXPORTD_MANIFEST_SIGNING_KEY makes, and EXPORTD_MANIFEST_RETIRED_KEYS.",
                show_default=False,
            ),
        ] = None,
    ) -> None:
        """Check a split export offline: its manifest's signature, and every part's size and
        SHA-256; each problem is named (exit 1)."""
        keys = _keys(key, settings)
        with _opened(path) as bundle:
            report = verify(bundle, keys)
        _print(report)
        if not report.ok:
            raise typer.Exit(1)

    app.command("verify")(verify_command)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]exportd verify: {message}[/red]")
    return typer.Exit(2)


def _keys(given: str | None, settings: Callable[[], Settings]) -> list[PublicKey]:
    if given is None:
        return _own_keys(settings())
    try:
        if given.startswith(("http://", "https://")):
            return read_public_keys(_fetch(given))
        return read_public_keys(Path(given).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"--key {given}: cannot read it ({type(exc).__name__}: {exc})") from None
    except ValueError as exc:
        raise _fail(f"--key {given}: {exc}") from None


def _fetch(url: str) -> str:
    import httpx2

    try:
        answer = httpx2.get(url, timeout=10, follow_redirects=True)
    except httpx2.HTTPError as exc:
        raise _fail(f"--key {url}: cannot fetch it ({exc or type(exc).__name__})") from None
    if answer.status_code != 200:
        raise _fail(f"--key {url}: the server answered {answer.status_code}")
    return answer.text


def _own_keys(settings: Settings) -> list[PublicKey]:
    secret = settings.secret_key.get_secret_value()
    if settings.manifest_signing_key is None and secret == DEV_SECRET:
        raise _fail(
            "no key to check the signature with: pass --key with the server's keys "
            f"(curl -o keys.json https://SERVER{KEYS_PATH}), or set EXPORTD_SECRET_KEY"
        )
    return published(settings)


@contextmanager
def _opened(path: Path) -> Iterator[Bundle]:
    """The bundle at ``path``: a zip, a manifest file, or a folder with a manifest."""
    if path.is_dir():
        found = sorted(path.glob(f"*{MANIFEST_NAME}"))
        if not found:
            raise _fail(f"{path}: no {MANIFEST_NAME} in this folder")
        yield FolderBundle(found[0])
    elif not path.is_file():
        raise _fail(f"{path}: no such file")
    elif zipfile.is_zipfile(path):
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise _fail(f"{path}: not a readable zip ({exc})") from None
        with archive:
            yield ZipBundle(archive)
    else:
        yield FolderBundle(path)


def _print(report: Report) -> None:
    manifest = report.manifest
    if manifest is not None:
        out.print(
            f"export {manifest.export_id} ({manifest.source}, {manifest.format}): "
            f"{len(manifest.parts)} parts, {manifest.rows:,} rows, signed {manifest.signed_at}"
        )
    for finding in report.findings:
        colour = "green" if finding.ok else "red"
        out.print(f"{finding.subject}: [{colour}]{finding.detail}[/{colour}]")
    if report.signer is not None and report.signer.kid == derived(DEV_SECRET).public.kid:
        out.print(
            "[yellow]warning: signed with the development key (EXPORTD_SECRET_KEY unset): "
            "anyone can make this signature[/yellow]"
        )
    problems = sum(not f.ok for f in report.findings)
    if report.ok and manifest is not None:
        out.print(f"[green]verified: {len(manifest.parts)} parts, {manifest.rows:,} rows[/green]")
    else:
        out.print(f"[red]NOT verified: {problems} problem{'s' if problems != 1 else ''}[/red]")
