"""Dependencies: the principal from the bearer token, the scope each route needs, and
the services from app state.

Every ``/v1`` route takes its principal through one of the scoped aliases below
(``ReadExports``, ``WriteExports``, ``ReadDocuments``, ``WriteDocuments``,
``ReadDestinations``, ``WriteDestinations``, ``ReadOps``, ``Admin``), so
it declares the scope it needs; an API key without it gets 403 ``scope_missing``
(``admin_required`` for admin routes).  A test walks the app's routes to hold this.

They are ``async def`` on purpose: none blocks (verifying a JWT is ~35 µs of CPU), and
FastAPI would otherwise send each one through the thread pool, one hop per dependency.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from exportd.auth.api_keys import ApiKeys, is_api_key
from exportd.auth.principal import Principal
from exportd.auth.scopes import Scope
from exportd.auth.tokens import TokenVerifier
from exportd.delivery.service import DeliveryService
from exportd.destinations.service import DestinationService
from exportd.documents.service import DocumentService
from exportd.errors import Forbidden, Unauthenticated
from exportd.exports.plan_book import PlanBook
from exportd.exports.service import ExportService
from exportd.schedules.service import ScheduleService
from exportd.sources import SourceRegistry

# The two ways to send a credential, as the OpenAPI document declares them; a route's
# ``RequireScope`` names the scope in each (a user's JWT holds every scope but admin).
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    bearerFormat="JWT",
    description="A JWT minted by the host application (claims `sub`, `plan`, `exp`; "
    "optional `email`, `admin`), or an API key: `Authorization: Bearer exk_…`",
)
api_key = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="apiKey",
    description="An API key (`exk_…`) made by `exportd apikey create NAME --scope …`",
)


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    x_api_key: Annotated[str | None, Depends(api_key)],
) -> Principal:
    token = x_api_key or (credentials.credentials if credentials else None)
    if token is None:
        raise Unauthenticated("send 'Authorization: Bearer <token>'", code="auth_required")
    if is_api_key(token):
        keys: ApiKeys = request.app.state.api_keys
        return await run_in_threadpool(keys.verify, token)  # a database look-up
    verifier: TokenVerifier = request.app.state.tokens
    if verifier.uses_network:
        return await run_in_threadpool(verifier.verify, token)  # may fetch the JWKS
    return verifier.verify(token)


class RequireScope:
    """The dependency that declares, and checks, the scope a route needs."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, principal: Annotated[Principal, Depends(principal)]) -> Principal:
        if principal.may(self.scope):
            return principal
        if self.scope is Scope.ADMIN:
            raise Forbidden("this needs an admin token or key", code="admin_required")
        raise Forbidden(f"this needs the {self.scope.value!r} scope", code="scope_missing")


async def export_service(request: Request) -> ExportService:
    service: ExportService = request.app.state.exports
    return service


async def plan_book(request: Request) -> PlanBook:
    book: PlanBook = request.app.state.plans
    return book


async def document_service(request: Request) -> DocumentService:
    service: DocumentService = request.app.state.documents
    return service


async def delivery_service(request: Request) -> DeliveryService:
    service: DeliveryService = request.app.state.deliveries
    return service


async def schedule_service(request: Request) -> ScheduleService:
    service: ScheduleService = request.app.state.schedules
    return service


async def destination_service(request: Request) -> DestinationService:
    service: DestinationService = request.app.state.destinations
    return service


async def sources(request: Request) -> SourceRegistry:
    registry: SourceRegistry = request.app.state.sources
    return registry


async def request_id(request: Request) -> str:
    return str(request.state.request_id)


def _scoped(scope: Scope) -> Any:
    # Security(), not Depends(): the scope then shows in the operation's security
    # requirements (bearerAuth: [scope], apiKey: [scope]).
    return Security(RequireScope(scope), scopes=[scope.value])


ReadExports = Annotated[Principal, _scoped(Scope.EXPORTS_READ)]
WriteExports = Annotated[Principal, _scoped(Scope.EXPORTS_WRITE)]
ReadDocuments = Annotated[Principal, _scoped(Scope.DOCUMENTS_READ)]
WriteDocuments = Annotated[Principal, _scoped(Scope.DOCUMENTS_WRITE)]
ReadDestinations = Annotated[Principal, _scoped(Scope.DESTINATIONS_READ)]
WriteDestinations = Annotated[Principal, _scoped(Scope.DESTINATIONS_WRITE)]
ReadOps = Annotated[Principal, _scoped(Scope.OPS_READ)]
Admin = Annotated[Principal, _scoped(Scope.ADMIN)]
Exports = Annotated[ExportService, Depends(export_service)]
Plans = Annotated[PlanBook, Depends(plan_book)]
Sources = Annotated[SourceRegistry, Depends(sources)]
Documents = Annotated[DocumentService, Depends(document_service)]
Deliveries = Annotated[DeliveryService, Depends(delivery_service)]
Schedules = Annotated[ScheduleService, Depends(schedule_service)]
Destinations = Annotated[DestinationService, Depends(destination_service)]
RequestId = Annotated[str, Depends(request_id)]
