"""An export request checked and normalized: pure functions, no database, no HTTP.

``normalize`` turns what a caller asked for into what an export row stores (the source's
name, its params as JSON, the chosen columns, the template, notifications, write
options), or raises ``RequestInvalid`` naming the field at fault.  The rules that need
the database (the plan, the active-export limit, a document's sections) live in
``exportd.exports.service``, inside the request's transaction.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import ValidationError

from exportd.auth.principal import Principal
from exportd.delivery import webhooks
from exportd.documents.render import PDF_STANDARDS, engine_of
from exportd.documents.templates import builtin_catalogue
from exportd.errors import Forbidden, RequestInvalid, TerminalJobError
from exportd.exports.models import ColumnChoice, ExportRequest, ExportView, PlanLimits
from exportd.exports.split_rules import SplitLimits, check_split
from exportd.formats.compression import COMPRESSIBLE
from exportd.formats.localized import uses_decimal_comma
from exportd.sources import Source, SourceRegistry
from exportd.sources.params import DATE_RANGE_INVALID


def normalize(
    principal: Principal,
    request: ExportRequest,
    *,
    sources: SourceRegistry,
    smtp_configured: bool,
    webhook_allow_private: bool,
    pdf_engine: str,
    split_limits: SplitLimits,
) -> dict[str, Any]:
    """The request as an export row stores it."""
    source = source_for(principal, request.source, sources)
    if request.format not in source.formats:
        raise RequestInvalid(
            f"{source.name} exports as {', '.join(source.formats)}, not {request.format}",
            code="format_not_supported",
            errors=[{"field": "format", "message": f"one of {list(source.formats)}"}],
        )
    try:
        params = source.params_model.model_validate(request.params)
    except ValidationError as exc:
        raise params_invalid(exc) from None
    template = _template(source, request)
    options = _options(request)
    _check_pdf_standard(template, options, pdf_engine)
    check_split(request.format, options or {}, split_limits)
    return {
        "source": source.name,
        "format": request.format,
        "params": params.model_dump(mode="json"),
        "columns": _columns(source, request),
        "template": template,
        "notify": _notify(
            principal,
            request.notify,
            smtp_configured=smtp_configured,
            webhook_allow_private=webhook_allow_private,
        ),
        "options": options,
        # Each once, in the order asked; whose they are is checked in the transaction.
        "destinations": list(dict.fromkeys(request.destinations)) or None
        if request.destinations
        else None,
    }


def _check_pdf_standard(
    template: str | None, options: dict[str, Any] | None, pdf_engine: str
) -> None:
    """A standard the template's engine cannot make is refused now, not made into a
    file that claims it (Chromium writes no PDF/A)."""
    standard = (options or {}).get("pdf_standard")
    found = builtin_catalogue().get(template) if template else None
    if standard is None or found is None:
        return
    engine = engine_of(found, pdf_engine)
    if standard not in PDF_STANDARDS[engine]:
        raise RequestInvalid(
            f"the {found.name} template prints with {engine}, which cannot make {standard}",
            code="pdf_standard_unsupported",
            errors=[
                {
                    "field": "options.pdf_standard",
                    "message": f"{engine} makes {list(PDF_STANDARDS[engine]) or 'none'}",
                }
            ],
        )


def source_for(principal: Principal, name: str, sources: SourceRegistry) -> Source:
    """The source, if the principal may export from it; another's is unknown to them."""
    source = sources.get(name)
    if source is None or not source.allows(principal):
        names = [s.name for s in sources.all() if s.allows(principal)]
        raise RequestInvalid(
            f"no source named {name!r}",
            code="source_unknown",
            errors=[{"field": "source", "message": f"one of {names}"}],
        )
    return source


def request_of(view: ExportView) -> ExportRequest:
    """The request that made ``view``, to ask for it once more ("export again")."""
    columns = tuple(ColumnChoice(c["name"], c.get("label")) for c in view.columns or ())
    return ExportRequest(
        source=view.source,
        format=view.format,
        params=view.params,
        columns=columns or None,
        template=view.template,
        notify=view.notify,
        options=view.options,
        destinations=tuple(d["id"] for d in view.destinations or ()) or None,
    )


def check_format(plan: PlanLimits, normalized: dict[str, Any]) -> None:
    if normalized["format"] not in plan.formats_allowed:
        raise Forbidden(
            f"the {plan.name} plan does not include {normalized['format']} exports",
            code="format_not_in_plan",
        )


def fingerprint(normalized: dict[str, Any]) -> str:
    """What an ``Idempotency-Key`` is bound to: the normalized request's hash."""
    canonical = json.dumps(normalized, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def of_item(index: int, exc: RequestInvalid) -> RequestInvalid:
    """A batch's refusal names the item: ``items.N.field``."""
    return RequestInvalid(
        f"item {index}: {exc.message}",
        code=exc.code,
        errors=[{**e, "field": f"items.{index}.{e['field']}"} for e in exc.errors],
    )


def params_invalid(exc: ValidationError) -> RequestInvalid:
    """Each field named; a date range that runs backwards is its own code, so a client
    can tell it from a value of the wrong type."""
    errors = exc.errors()
    backwards = all(e["type"] == DATE_RANGE_INVALID for e in errors)
    return RequestInvalid(
        "the date range ends before it starts" if backwards else "params do not validate",
        code=DATE_RANGE_INVALID if backwards else "params_invalid",
        errors=[
            {"field": ".".join(["params", *map(str, e["loc"])]), "message": e["msg"]}
            for e in errors
        ],
    )


def _notify(
    principal: Principal,
    notify: dict[str, Any] | None,
    *,
    smtp_configured: bool,
    webhook_allow_private: bool,
) -> dict[str, Any] | None:
    """Email only to the principal's own address (an admin may name any); webhook URLs
    checked now for their form and again, resolved, when sent."""
    if not notify:
        return None
    email = notify.get("email")
    if email and not smtp_configured:
        # Queued, it would only fail when the export is done: say so now.
        raise RequestInvalid(
            "this server sends no email (EXPORTD_SMTP_URL is not set): ask for a webhook, or poll",
            code="notify_email_unavailable",
            errors=[{"field": "notify.email", "message": "email is not configured"}],
        )
    if email and not principal.is_admin:
        own = (principal.email or "").casefold()
        if email.casefold() != own:
            raise RequestInvalid(
                "notifications go only to the email address in your token",
                code="notify_email_not_allowed",
                errors=[{"field": "notify.email", "message": "must be your own address"}],
            )
    url = notify.get("webhook_url")
    if url:
        try:
            webhooks.check_url(url, allow_private=webhook_allow_private)
        except TerminalJobError as exc:
            raise RequestInvalid(
                exc.message,
                code=exc.code,
                errors=[{"field": "notify.webhook_url", "message": exc.message}],
            ) from None
    return {key: value for key, value in notify.items() if value}


_APPLIES_TO = {
    "keep_partial": "tabular formats only",
    "pdf_standard": "pdf only",
    "compression": f"{', '.join(COMPRESSIBLE)} only",
}


def _options(request: ExportRequest) -> dict[str, Any] | None:
    """Write options, kept only where they mean something (CSV-only ones for CSV)."""
    options = dict(request.options or {})
    csv_only = ("delimiter", "bom", "locale", "line_terminator")
    misplaced = [k for k in csv_only if k in options and request.format != "csv"]
    if options.get("keep_partial") and request.format in ("pdf", "html"):
        misplaced.append("keep_partial")
    if options.get("pdf_standard") and request.format != "pdf":
        misplaced.append("pdf_standard")
    if options.get("compression") and request.format not in COMPRESSIBLE:
        # XLSX and Parquet compress inside; a PDF barely compresses: refused, not ignored.
        misplaced.append("compression")
    if misplaced:
        raise RequestInvalid(
            f"{', '.join(misplaced)} {'does' if len(misplaced) == 1 else 'do'} not apply "
            f"to {request.format}",
            code="option_not_applicable",
            errors=[
                {"field": f"options.{k}", "message": _APPLIES_TO.get(k, "csv only")}
                for k in misplaced
            ],
        )
    if (
        options.get("locale")
        and "delimiter" not in options
        and uses_decimal_comma(options["locale"])
    ):
        options["delimiter"] = ";"  # "1,5" needs another separator: Excel's there, too
    return options or None


def _template(source: Source, request: ExportRequest) -> str | None:
    """Document sources render with a template (the default one when none is named)."""
    if source.kind != "document":
        if request.template is not None:
            raise RequestInvalid(
                f"{source.name} is not a document source: it takes no template",
                code="template_not_applicable",
                errors=[{"field": "template", "message": "only for document sources"}],
            )
        return None
    catalogue = builtin_catalogue()
    template = catalogue.get(request.template)
    if template is None:
        names = [t.name for t in catalogue.all()]
        raise RequestInvalid(
            f"no template named {request.template!r}",
            code="template_unknown",
            errors=[{"field": "template", "message": f"one of {names}"}],
        )
    if request.format not in template.formats:
        raise RequestInvalid(
            f"the {template.name} template makes {', '.join(template.formats)}, "
            f"not {request.format}",
            code="format_not_supported",
            errors=[{"field": "format", "message": f"one of {list(template.formats)}"}],
        )
    return template.name


def _columns(source: Source, request: ExportRequest) -> list[dict[str, str]] | None:
    if request.column_preset is not None and request.columns is not None:
        # One would silently win over the other: the file would not have what was asked.
        raise RequestInvalid(
            "give columns or column_preset, not both",
            code="columns_and_preset",
            errors=[{"field": "columns", "message": "leave it out to use column_preset"}],
        )
    if request.column_preset is not None:
        preset = source.column_presets.get(request.column_preset)
        if preset is None:
            raise RequestInvalid(
                f"{source.name} has no column preset {request.column_preset!r}",
                code="column_preset_unknown",
                errors=[
                    {"field": "column_preset", "message": f"one of {sorted(source.column_presets)}"}
                ],
            )
        return [ColumnChoice(name).as_dict() for name in preset]
    if request.columns is None:
        return None
    valid = source.column_names()
    unknown = [c.name for c in request.columns if c.name not in valid]
    if unknown or not request.columns:
        raise RequestInvalid(
            f"unknown columns {unknown}; {source.name} has {valid}"
            if unknown
            else "choose at least one column",
            code="column_unknown",
            errors=[{"field": "columns", "message": f"valid columns: {valid}"}],
        )
    names = [c.name for c in request.columns]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        # A file's columns are the source's, each once: a repeat has nothing to read from.
        raise RequestInvalid(
            f"each column may be chosen once: {repeated} repeated",
            code="column_repeated",
            errors=[{"field": "columns", "message": f"repeated: {repeated}"}],
        )
    return [c.as_dict() for c in request.columns]
