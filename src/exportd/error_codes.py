"""Every error code exportd gives, with its status and when it happens: one registry.

A code is what clients, operators and tests rely on: each ``code="…"`` raised anywhere
under ``src/`` is a key of ``REGISTRY`` (a unit test scans the source for them).  It is
not HTTP: the domain imports it; the API's problem table (``exportd.api.problem_codes``)
and with it the OpenAPI document are its ``Where.API`` rows, and docs/api.md's error
section is written from it by ``python -m exportd.error_codes_doc docs/api.md``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Where(enum.StrEnum):
    """Where a code is seen."""

    API = "api"  # a problem+json answer of the HTTP API (the page shows it too)
    PAGE = "page"  # the /exports page's own refusals: a notice or the sign-in page
    CLI = "cli"  # the operator's command line
    FAILURE = "failure"  # a failed export's or delivery's ``error.code``
    DEFAULT = "default"  # an exception class's own, for a raise that names none


@dataclass(frozen=True, slots=True)
class Code:
    status: int | None  # of an HTTP answer with it; None: never an answer
    when: str
    where: Where = Where.API


API = Where.API
PAGE = Where.PAGE
CLI = Where.CLI
FAILURE = Where.FAILURE
DEFAULT = Where.DEFAULT

REGISTRY: dict[str, Code] = {
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
    "schedule_not_found": Code(404, "no such schedule (or not the caller's)"),
    "file_not_found": Code(404, "the export has no file of that name (see its `files`)"),
    "queue_unknown": Code(404, "no queue of that name was ever configured or seen"),
    "destination_not_found": Code(
        404, "no such destination (or not the caller's); a delivery's: it was deleted"
    ),
    # 409
    "idempotency_key_reused": Code(409, "the `Idempotency-Key` was used for another request"),
    "export_not_active": Code(409, "the export is already final: nothing to cancel"),
    "export_not_failed": Code(409, "only a failed export can be retried"),
    "export_not_ready": Code(409, "the export has no file yet"),
    "delivery_not_failed": Code(409, "only a failed delivery can be retried"),
    "destination_name_taken": Code(409, "the caller has a destination of that name"),
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
    "columns_and_preset": Code(422, "both `columns` and `column_preset`: give one of them"),
    "template_unknown": Code(422, "no template of that name"),
    "template_not_applicable": Code(422, "a template for a source of rows"),
    "option_not_applicable": Code(422, "an option the format does not take"),
    "pdf_standard_unsupported": Code(
        422, "`options.pdf_standard` is a standard the template's PDF engine cannot make"
    ),
    "notify_email_not_allowed": Code(422, "an email other than the token's own (admins may)"),
    "webhook_url_invalid": Code(422, "the webhook URL is not http(s)://host/…"),
    "webhook_address_refused": Code(422, "the webhook URL names a private address"),
    "destination_config_invalid": Code(422, "a destination's `config` does not fit its kind"),
    "key_template_invalid": Code(
        422, "`config.key_template` names an unknown variable or leaves its folder"
    ),
    "destination_secret_invalid": Code(
        422, "a destination's `secret` does not fit its kind (values never echoed)"
    ),
    "destination_address_refused": Code(
        422, "the destination's host is or resolves to a private address (also a failure)"
    ),
    "destination_unknown": Code(422, "`destinations` names an id that is not the caller's"),
    "cursor_invalid": Code(422, "`cursor` is not a `next_cursor` this server sent"),
    "datetime_out_of_range": Code(422, "a time outside the years 1 to 9999 in UTC"),
    "last_event_id_invalid": Code(422, "`Last-Event-ID` is not an id this stream sent"),
    "batch_empty": Code(422, "a batch of no exports"),
    "document_invalid": Code(422, "the content is not a resume; `errors` names fields"),
    "document_too_large": Code(422, "the document is larger than 32 KiB"),
    "jsonresume_invalid": Code(
        422, "a JSON Resume that does not validate or fit; each of `errors` has its `pointer`"
    ),
    "too_many_sections": Code(422, "more sections than `EXPORTD_MAX_DOCUMENT_SECTIONS`"),
    "render_failed": Code(422, "the template could not render the document"),
    "page_limit_exceeded": Code(422, "the document runs past the page limit"),
    "preview_too_large": Code(422, "the preview runs past its page budget"),
    "plan_formats_invalid": Code(422, "a plan's formats list is not valid"),
    # 422: an export that could only fail later is refused when asked for
    "date_range_invalid": Code(422, "`date_from` is after `date_to`"),
    "timezone_unknown": Code(
        422, "`options.timezone`, or a schedule's `timezone`, is no IANA zone this server knows"
    ),
    "locale_unknown": Code(422, "`options.locale` is no locale this server knows"),
    "document_missing": Code(422, "a resume export with no such document and no default"),
    "document_sections_missing": Code(422, "the document lacks a section the template needs"),
    "notify_email_unavailable": Code(422, "email notification on a server without SMTP"),
    # 422: a schedule that could not run as asked
    "schedule_timing_invalid": Code(422, "a schedule names both `cron` and `every`, or neither"),
    "cron_invalid": Code(422, "`cron` is not five cron fields, or never fires"),
    "every_invalid": Code(422, "`every` is not a number and a unit (`30m`, `1h`, `7d`)"),
    "schedule_interval_too_short": Code(
        422,
        "the schedule runs more often than the plan (or `EXPORTD_SCHEDULE_MIN_INTERVAL_S`) allows",
    ),
    "schedule_limit_reached": Code(422, "the plan's schedules are all taken"),
    "skip_if_empty_not_applicable": Code(422, "`skip_if_empty` on a document source"),
    "filter_range_invalid": Code(422, "a dead-letter filter's `since` is after its `until`"),
    "split_too_small": Code(
        422, "`options.split` parts below `EXPORTD_SPLIT_MIN_ROWS` or `EXPORTD_SPLIT_MIN_BYTES`"
    ),
    "split_too_many_parts": Code(
        422,
        "`options.split` makes more than `EXPORTD_SPLIT_MAX_PARTS` parts: a 422 when the "
        "source counts cheaply, else the failed export's code (by rows once counted, by "
        "bytes at the part over it); the message names the fewest rows per part that fit",
    ),
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
    "method_not_allowed": Code(
        405, "the path does not take the method; `Allow` names those it does"
    ),
    # The page's own (an HTML notice, or the sign-in page)
    "csrf_failed": Code(
        403, "a page action without this page's CSRF token, or another site's form", PAGE
    ),
    "session_ended": Code(401, "the page's session was signed out (a copied cookie too)", PAGE),
    "session_expired": Code(
        401, "the page's session is older than `EXPORTD_PAGE_SESSION_TTL_S`", PAGE
    ),
    "host_refused": Code(
        403, "demo sign-in asked for by a name other than this server's (a rebound DNS name)", PAGE
    ),
    "export_active": Code(
        422, "Delete on an export still queued or running: cancel it first", PAGE
    ),
    "export_again_owner_only": Code(
        403, "Export again on another user's export (an admin's view)", PAGE
    ),
    # The command line
    "scope_unknown": Code(None, "`exportd apikey create --scope` names no scope", CLI),
    "api_key_not_found": Code(None, "`exportd apikey revoke` names no active key", CLI),
    # A failed export's or delivery's `error.code` (retried first when transient)
    "transient_error": Code(
        None, "I/O, a timeout or the database failed; the attempt is retried", FAILURE
    ),
    "worker_crashed": Code(
        None, "the job's process died (a signal, or out of memory); retried", FAILURE
    ),
    "time_limit_exceeded": Code(None, "the job ran past `EXPORTD_JOB_TIMEOUT_S`", FAILURE),
    "memory_limit_exceeded": Code(
        None, "the job used more than `EXPORTD_MEMORY_LIMIT_MB`", FAILURE
    ),
    "unknown_task": Code(None, "no task of the job's name in this worker", FAILURE),
    "row_limit_exceeded": Code(None, "more rows than the plan's `max_rows`", FAILURE),
    "rows_changed": Code(
        None, "the source gave more rows than it counted (an XLSX export); retried", FAILURE
    ),
    "value_unwritable": Code(None, "a value the format cannot hold", FAILURE),
    "source_query_failed": Code(None, "the data connection refused the source's query", FAILURE),
    "connection_unavailable": Code(
        None, "a named data connection cannot be opened (down, unreachable); retried", FAILURE
    ),
    "statement_timeout": Code(
        None, "the source's query ran past its connection's `statement_timeout_s`", FAILURE
    ),
    "storage_unavailable": Code(None, "the artifact store failed; retried", FAILURE),
    "storage_key_invalid": Code(None, "a storage key outside the store's root (a bug)", FAILURE),
    "smtp_missing": Code(None, "an email delivery on a server without `EXPORTD_SMTP_URL`", FAILURE),
    "smtp_unavailable": Code(None, "the mail server failed; retried", FAILURE),
    "email_rejected": Code(None, "the mail server refused the address", FAILURE),
    "webhook_unreachable": Code(
        None, "the webhook host does not resolve, or cannot be reached", FAILURE
    ),
    "webhook_redirect_refused": Code(
        None, "the webhook receiver answered with a redirect", FAILURE
    ),
    "webhook_failed": Code(
        None, "the webhook receiver answered 408, 425, 429 or 5xx; retried", FAILURE
    ),
    "webhook_rejected": Code(None, "the webhook receiver answered another 4xx", FAILURE),
    "destination_unreachable": Code(
        None, "the destination's host does not resolve or answer; retried", FAILURE
    ),
    "destination_unavailable": Code(
        None, "the destination failed (S3 5xx or throttling, an SFTP error); retried", FAILURE
    ),
    "destination_auth_failed": Code(
        None, "the destination refused the credentials (or they lack permission)", FAILURE
    ),
    "destination_host_key_mismatch": Code(
        None, "the SFTP server's host key is not the pinned one (both fingerprints named)", FAILURE
    ),
    "destination_bucket_missing": Code(None, "the destination's S3 bucket does not exist", FAILURE),
    "destination_rejected": Code(
        None, "the destination refused the write (a path or an S3 4xx)", FAILURE
    ),
    "destination_secret_unreadable": Code(
        None,
        "the sealed secret does not open (`EXPORTD_SECRET_KEY` changed): set it again",
        FAILURE,
    ),
    "destination_unsupported": Code(
        None, "the worker lacks the kind's extra (`exportd[s3]`, `exportd[sftp]`)", FAILURE
    ),
    "lease_expired": Code(
        None,
        "the worker running the job stopped heartbeating; retried while attempts last",
        FAILURE,
    ),
    "cancelled": Code(None, "the job stopped at a checkpoint: cancellation was asked for", FAILURE),
    "lease_lost": Code(
        None, "another attempt owns the job: this one's outcome is dropped", FAILURE
    ),
    # An exception class's own code: a raise names a precise one (a bug to report if seen)
    "exportd_error": Code(None, "`ExportdError`", DEFAULT),
    "config_invalid": Code(None, "`ConfigError`: a setting is wrong (start refused)", DEFAULT),
    "job_not_found": Code(404, "`JobNotFound`: no job of that id (`exportd jobs …`)", DEFAULT),
    "invalid_state": Code(409, "`InvalidTransition`: the job's state does not allow it", DEFAULT),
    "forbidden": Code(403, "`Forbidden`", DEFAULT),
    "validation_failed": Code(422, "`RequestInvalid`", DEFAULT),
    "conflict": Code(409, "`Conflict`", DEFAULT),
    "gone": Code(410, "`Gone`", DEFAULT),
    "limit_reached": Code(429, "`LimitReached`", DEFAULT),
    "service_disabled": Code(503, "`ServiceDisabled`", DEFAULT),
    "service_unavailable": Code(503, "`ServiceUnavailable`", DEFAULT),
    "job_failed": Code(None, "`JobError`", DEFAULT),
    "terminal_error": Code(None, "`TerminalJobError`", DEFAULT),
}


def where(kind: Where) -> dict[str, Code]:
    """The registry's codes seen in one place, in its order."""
    return {name: code for name, code in REGISTRY.items() if code.where is kind}
