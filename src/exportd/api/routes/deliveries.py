"""Email and webhook deliveries: per export, the dead letters, and a manual retry.

The domain's ``DeliveryView`` dataclass is the response schema as it is."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, status

from exportd.api.deps import Deliveries, Exports, ReadExports, WriteExports
from exportd.api.routers import api_router
from exportd.delivery.service import DeliveryView

router = api_router(tags=["deliveries"])


@router.get("/v1/exports/{export_id}/deliveries", response_model=list[DeliveryView])
def list_export_deliveries(
    export_id: str, principal: ReadExports, exports: Exports, deliveries: Deliveries
) -> list[DeliveryView]:
    """The emails and webhooks sent (or trying) for one export."""
    exports.get(principal, export_id)  # 404 unless the caller may see the export
    return deliveries.for_export(principal, export_id)


@router.get("/v1/deliveries/failed", response_model=list[DeliveryView])
def list_failed_deliveries(
    principal: ReadExports,
    deliveries: Deliveries,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[DeliveryView]:
    """The dead letter: deliveries that ran out of attempts (an admin sees everyone's)."""
    return deliveries.failed(principal, limit=limit)


@router.post(
    "/v1/deliveries/{delivery_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryView,
)
def retry_delivery(
    delivery_id: str, principal: WriteExports, deliveries: Deliveries
) -> DeliveryView:
    """Send a failed delivery again with a fresh attempt budget (owner or admin; rate-limited)."""
    return deliveries.retry(principal, delivery_id)
