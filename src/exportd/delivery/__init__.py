"""Telling users: email through SMTP and signed webhooks, each a job with its own retries
and dead letters."""
