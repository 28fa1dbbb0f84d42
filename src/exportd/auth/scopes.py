"""What a caller may do: the scopes routes require and principals hold.

A user (a JWT) holds every scope but ``admin`` and ``ops:read``; an ``admin: true`` claim
adds both.  An API key holds the scopes it was created with.  ``admin`` grants every
other scope too.
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
    OPS_READ = "ops:read"  # the operator's console and reports, read-only (a dashboard's key)
    ADMIN = "admin"  # plans, operators' actions, bulk exports; everyone's exports


ALL = frozenset(Scope)
USER = ALL - {Scope.ADMIN, Scope.OPS_READ}


def grants(held: frozenset[str], needed: Scope) -> bool:
    return needed in held or Scope.ADMIN in held
