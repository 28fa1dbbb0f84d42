"""The security suite: what an attacker would try, each tried.

Here: naughty strings through every format, header and file name; formulas LibreOffice
must not run; Jinja sandbox escapes and template names; oversized bodies and rate
limits.  Elsewhere, next to the code they hold to account (run with the rest of the
suite):

- ownership (another user's export is 404 on every route, API and page):
  tests/integration/test_api_exports.py, test_web_routes.py, test_documents.py
- JWT: alg=none, wrong key, expired, missing claims: tests/integration/test_tokens.py
- download links tampered, expired, replayed, another user's: test_downloads.py
- formula injection in CSV and XLSX: tests/unit/test_formats.py, and LibreOffice
  opening real exports here (test_libreoffice_formulas.py)
- SSRF in templates and CSS (every engine): tests/integration/test_render_safety.py;
  in webhook URLs: tests/unit/test_webhooks.py, tests/e2e/test_delivery.py
- the page's CSRF and session cookie: tests/integration/test_web_routes.py
- schemathesis over the whole API (no 5xx, problem+json): test_api_fuzz.py
"""
