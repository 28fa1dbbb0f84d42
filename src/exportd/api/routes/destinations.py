"""/v1/destinations: the customer's own storage (S3, SFTP) exports are delivered to."""

from __future__ import annotations

from fastapi import Response, status
from starlette.concurrency import run_in_threadpool

from exportd.api.deps import Destinations, ReadDestinations, WriteDestinations
from exportd.api.destination_schemas import (
    DestinationChange,
    DestinationCreate,
    DestinationOut,
    TestOut,
)
from exportd.api.routers import api_router

router = api_router(prefix="/v1/destinations", tags=["destinations"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DestinationOut)
def create_destination(
    body: DestinationCreate,
    principal: WriteDestinations,
    destinations: Destinations,
    response: Response,
) -> DestinationOut:
    """Save a destination; its host is checked now, its secret sealed and never shown."""
    view = destinations.create(
        principal, kind=body.kind, name=body.name, config=body.config, secret=body.secret
    )
    response.headers["Location"] = f"/v1/destinations/{view.id}"
    return DestinationOut.of(view)


@router.get("", response_model=list[DestinationOut])
def list_destinations(
    principal: ReadDestinations, destinations: Destinations
) -> list[DestinationOut]:
    """Your destinations, by name."""
    return [DestinationOut.of(v) for v in destinations.list_destinations(principal)]


@router.get("/{destination_id}", response_model=DestinationOut)
def get_destination(
    destination_id: str, principal: ReadDestinations, destinations: Destinations
) -> DestinationOut:
    return DestinationOut.of(destinations.get(principal, destination_id))


@router.patch("/{destination_id}", response_model=DestinationOut)
def update_destination(
    destination_id: str,
    body: DestinationChange,
    principal: WriteDestinations,
    destinations: Destinations,
) -> DestinationOut:
    """Rename it, change config fields (merged, checked again) or replace the secret."""
    view = destinations.update(
        principal, destination_id, name=body.name, config=body.config, secret=body.secret
    )
    return DestinationOut.of(view)


@router.delete("/{destination_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_destination(
    destination_id: str, principal: WriteDestinations, destinations: Destinations
) -> Response:
    """Delete it and its secret; deliveries still pending to it fail as not found."""
    destinations.delete(principal, destination_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{destination_id}/test", response_model=TestOut)
async def test_destination(
    destination_id: str, principal: WriteDestinations, destinations: Destinations
) -> TestOut:
    """Write a small probe object or file and remove it. A failure is a result (200,
    ``ok: false`` with the code a delivery would fail with), not an error."""
    result = await run_in_threadpool(destinations.test, principal, destination_id)
    return TestOut.of(result)
