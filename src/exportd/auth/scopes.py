"""What a caller may do: the scopes routes require and principals hold.

A user (a JWT) holds every scope but ``admin``, which an ``admin: true`` claim adds.  An
API key holds the scopes it was created with.  ``admin`` grants every other scope too.
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    EXPORTS_READ = "exports:read"  # list, read, follow and download exports; the catalogue
    EXPORTS_WRITE = "exports:write"  # create, cancel, delete and retry exports and deliveries
    DOCUMENTS_READ = "documents:read"  # read documents and preview them
    DOCUMENTS_WRITE = "documents:write"  # create, change and delete documents
    DESTINATIONS_READ = "destinations:read"  # list and read destinations (never a secret)
    DESTINATIONS_WRITE = "destinations:write"  # create, change, delete and test destinations
    ADMIN = "admin"  # plans, operators' reports, bulk exports; everyone's exports


ALL = frozenset(Scope)
USER = ALL - {Scope.ADMIN}


def grants(held: frozenset[str], needed: Scope) -> bool:
    return needed in held or Scope.ADMIN in held
