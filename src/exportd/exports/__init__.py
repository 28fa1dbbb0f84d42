"""The export domain: create, read, cancel, retry; plans and their limits."""
