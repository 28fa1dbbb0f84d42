"""The API's error codes, and which operation may answer which.

``CODES`` is every ``code`` a problem+json answer carries, with its status and when it
happens: the API's rows of the one registry, ``exportd.error_codes``.  ``OWN`` lists, per
operation id, the codes of its own rules; what every route of a kind may answer is added
by :func:`codes_for` from the route's declaration (a scope, a body, parameters), so no
route repeats the authentication or validation codes.  The OpenAPI document
(``exportd.api.openapi``) is written from here, a unit test holds the document to it,
and the fuzz suite checks every answer's code against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from exportd.error_codes import Where, where


@dataclass(frozen=True, slots=True)
class Code:
    status: int
    when: str


# The registry's API codes (exportd.error_codes: the one place a code is declared).
CODES: dict[str, Code] = {
    name: Code(code.status, code.when)
    for name, code in where(Where.API).items()
    if code.status is not None
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
    "pdf_standard_unsupported",
    "webhook_url_invalid",
    "webhook_address_refused",
    "plan_unknown",
    "date_range_invalid",
    "timezone_unknown",
    "locale_unknown",
    "split_too_small",
    "destination_unknown",
)
# A user's request checked against their document, email and plan.
_OWN_REQUEST = (
    "document_missing",
    "document_sections_missing",
    "too_many_sections",
    "notify_email_unavailable",
    "notify_email_not_allowed",
    "format_not_in_plan",
)
_USER_EXPORT = (
    *_NEW_EXPORT,
    *_OWN_REQUEST,
    "split_too_many_parts",
    "active_exports_limit",
    "storage_quota_exceeded",
    "daily_export_bytes_exceeded",
)
# A schedule's own rules, and those of the export it keeps (all but the limits that
# change with time: each run meets those).
_SCHEDULE = (
    "schedule_timing_invalid",
    "cron_invalid",
    "every_invalid",
    "schedule_interval_too_short",
    "skip_if_empty_not_applicable",
    *_NEW_EXPORT,
    *_OWN_REQUEST,
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
    "list_export_files": ("export_not_found", "export_not_ready", "export_expired"),
    "download_export_file": ("export_not_found", "file_not_found", *_FILE),
    "create_file_download_link": (
        "export_not_found",
        "file_not_found",
        "export_not_ready",
        "export_expired",
    ),
    "get_manifest_keys": (),
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
    "create_schedule": (*_SCHEDULE, "schedule_limit_reached"),
    "list_schedules": (),
    "get_schedule": ("schedule_not_found",),
    "update_schedule": ("schedule_not_found", *_SCHEDULE),
    "delete_schedule": ("schedule_not_found",),
    "run_schedule": ("schedule_not_found", *_USER_EXPORT),
    "create_destination": (
        "destination_config_invalid",
        "key_template_invalid",
        "destination_secret_invalid",
        "destination_address_refused",
        "destination_name_taken",
    ),
    "list_destinations": (),
    "get_destination": ("destination_not_found",),
    "update_destination": (
        "destination_not_found",
        "destination_config_invalid",
        "key_template_invalid",
        "destination_secret_invalid",
        "destination_address_refused",
        "destination_name_taken",
    ),
    "delete_destination": ("destination_not_found",),
    "test_destination": ("destination_not_found",),
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
    "list_queues": (),
    "get_queue": ("queue_unknown",),
    "pause_queue": ("queue_unknown",),
    "resume_queue": ("queue_unknown",),
    "get_console_overview": (),
    "get_console_activity": (),
    "list_console_tenants": (),
    "list_console_admin_events": (),
    "list_dead_letters": ("filter_range_invalid", "datetime_out_of_range"),
    "act_on_dead_letters": ("filter_range_invalid", "datetime_out_of_range"),
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
