"""The webhooks we POST to developers' URLs, for the OpenAPI document (3.1 `webhooks`; contract
section 3): no app serves them, so they are documented apart and added to the document."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.openapi.utils import get_openapi

from shared.api_models import WebhookEvent


def generation_event(event: WebhookEvent,
                     webhook_id: Annotated[str, Header(description="One per event, the same on every retry: dedupe on it.")],
                     webhook_timestamp: Annotated[str, Header(description="Unix seconds of this attempt.")],
                     webhook_signature: Annotated[str, Header(description=(
                         "`v1,<base64 HMAC-SHA256 of \"{webhook-id}.{webhook-timestamp}.{body}\">` keyed with your "
                         "secret (GET /webhooks/secret); two space-separated values for 24 h after a rotation."))]) -> None:
    """A generation started, progressed or completed (as its webhook_events asked). Answer 2xx within
    10 s; anything else is retried with growing delays for about a day. Verify it with the
    `standardwebhooks` library before trusting it."""


def _router() -> APIRouter:
    """What we POST to a developer's webhook_url (OpenAPI 3.1 `webhooks`; contract section 3)."""
    router = APIRouter()
    router.add_api_route("generation-event", generation_event, methods=["POST"], status_code=200,
                         responses={200: {"description": "Any 2xx: delivered."}})
    return router


def with_webhooks(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with the `webhooks` section and the schemas it names."""
    part = get_openapi(title="webhooks", version="1", routes=[], webhooks=_router().routes)
    # FastAPI adds its own 422 to any operation with parameters; a receiver's answers are not ours to type.
    for ops in part["webhooks"].values():
        for op in ops.values():
            op["responses"].pop("422", None)
    schemas = {k: v for k, v in part["components"]["schemas"].items() if k not in ("HTTPValidationError", "ValidationError")}
    doc.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
    doc["webhooks"] = part["webhooks"]
    return doc
