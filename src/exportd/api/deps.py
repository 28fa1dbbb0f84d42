"""Dependencies: the principal from the bearer token, the services from app state.

They are ``async def`` on purpose: none blocks (verifying a JWT is ~35 µs of CPU), and
FastAPI would otherwise send each one through the thread pool, one hop per dependency.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from exportd.auth.principal import Principal
from exportd.auth.tokens import verify
from exportd.config import jwt_key
from exportd.documents.service import DocumentService
from exportd.errors import Unauthenticated
from exportd.exports.service import ExportService
from exportd.sources import SourceRegistry

bearer = HTTPBearer(auto_error=False, description="A JWT minted by the host application")


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("send 'Authorization: Bearer <token>'", code="auth_required")
    return verify(credentials.credentials, secret=jwt_key(request.app.state.settings))


async def export_service(request: Request) -> ExportService:
    service: ExportService = request.app.state.exports
    return service


async def document_service(request: Request) -> DocumentService:
    service: DocumentService = request.app.state.documents
    return service


async def sources(request: Request) -> SourceRegistry:
    registry: SourceRegistry = request.app.state.sources
    return registry


async def request_id(request: Request) -> str:
    return str(request.state.request_id)


CurrentPrincipal = Annotated[Principal, Depends(principal)]
Exports = Annotated[ExportService, Depends(export_service)]
Sources = Annotated[SourceRegistry, Depends(sources)]
Documents = Annotated[DocumentService, Depends(document_service)]
RequestId = Annotated[str, Depends(request_id)]
