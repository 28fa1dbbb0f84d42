"""A small client of the HTTP API, for the command line (and for scripts).

Errors come back as :class:`ApiError` carrying the problem's ``code`` and ``detail``;
downloads go through a one-time link, so a redirect to S3 never carries the token.
"""

from __future__ import annotations

import builtins
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx2

FINAL = {"completed", "failed", "cancelled", "expired"}
# How long a status poll asks the server to hold it for a change (under proxies' usual
# 60 s idle timeout; the server may hold it for less).
HOLD_S = 25


def _part(value: str) -> str:
    """An id as one path segment: a slash or a question mark in it cannot reach another
    route (a CLI argument is whatever the user typed)."""
    return quote(value, safe="")


def _copy(response: httpx2.Response, sink: BinaryIO) -> None:
    for chunk in response.iter_bytes():
        sink.write(chunk)


@dataclass
class ApiError(Exception):
    status: int
    code: str
    detail: str
    errors: list[dict[str, Any]]

    def __str__(self) -> str:
        fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in self.errors)
        return f"{self.detail} ({self.code})" + (f" — {fields}" if fields else "")


class ExportdClient:
    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0) -> None:
        self.http = httpx2.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self.http.close()

    # -- exports -----------------------------------------------------------------------

    def create(self, body: dict[str, Any], *, idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._json(self.http.post("/v1/exports", json=body, headers=headers))

    def sources(self) -> builtins.list[dict[str, Any]]:
        """The sources the caller may export from, each with its params' JSON Schema."""
        return [dict(item) for item in self._json_list(self.http.get("/v1/sources"))]

    def get(self, export_id: str) -> dict[str, Any]:
        return self._json(self.http.get(f"/v1/exports/{_part(export_id)}"))

    def list(
        self, *, status: str | None = None, id_prefix: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if id_prefix:
            params["id_prefix"] = id_prefix
        items: list[dict[str, Any]] = self._json(self.http.get("/v1/exports", params=params))[
            "items"
        ]
        return items

    def cancel(self, export_id: str) -> dict[str, Any]:
        """Cancel a queued or running export; never deletes anything.  An export already
        final (it may have just completed) is an ApiError ``export_not_active``."""
        return self._json(self.http.post(f"/v1/exports/{_part(export_id)}/cancel"))

    def delete(self, export_id: str) -> dict[str, Any] | None:
        """Delete a finished export and its file (None); an active one is cancelled."""
        response = self.http.delete(f"/v1/exports/{_part(export_id)}")
        return None if response.status_code == 204 else self._json(response)

    def retry(self, export_id: str) -> dict[str, Any]:
        return self._json(self.http.post(f"/v1/exports/{_part(export_id)}/retry"))

    def wait(
        self,
        export_id: str,
        on_change: Callable[[dict[str, Any]], None],
        *,
        interval_s: float = 0.5,
    ) -> dict[str, Any]:
        """Follow the export until it is final: long polls (``Prefer: wait`` with its
        ETag), which the server answers as soon as it changes.  A server that answers
        at once (an older one, or one that holds no polls) is asked every ``interval_s``."""
        etag = None
        export: dict[str, Any] = {}
        while True:
            headers = {"Prefer": f"wait={HOLD_S}"} | ({"If-None-Match": etag} if etag else {})
            response = self.http.get(
                f"/v1/exports/{_part(export_id)}",
                headers=headers,
                timeout=self.http.timeout.read + HOLD_S if self.http.timeout.read else None,
            )
            if response.status_code != 304:
                export = self._json(response)
                etag = response.headers.get("ETag")
                on_change(export)
                if export["status"] in FINAL:
                    return export
            if "Preference-Applied" not in response.headers:
                time.sleep(interval_s)

    def download(self, export_id: str, out: Path) -> Path:
        """Save the file through a fresh one-time link; the file appears whole or not at all."""
        link = self._json(self.http.post(f"/v1/exports/{_part(export_id)}/download-token"))["url"]
        return self._save(link, out)

    def download_files(self, export_id: str, folder: Path) -> builtins.list[Path]:
        """Save every file of a split export delivered as parts (its parts, manifest and
        signature) into ``folder``, each through its own one-time link."""
        links = self._json(self.http.post(f"/v1/exports/{_part(export_id)}/download-token"))
        folder.mkdir(parents=True, exist_ok=True)
        # A name is a file's, never a path: nothing lands outside the folder.
        return [self._save(f["url"], folder / Path(f["name"]).name) for f in links["files"]]

    def _save(self, link: str, out: Path) -> Path:
        """Save what ``link`` serves to ``out``: a file appears whole or not at all (a
        ``.part`` file beside it, renamed when complete, removed when not).  ``-`` is
        standard output; a symlink is written through to its target; a device or a pipe
        is written into as it is (nothing may replace it)."""
        anonymous = httpx2.Client(base_url=self.http.base_url, timeout=self.http.timeout)
        with anonymous, anonymous.stream("GET", link, follow_redirects=True) as response:
            if response.status_code >= 400:
                response.read()
                self._json(response)
            if str(out) == "-":
                _copy(response, sys.stdout.buffer)
                sys.stdout.buffer.flush()
                return out
            target = out.resolve() if out.is_symlink() else out
            if target.exists() and not target.is_file():
                with target.open("wb") as handle:
                    _copy(response, handle)
                return out
            partial = target.with_name(target.name + ".part")
            try:
                with partial.open("wb") as handle:
                    _copy(response, handle)
                partial.replace(target)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        return out

    # -- schedules ---------------------------------------------------------------------

    def schedules(self) -> builtins.list[dict[str, Any]]:  # ``list`` is a method here
        return [dict(item) for item in self._json(self.http.get("/v1/schedules"))["items"]]

    def schedule(self, schedule_id: str) -> dict[str, Any]:
        return self._json(self.http.get(f"/v1/schedules/{_part(schedule_id)}"))

    def create_schedule(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(self.http.post("/v1/schedules", json=body))

    def change_schedule(self, schedule_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(self.http.patch(f"/v1/schedules/{_part(schedule_id)}", json=body))

    def run_schedule(self, schedule_id: str) -> dict[str, Any]:
        """Run it now: the export it made."""
        return self._json(self.http.post(f"/v1/schedules/{_part(schedule_id)}/run"))

    def delete_schedule(self, schedule_id: str) -> None:
        response = self.http.delete(f"/v1/schedules/{_part(schedule_id)}")
        if response.status_code != 204:
            self._json(response)

    # -- destinations ------------------------------------------------------------------

    def destinations(self) -> Sequence[dict[str, Any]]:
        items: Sequence[dict[str, Any]] = self._json(self.http.get("/v1/destinations"))  # type: ignore[assignment]
        return items

    def test_destination(self, destination_id: str) -> dict[str, Any]:
        """Write and remove a probe: ``{ok, code, message, location, elapsed_ms}``."""
        return self._json(self.http.post(f"/v1/destinations/{_part(destination_id)}/test"))

    # -- helpers -----------------------------------------------------------------------

    def _json_list(self, response: httpx2.Response) -> builtins.list[Any]:
        answer: Any = self._json(response)
        if not isinstance(answer, builtins.list):
            raise ApiError(response.status_code, "response_invalid", "expected a list", [])
        return answer

    def _json(self, response: httpx2.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            raise ApiError(
                response.status_code,
                problem.get("code", f"http_{response.status_code}"),
                problem.get("detail", response.reason_phrase),
                problem.get("errors", []),
            )
        try:
            body: dict[str, Any] = response.json()
        except ValueError:  # not exportd's API at this URL (a proxy's page, a web server)
            raise ApiError(
                response.status_code,
                "response_not_json",
                f"the answer to {response.request.method} {response.request.url.path} "
                "is not JSON: is this exportd's URL?",
                [],
            ) from None
        return body
