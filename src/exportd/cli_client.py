"""The command-line client: ``exportd export …`` and ``exportd exports …`` against a
running server, as a user (``EXPORTD_URL``, ``EXPORTD_TOKEN``).

Exit codes: 0 done, 1 the server refused or the export failed, 2 bad usage,
130 interrupted.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path
from typing import Annotated, Any

import httpx2
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.prompt import Confirm
from rich.table import Table

from exportd.cli_params import params_of
from exportd.client import ApiError, ExportdClient

out = Console()
err = Console(stderr=True, soft_wrap=True)
exports_app = typer.Typer(no_args_is_help=True, help="Your exports on a running server.")

Url = Annotated[str, typer.Option("--url", envvar="EXPORTD_URL", help="The server (EXPORTD_URL).")]
Token = Annotated[
    str,
    typer.Option(
        "--token",
        envvar="EXPORTD_TOKEN",
        help="Your bearer token (EXPORTD_TOKEN).",
        show_default=False,
    ),
]


def an_id(value: str) -> str:
    """An id argument: not empty (an empty one would name the collection, not an item)."""
    if not value.strip():
        raise typer.BadParameter("an id cannot be empty")
    return value


ExportId = Annotated[
    str,
    typer.Argument(
        help="The export's id, or enough of its start to tell it apart (as git's short ids).",
        callback=an_id,
    ),
]
# What to export, as `exportd export` and `exportd schedules create` take it.
Format = Annotated[
    str, typer.Option("--format", "-f", help="csv, jsonl, json, xlsx, parquet, pdf, html")
]
Params = Annotated[
    list[str] | None, typer.Option("--param", "-p", help="A filter, key=value (repeat).")
]
Columns = Annotated[str | None, typer.Option(help="Columns in order; name:Label renames.")]
DEFAULT_URL = "http://127.0.0.1:8000"
FULL_ID = 32  # hex digits of an export id
SHOWN = 5  # ids named when a short one is ambiguous
# The flag of `exportd export` behind each field the server may refuse.
FLAGS = {
    "source": "SOURCE",
    "format": "--format",
    "columns": "--columns",
    "column_preset": "--preset",
    "template": "--template",
    "options.timezone": "--timezone",
    "options.delimiter": "--delimiter",
    "options.locale": "--locale",
    "options.bom": "--bom",
    "options.keep_partial": "--keep-partial",
    "options.compression": "--compression",
    "options.split.rows": "--split-rows",
    "options.split.bytes": "--split-bytes",
    "options.split": "--split-rows/--split-bytes",
    "notify.email": "--notify",
    "notify.webhook_url": "--webhook",
}
DELIMITERS = {"tab": "\t", "\\t": "\t"}


class Compression(enum.StrEnum):
    """``options.compression`` (formats/compression.py)."""

    gzip = "gzip"
    zip = "zip"


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.add_typer(exports_app, name="exports")


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]exportd: {message}[/red]")
    return typer.Exit(code)


def export(
    source: Annotated[str, typer.Argument(help="What to export: trades, resume, …")],
    format_: Format = "csv",
    param: Params = None,
    columns: Columns = None,
    preset: Annotated[
        str | None, typer.Option(help="A column preset of the source (GET /v1/sources lists them).")
    ] = None,
    template: Annotated[str | None, typer.Option(help="Template of a document export.")] = None,
    timezone: Annotated[
        str | None, typer.Option(help="IANA time zone of timestamps, e.g. Europe/Paris.")
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="CSV delimiter: , ; | or tab.", show_default=False)
    ] = None,
    locale: Annotated[
        str | None, typer.Option(help="CSV numbers and dates as a locale writes them: de_DE.")
    ] = None,
    bom: Annotated[
        bool | None, typer.Option("--bom/--no-bom", help="CSV: a UTF-8 byte-order mark.")
    ] = None,
    keep_partial: Annotated[
        bool, typer.Option("--keep-partial", help="If it fails midway, keep the rows written.")
    ] = False,
    compression: Annotated[
        Compression | None,
        typer.Option(help="CSV, JSON Lines, JSON: a .gz file, or a .zip of the one file."),
    ] = None,
    split_rows: Annotated[
        int | None, typer.Option(help="Several files of this many rows, and a signed manifest.")
    ] = None,
    split_bytes: Annotated[
        int | None, typer.Option(help="Several files of about this many bytes (not xlsx).")
    ] = None,
    split_parts: Annotated[
        bool,
        typer.Option("--split-parts", help="Split: each file on its own (--out: a folder)."),
    ] = False,
    notify: Annotated[
        str | None,
        typer.Option(help="Email when it ends: 'email' (your token's address) or an address."),
    ] = None,
    webhook: Annotated[
        str | None, typer.Option(help="A URL to call, signed, when it ends.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow it to the end and save the file.")
    ] = False,
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="Where to save the file (implies --wait).")
    ] = None,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Ask for an export; with --wait, show its progress and save the file."""
    body: dict[str, Any] = {"source": source, "format": format_}
    if columns and preset:
        raise _fail("--columns or --preset: give one of them", 2)
    if columns:
        body["columns"] = [c.strip() for c in columns.split(",") if c.strip()]
    if preset:
        body["column_preset"] = preset
    if template:
        body["template"] = template
    options = {
        "timezone": timezone,
        "delimiter": DELIMITERS.get(delimiter, delimiter) if delimiter else None,
        "locale": locale,
        "bom": bom,
        "keep_partial": keep_partial or None,
        "compression": compression.value if compression else None,
        "split": _split(split_rows, split_bytes, split_parts),
    }
    if any(value is not None for value in options.values()):
        body["options"] = {k: v for k, v in options.items() if v is not None}
    _check_out(out_path, parts=split_parts)  # before the export is made: its link is spent
    client = _client(url, token)
    try:
        body["params"] = params_of(client, source, param or [])
        if notify or webhook:
            body["notify"] = {
                "email": _token_email(token) if notify == "email" else notify,
                "webhook_url": webhook,
            }
        created = client.create(body)
        if not wait and out_path is None:
            out.print(f"{created['id']} {created['status']}")
            return
        final = _follow(client, created["id"])
        if final["status"] != "completed":
            error = final.get("error") or {}
            raise _fail(
                f"the export {final['status']}: {error.get('message', '')} ({error.get('code')})"
            )
        _said(_saved(client, final, out_path), out_path)
    except ApiError as exc:
        raise _fail(_refusal(exc)) from None
    except OSError as exc:
        raise _unsaved(out_path, exc) from None
    except httpx2.HTTPError as exc:
        raise _unreachable(url, exc) from None
    finally:
        client.close()


def _split(rows: int | None, size: int | None, parts: bool) -> dict[str, Any] | None:
    if rows is None and size is None:
        if parts:
            raise _fail("--split-parts: give --split-rows or --split-bytes too", 2)
        return None
    limit = {"rows": rows} if rows is not None else {}
    limit |= {"bytes": size} if size is not None else {}
    return {**limit, "deliver": "parts" if parts else "zip"}


def _check_out(out_path: Path | None, *, parts: bool) -> None:
    """Refuse an ``--out`` the file(s) could not be saved to, naming why."""
    if out_path is None:
        return
    if str(out_path) == "-":
        if parts:
            raise _fail("--out -: a split delivered as parts is several files; give a folder", 2)
        return
    target = out_path.resolve() if out_path.is_symlink() else out_path
    if target.is_dir():
        return
    if parts:
        if target.exists():
            raise _fail(f"--out {out_path}: a split delivered as parts needs a folder", 2)
        return  # the folder is made
    if not target.parent.is_dir():
        raise _fail(f"--out {out_path}: there is no folder {target.parent}", 2)


def _saved(client: ExportdClient, export: dict[str, Any], out_path: Path | None) -> str:
    """Save a completed export: its file, or each file of a split delivered as parts."""
    result = export.get("result") or {}  # none yet: the server says why not
    rows = result.get("row_count")
    if (result.get("split") or {}).get("deliver") != "parts":
        named = Path(result.get("filename", "export")).name
        target = out_path or Path(named)
        if target.is_dir():  # as cp does: the file goes into the folder, under its name
            target = target / named
        saved = client.download(export["id"], target)
        return f"saved {saved} ({result.get('size')} bytes, {rows} rows)"
    _check_out(out_path, parts=True)
    folder = out_path or Path()
    files = client.download_files(export["id"], folder)
    manifest = folder / result["filename"]
    return (
        f"saved {len(files)} files in {folder} ({result['stored_bytes']} bytes, {rows} rows); "
        f"check them: exportd verify {manifest}"
    )


def _said(message: str, out_path: Path | None) -> None:
    """The summary of what was saved: on standard error when the file went to standard
    output (it would be read as the file's last line)."""
    (err if out_path is not None and str(out_path) == "-" else out).print(message)


def _unsaved(out_path: Path | None, exc: OSError) -> typer.Exit:
    where = exc.filename or out_path or "the file"
    return _fail(f"cannot save to {where}: {exc.strerror or exc}")


def _refusal(exc: ApiError) -> str:
    """The server's refusal, each field it names given as the flag that set it."""
    fields = "; ".join(f"{_flag(e.get('field') or '')}: {e.get('message')}" for e in exc.errors)
    return f"{exc.detail} ({exc.code})" + (f" — {fields}" if fields else "")


def _flag(field: str) -> str:
    field = field.removeprefix("body.")
    if field.startswith("params."):
        return f"--param {field.removeprefix('params.')}"
    for name, flag in FLAGS.items():
        if field == name or field.startswith(f"{name}."):
            return flag
    return field


def _token_email(token: str) -> str:
    """``--notify email``: the address in the caller's own token, the one address the
    server sends a user's notifications to."""
    import jwt

    try:
        email = jwt.decode(token, options={"verify_signature": False}).get("email")
    except jwt.PyJWTError:
        email = None
    if not isinstance(email, str) or not email:
        raise _fail("--notify email: your token names no email address; give one instead", 2)
    return email


def _follow(client: ExportdClient, export_id: str) -> dict[str, Any]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        bar = progress.add_task(f"{export_id[:8]} queued", total=None, rows="")

        def show(export: dict[str, Any]) -> None:
            p = export.get("progress") or {}
            done, total = p.get("rows_done"), p.get("rows_total")
            rows = f"{done:,} / {total:,} rows" if done is not None and total else ""
            progress.update(
                bar,
                description=f"{export_id[:8]} {export['status']}",
                total=total or None,
                completed=done or 0,
                rows=rows,
            )

        try:
            return client.wait(export_id, show)
        except KeyboardInterrupt:
            progress.stop()
            if Confirm.ask("Cancel the export on the server?", console=err, default=False):
                _cancel_if_active(client, export_id)
            else:
                err.print(f"left running: exportd exports show {export_id}")
            raise typer.Exit(130) from None


def _cancel_if_active(client: ExportdClient, export_id: str) -> None:
    """The export may have ended while the question waited: a cancel never deletes it."""
    try:
        client.cancel(export_id)
    except ApiError as exc:
        if exc.code != "export_not_active":
            raise
        status = client.get(export_id)["status"]
        hint = f": exportd exports download {export_id}" if status == "completed" else ""
        err.print(f"{export_id} had already {status}, nothing to cancel{hint}")
        return
    err.print(f"cancelled {export_id}")


def _client(url: str, token: str) -> ExportdClient:
    if not token:
        raise _fail("no token: pass --token or set EXPORTD_TOKEN (exportd token USER)", 2)
    if not url.startswith(("http://", "https://")):
        raise _fail(f"the server's URL must start with http:// or https://, got {url!r}")
    return ExportdClient(url, token)


def _unreachable(url: str, exc: httpx2.HTTPError) -> typer.Exit:
    # One line, not the transport's traceback: what failed, where, and why.
    return _fail(f"cannot reach the server at {url}: {exc or type(exc).__name__}")


def _call(url: str, token: str, action: Any) -> Any:
    client = _client(url, token)
    try:
        return action(client)
    except ApiError as exc:
        raise _fail(str(exc)) from None
    except httpx2.HTTPError as exc:
        raise _unreachable(url, exc) from None
    finally:
        client.close()


@exports_app.command("list")
def list_exports(
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Your exports, newest first."""
    items = _call(url, token, lambda c: c.list(status=status, limit=limit))
    table = Table("id", "source", "format", "status", "progress", "created", "error")
    for item in items:
        percent = (item.get("progress") or {}).get("percent")
        error = (item.get("error") or {}).get("code", "")
        table.add_row(
            item["id"],
            item["source"],
            item["format"],
            item["status"],
            "" if percent is None else f"{percent:.0f}%",
            item["created_at"][:19],
            error,
        )
    out.print(table)


@exports_app.command("show")
def show_export(export_id: ExportId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """One export: status, progress, error, result, links."""
    out.print_json(data=_call(url, token, lambda c: c.get(_resolve(c, export_id))))


@exports_app.command("cancel")
def cancel_export(export_id: ExportId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Cancel a queued or running export (a finished one is left as it is)."""
    answer = _call(url, token, lambda c: c.cancel(_resolve(c, export_id)))
    out.print(f"{answer['id']} {answer['status']}")


@exports_app.command("delete")
def delete_export(export_id: ExportId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Delete a finished export and its file (an active one is cancelled instead)."""

    def delete(client: ExportdClient) -> str:
        full = _resolve(client, export_id)
        answer = client.delete(full)
        return f"{full} {'deleted' if answer is None else answer['status']}"

    out.print(_call(url, token, delete))


@exports_app.command("retry")
def retry_export(export_id: ExportId, url: Url = DEFAULT_URL, token: Token = "") -> None:
    """Queue a failed export again."""
    answer = _call(url, token, lambda c: c.retry(_resolve(c, export_id)))
    out.print(f"{answer['id']} {answer['status']}")


@exports_app.command("download")
def download_export(
    export_id: ExportId,
    out_path: Annotated[Path | None, typer.Option("--out", "-o", help="Where to save it.")] = None,
    url: Url = DEFAULT_URL,
    token: Token = "",
) -> None:
    """Save a completed export's file."""

    _check_out(out_path, parts=False)

    def fetch(client: ExportdClient) -> str:
        return _saved(client, client.get(_resolve(client, export_id)), out_path)

    try:
        _said(_call(url, token, fetch), out_path)
    except OSError as exc:
        raise _unsaved(out_path, exc) from None


def _resolve(client: ExportdClient, export_id: str) -> str:
    """The id that a start of it stands for when just one export's id starts so, as git
    takes a short commit id.  The server matches (``id_prefix``): among the exports the
    caller may see, and only those."""
    prefix = export_id.lower()
    if len(prefix) >= FULL_ID or not re.fullmatch(r"[0-9a-f]+", prefix):
        return export_id  # a whole id, or no id at all: the server answers for it
    matches = [str(item["id"]) for item in client.list(id_prefix=prefix, limit=200)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise _fail(f"no export id starts with {prefix} (export_not_found)")
    count = str(len(matches)) if len(matches) < 200 else "200 or more"
    width = max(12, len(prefix) + 4)
    named = ", ".join(m[:width] for m in matches[:SHOWN]) + (", …" if len(matches) > SHOWN else "")
    raise _fail(f"{prefix} is ambiguous: {count} export ids start with it ({named})")
