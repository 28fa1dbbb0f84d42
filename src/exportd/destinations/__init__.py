"""Destinations: the customer's own storage (an S3 bucket, an SFTP server) that exports
are delivered to, each delivery a job with retries and a dead letter.

``models`` (configs, secrets, views), ``keys`` (key templates), ``secrets`` (sealed at
rest), ``guard`` (SSRF), ``port`` (the writer port) with ``s3`` and ``sftp`` behind it,
``service`` (the store's rules) and ``jobs`` (scheduling, sending, settling).
"""
