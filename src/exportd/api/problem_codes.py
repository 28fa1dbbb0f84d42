"""The API's error codes, and which operation may answer which: one table.

``CODES`` is every ``code`` a problem+json answer carries, with its status and when it
happens.  ``OWN`` lists, per operation id, the codes of its own rules; what every route of
a kind may answer is added by :func:`codes_for` from the route's declaration (a scope, a
body, parameters), so no route repeats the authentication or validation codes.  The
OpenAPI document (``exportd.api.openapi``) is written from here, a unit test holds the
document to it, and the fuzz suite checks every answer's code against it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Code:
    status: int
    when: str


CODES: dict[str, Code] = {
    # 400
    "range_invalid": Code(400, "the `Range` header is not a byte range this server reads"),
    # 401: no credential, or a bad one
    "auth_required": Code(401, "no token or API key was sent"),
    "token_malformed": Code(401, "the token is not a JWT"),
    "token_header_invalid": Code(401, "the token's header is not valid (`crit`, a `kid`…)"),
    "token_algorithm_not_allowed": Code(401, "the token's `alg` is not allowed (`none`…)"),
    "token_algorithm_mismatch": Code(401, "the token's `alg` is not its key's"),
    "token_signature_invalid": Code(401, "the token's signature does not match"),
    "token_expired": Code(401, "the token has expired"),
    "token_claim_missing": Code(401, "the token lacks a required claim"),
    "token_claim_invalid": Code(401, "a claim is not of its type or too long"),
    "token_subject_reserved": Code(401, "the token's `sub` starts with `apikey:`"),
    "token_key_unknown": Code(401, "no published key has the token's `kid`"),
    "token_invalid": Code(401, "the token is not valid"),
    "api_key_invalid": Code(401, "no such API key"),
    "api_key_revoked": Code(401, "the API key was revoked"),
    # 403
    "scope_missing": Code(403, "the API key lacks the operation's scope"),
    "admin_required": Code(403, "the operation needs an admin token or key"),
    "plan_unknown": Code(403, "the caller's plan is not configured here"),
    "format_not_in_plan": Code(403, "the caller's plan does not allow the format"),
    "batch_size_limit": Code(403, "the batch is larger than the plan allows"),
    "storage_quota_exceeded": Code(403, "the plan's storage quota is used up"),
    "download_token_invalid": Code(403, "the link is tampered with, forged or malformed"),
    # 404
    "not_found": Code(404, "no such path"),
    "export_not_found": Code(404, "no such export (or not the caller's)"),
    "document_not_found": Code(404, "no such document (or not the caller's)"),
    "delivery_not_found": Code(404, "no such delivery (or not the caller's)"),
    # 409
    "idempotency_key_reused": Code(409, "the `Idempotency-Key` was used for another request"),
    "export_not_active": Code(409, "the export is already final: nothing to cancel"),
    "export_not_failed": Code(409, "only a failed export can be retried"),
    "export_not_ready": Code(409, "the export has no file yet"),
    "delivery_not_failed": Code(409, "only a failed delivery can be retried"),
    # 410
    "download_token_expired": Code(410, "the link has expired"),
    "download_token_used": Code(410, "the link was used"),
    "export_expired": Code(410, "the export's file is no longer kept"),
    # 413, 415, 416
    "body_too_large": Code(413, "the body is larger than `EXPORTD_MAX_REQUEST_BYTES`"),
    "content_type_unsupported": Code(415, "the body is not `application/json`"),
    "range_not_satisfiable": Code(416, "the `Range` starts past the file's end"),
    # 422
    "request_invalid": Code(422, "the request does not match its schema; `errors` names fields"),
    "json_invalid": Code(422, "the body is not JSON; the detail says the line and column"),
    "text_invalid": Code(422, "a NUL character or a lone surrogate anywhere in the request"),
    "source_unknown": Code(422, "no source of that name (for the caller)"),
    "format_not_supported": Code(422, "the source does not export as that format"),
    "params_invalid": Code(422, "`params` do not match the source's params schema"),
    "column_unknown": Code(422, "a column the source does not have"),
    "column_repeated": Code(422, "a column named twice"),
    "column_preset_unknown": Code(422, "no column preset of that name"),
    "template_unknown": Code(422, "no template of that name"),
    "template_not_applicable": Code(422, "a template for a source of rows"),
    "option_not_applicable": Code(422, "an option the format does not take"),
    "notify_email_not_allowed": Code(422, "an email other than the token's own (admins may)"),
    "webhook_url_invalid": Code(422, "the webhook URL is not http(s)://host/…"),
    "webhook_address_refused": Code(422, "the webhook URL names a private address"),
    "cursor_invalid": Code(422, "`cursor` is not a `next_cursor` this server sent"),
    "datetime_out_of_range": Code(422, "a time outside the years 1 to 9999 in UTC"),
    "last_event_id_invalid": Code(422, "`Last-Event-ID` is not an id this stream sent"),
    "batch_empty": Code(422, "a batch of no exports"),
    "document_invalid": Code(422, "the content is not a resume; `errors` names fields"),
    "document_too_large": Code(422, "the document is larger than 32 KiB"),
    "jsonresume_invalid": Code(422, "a JSON Resume that does not validate or fit; `errors` point"),
    "too_many_sections": Code(422, "more sections than `EXPORTD_MAX_DOCUMENT_SECTIONS`"),
    "render_failed": Code(422, "the template could not render the document"),
    "page_limit_exceeded": Code(422, "the document runs past the page limit"),
    "preview_too_large": Code(422, "the preview runs past its page budget"),
    "plan_formats_invalid": Code(422, "a plan's formats list is not valid"),
    # 422: an export that could only fail later is refused when asked for
    "date_range_invalid": Code(422, "`date_from` is after `date_to`"),
    "timezone_unknown": Code(422, "`options.timezone` is no IANA zone this server knows"),
    "locale_unknown": Code(422, "`options.locale` is no locale this server knows"),
    "document_missing": Code(422, "a resume export with no such document and no default"),
    "document_sections_missing": Code(422, "the document lacks a section the template needs"),
    "notify_email_unavailable": Code(422, "email notification on a server without SMTP"),
    # 429
    "active_exports_limit": Code(429, "the plan's active exports are all taken"),
    "retry_rate_limited": Code(429, "retried again within the cooldown"),
    "daily_export_bytes_exceeded": Code(429, "the plan's daily export bytes are used up"),
    "preview_rate_limited": Code(429, "more previews a minute than allowed"),
    # 500
    "internal_error": Code(500, "a bug: the log has the details, under the request id"),
    # 503
    "exports_disabled": Code(503, "`EXPORTD_ENABLE_EXPORTS=false`: reads keep working"),
    "jwks_unavailable": Code(503, "the identity provider's keys cannot be fetched"),
    "database_unavailable": Code(503, "the database is down, unreachable or locked"),
    "preview_busy": Code(503, "every preview process is busy"),
    "preview_timed_out": Code(503, "the preview ran out of time"),
    "preview_unavailable": Code(503, "the preview process ended or did not start"),
}

# What every route of a kind may answer.
EVERY = ("text_invalid", "internal_error")
UNAUTHENTICATED = tuple(code for code, c in CODES.items() if c.status == 401)
SIGNED_IN = (*UNAUTHENTICATED, "jwks_unavailable", "database_unavailable")
WITH_PARAMS = ("request_invalid",)
WITH_BODY = ("body_too_large", "content_type_unsupported", "json_invalid", "request_invalid")

# The rules of making an export, shared by every way to make one.
_NEW_EXPORT = (
    "exports_disabled",
    "source_unknown",
    "format_not_supported",
    "params_invalid",
    "column_unknown",
    "column_repeated",
    "column_preset_unknown",
    "template_unknown",
    "template_not_applicable",
    "option_not_applicable",
    "webhook_url_invalid",
    "webhook_address_refused",
    "plan_unknown",
    "date_range_invalid",
    "timezone_unknown",
    "locale_unknown",
)
_USER_EXPORT = (
    *_NEW_EXPORT,
    "document_missing",
    "document_sections_missing",
    "too_many_sections",
    "notify_email_unavailable",
    "notify_email_not_allowed",
    "format_not_in_plan",
    "active_exports_limit",
    "storage_quota_exceeded",
    "daily_export_bytes_exceeded",
)
_FILE = ("export_not_ready", "export_expired", "range_invalid", "range_not_satisfiable")
_PREVIEW = (
    "document_not_found",
    "template_unknown",
    "document_invalid",
    "document_sections_missing",
    "too_many_sections",
    "render_failed",
    "page_limit_exceeded",
    "preview_too_large",
    "preview_rate_limited",
    "preview_busy",
    "preview_timed_out",
    "preview_unavailable",
    "plan_unknown",
)

# Per operation id (the route function's name): the codes of its own rules.
OWN: dict[str, tuple[str, ...]] = {
    "create_export": (*_USER_EXPORT, "idempotency_key_reused"),
    "create_export_batch": (*_USER_EXPORT, "batch_empty", "batch_size_limit"),
    "list_exports": ("cursor_invalid", "datetime_out_of_range"),
    "list_failed_exports": (),
    "get_export": ("export_not_found",),
    "delete_export": ("export_not_found",),
    "cancel_export": ("export_not_found", "export_not_active"),
    "retry_export": (
        "export_not_found",
        "plan_unknown",
        "export_not_failed",
        "retry_rate_limited",
        "active_exports_limit",
    ),
    "stream_export_events": ("export_not_found", "last_event_id_invalid"),
    "download_export": ("export_not_found", *_FILE),
    "create_download_link": ("export_not_found", "export_not_ready", "export_expired"),
    "download_with_link": (
        "download_token_invalid",
        "download_token_expired",
        "download_token_used",
        *_FILE,
        "database_unavailable",
    ),
    "list_export_deliveries": ("export_not_found",),
    "list_failed_deliveries": (),
    "retry_delivery": ("delivery_not_found", "delivery_not_failed", "retry_rate_limited"),
    "list_sources": (),
    "list_templates": (),
    "get_usage": ("plan_unknown",),
    "create_document": (
        "document_invalid",
        "document_too_large",
        "jsonresume_invalid",
        "too_many_sections",
    ),
    "list_documents": (),
    "get_default_document": ("document_not_found",),
    "get_document": ("document_not_found",),
    "update_document": (
        "document_not_found",
        "document_invalid",
        "document_too_large",
        "jsonresume_invalid",
        "too_many_sections",
    ),
    "set_default_document": ("document_not_found",),
    "delete_document": ("document_not_found",),
    "preview_document": _PREVIEW,
    "list_plans": (),
    "put_plan": ("plan_formats_invalid",),
    "run_cleanup": (),
    "create_bulk_exports": _NEW_EXPORT,
    "get_export_ops": (),
    "get_perf": (),
    "get_metrics": ("database_unavailable",),
    "get_health": (),
    "get_readiness": (),
}


def codes_for(
    operation_id: str, *, scoped: str | None, has_params: bool, has_body: bool
) -> tuple[str, ...]:
    """Every code the operation may answer, in the table's order.

    ``scoped``: the scope the route requires (None: a public route)."""
    wanted = set(EVERY) | set(OWN[operation_id])
    if scoped is not None:
        wanted |= {*SIGNED_IN, "admin_required" if scoped == "admin" else "scope_missing"}
    if has_params:
        wanted |= set(WITH_PARAMS)
    if has_body:
        wanted |= set(WITH_BODY)
    return tuple(code for code in CODES if code in wanted)
