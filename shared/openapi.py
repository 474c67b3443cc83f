"""The API's OpenAPI document, as checked in at docs/openapi.json (a frontend generates its client
from it). Made from the production routers only, the ones modal_app.py serves, at their local paths;
the local-only routes (/dev/signup, /files, the web client) are never in it.

    python -m shared.openapi > docs/openapi.json      # regenerate after changing a route or model
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.openapi.utils import get_openapi

from shared.app import DESCRIPTION, VERSION
from shared.webhook_docs import with_webhooks

PATH = "docs/openapi.json"
REGENERATE = f"python -m shared.openapi > {PATH}"


def production_routers() -> list:
    """Every production web function's router (modal_app.py serves each of them on its own URL)."""
    from functions import (account, generation_status, image_to_video, replicate_webhook, stripe_webhook,
                           text_to_video)

    return [text_to_video.router(), image_to_video.router(), generation_status.router(),
            replicate_webhook.router(), stripe_webhook.router(), account.router()]


def document(title: str = "Wan Video API") -> dict[str, Any]:
    """The document, exactly as the app made of the production routers serves it at /openapi.json,
    plus the webhooks we send (which no app serves)."""
    routes = [route for router in production_routers() for route in router.routes]
    return with_webhooks(get_openapi(title=title, version=VERSION, description=DESCRIPTION, routes=routes))


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    print(dumps(document()), end="")


if __name__ == "__main__":
    main()
