"""The API's OpenAPI document, as checked in at docs/openapi.json (a frontend generates its client
from it). Made from the production routers only, the ones modal_app.py serves, at their local paths;
the local-only routes (/dev/signup, /files, the web client) are never in it.

    python -m shared.openapi > docs/openapi.json      # regenerate after changing a route or model
"""

from __future__ import annotations

import json
from typing import Any

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.openapi.utils import get_openapi

from shared.api_models import WebhookEvent
from shared.app import DESCRIPTION, VERSION

PATH = "docs/openapi.json"
REGENERATE = f"python -m shared.openapi > {PATH}"


def production_routers() -> list:
    """Every production web function's router (modal_app.py serves each of them on its own URL)."""
    from functions import (account, generation_status, image_to_video, replicate_webhook, stripe_webhook,
                           text_to_video)

    return [text_to_video.router(), image_to_video.router(), generation_status.router(),
            replicate_webhook.router(), stripe_webhook.router(), account.router()]


def generation_event(event: WebhookEvent,
                     webhook_id: Annotated[str, Header(description="One per event, the same on every retry: dedupe on it.")],
                     webhook_timestamp: Annotated[str, Header(description="Unix seconds of this attempt.")],
                     webhook_signature: Annotated[str, Header(description=(
                         "`v1,<base64 HMAC-SHA256 of \"{webhook-id}.{webhook-timestamp}.{body}\">` keyed with your "
                         "secret (GET /webhooks/secret); two space-separated values for 24 h after a rotation."))]) -> None:
    """A generation started, progressed or completed (as its webhook_events asked). Answer 2xx within
    10 s; anything else is retried with growing delays for about a day. Verify it with the
    `standardwebhooks` library before trusting it."""


def webhooks_router() -> APIRouter:
    """What we POST to a developer's webhook_url (OpenAPI 3.1 `webhooks`; contract section 3)."""
    router = APIRouter()
    router.add_api_route("generation-event", generation_event, methods=["POST"], status_code=200,
                         responses={200: {"description": "Any 2xx: delivered."}})
    return router


def document(title: str = "Wan Video API") -> dict[str, Any]:
    """The document, exactly as the app made of the production routers serves it at /openapi.json,
    plus the webhooks we send (which no app serves)."""
    routes = [route for router in production_routers() for route in router.routes]
    doc = get_openapi(title=title, version=VERSION, description=DESCRIPTION, routes=routes,
                      webhooks=webhooks_router().routes)
    # FastAPI adds its own 422 to any operation with parameters; a receiver's answers are not ours to type.
    for ops in doc["webhooks"].values():
        for op in ops.values():
            op["responses"].pop("422", None)
    for name in ("HTTPValidationError", "ValidationError"):
        doc["components"]["schemas"].pop(name, None)
    return doc


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    print(dumps(document()), end="")


if __name__ == "__main__":
    main()
