"""The generic durable job queue: exports, deliveries and maintenance are all jobs here."""

from exportd.queue.models import Job, JobState, NewJob
from exportd.queue.retry import RetryPolicy
from exportd.queue.store import JobStore

__all__ = ["Job", "JobState", "JobStore", "NewJob", "RetryPolicy"]
