"""A host application's page on its own origin, serving the TypeScript kit as files (no
build step) and a page that puts ``<exportd-export>`` on it, as a customer would."""

from __future__ import annotations

import html
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from urllib.parse import parse_qs, urlsplit

from tests.support.mail import free_port

KIT = Path(__file__).resolve().parents[2] / "clients" / "typescript"
NONCE = secrets.token_hex(8)

PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>My account</title>
<script nonce="$nonce">
  window.violations = [];
  document.addEventListener("securitypolicyviolation", (e) =>
    window.violations.push(`$${e.violatedDirective} $${e.blockedURI}`));
</script>
</head>
<body>
<h1>My account</h1>
<exportd-export api="$api" source="$source" format="csv"$attributes>
  Download my trades
</exportd-export>
<script type="module" nonce="$nonce">
  import "/kit/exportd-export.js";
  const element = document.querySelector("exportd-export");
  element.getToken = async () => $token;
  window.seen = [];
  window.problems = [];
  element.addEventListener("exportd-change", ({ detail }) =>
    window.seen.push([detail.export.status, detail.export.progress.percent]));
  element.addEventListener("exportd-error", (e) => window.problems.push(e.detail.problem.code));
</script>
</body></html>
""")


@dataclass
class HostSite:
    """Pages at ``http://localhost:PORT`` (the origin exportd lists) that call ``api``."""

    port: int
    api: str = ""
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"http://localhost:{self.port}"

    def page(
        self,
        user: str,
        *,
        source: str = "trades",
        export_id: str | None = None,
        host: str = "localhost",
    ) -> str:
        """The page for ``user``; ``host="127.0.0.1"`` is the same page on an origin
        exportd does not list."""
        query = f"?user={user}&source={source}" + (f"&export_id={export_id}" if export_id else "")
        return f"http://{host}:{self.port}/{query}"

    def csp(self) -> str:
        """A strict host: its own scripts, exportd as the only place to connect, no styles
        of its own (the element's adopted style sheet is not one)."""
        return (
            f"default-src 'none'; script-src 'self' 'nonce-{NONCE}'; "
            f"connect-src {self.api}; style-src 'none'"
        )

    def render(self, query: str) -> str:
        args = {k: v[0] for k, v in parse_qs(query).items()}
        export_id = args.get("export_id")
        return PAGE.substitute(
            nonce=NONCE,
            api=html.escape(self.api),
            source=html.escape(args["source"]),
            attributes=f' export-id="{html.escape(export_id)}"' if export_id else "",
            token=json.dumps(self.tokens[args["user"]]),
        )


def _handler(site: HostSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/":
                page = site.render(url.query).encode()
                self._send(page, "text/html; charset=utf-8", csp=site.csp())
            elif url.path.startswith("/kit/") and (KIT / url.path[5:]).is_file():
                self._send((KIT / url.path[5:]).read_bytes(), "text/javascript")
            else:
                self._send(b"not here", "text/plain", status=404)

        def _send(self, body: bytes, content_type: str, status: int = 200, csp: str = "") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if csp:
                self.send_header("Content-Security-Policy", csp)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def host_site() -> Iterator[HostSite]:
    site = HostSite(free_port())
    server = ThreadingHTTPServer(("127.0.0.1", site.port), _handler(site))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
