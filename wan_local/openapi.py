"""The API's OpenAPI document, as checked in at docs/openapi.json (the SDKs in clients/ and any
frontend generate their types from it). Made from the production routers only, the ones modal_app.py
serves, at their local paths; the local-only routes (/dev/signup, /files, the web client) are never in it.

    python -m wan_local.openapi > docs/openapi.json      # or scripts/regenerate: the document and the SDKs' types

Each path names the Modal web function that serves it (`x-wan-function`) and its path below that
function's URL (`x-wan-function-path`): on Modal the card's endpoints answer at their own URL's root
and `account` at `<its URL><path>`. The SDKs read these to map a path to a deployed URL.
It lives in the local stack's package (not shared/) because it reaches up into functions/.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from functions import (account, generation_status, image_to_video, replicate_webhook, stripe_webhook,
                       text_to_video)
from shared.api_models import refine
from shared.app import DESCRIPTION, VERSION
from shared.webhook_docs import with_webhooks

PATH = "docs/openapi.json"
REGENERATE = "scripts/regenerate"
LOCAL_SERVER = {"url": "http://127.0.0.1:8000", "description": "the local stack (`wan-api dev`); on Modal "
                "each path is served by the web function its `x-wan-function` names"}

# Each Modal web function, and the prefix modal_app.py mounts its router at ("/": the function's URL
# root; None: the router's own local paths). tests/test_openapi.py checks this against modal_app.py.
FUNCTIONS: dict[str, tuple[Any, str | None]] = {
    "text_to_video": (text_to_video, "/"), "image_to_video": (image_to_video, "/"),
    "generation_status": (generation_status, "/"), "replicate_webhook": (replicate_webhook, "/"),
    "account": (account, None), "stripe_webhook": (stripe_webhook, "/"),
}


def _routes(router: APIRouter) -> list[APIRoute]:
    return [route for route in router.routes if isinstance(route, APIRoute)]


def production_routers() -> list[APIRouter]:
    """Every production web function's router, at its local paths."""
    return [module.router() for module, _ in FUNCTIONS.values()]


def function_paths() -> dict[str, tuple[str, str]]:
    """{local path: (Modal function, path below its URL)}: a router mounted at "/" puts its routes at
    the same places below the root, in the same order."""
    table = {}
    for name, (module, prefix) in FUNCTIONS.items():
        local = _routes(module.router())
        remote = _routes(module.router(prefix)) if prefix else local
        for here, there in zip(local, remote, strict=True):
            table[here.path] = (name, there.path)
    return table


def with_functions(doc: dict[str, Any]) -> dict[str, Any]:
    """`servers` and each path's function, added to a document of the production routes."""
    table = function_paths()
    for path, item in doc["paths"].items():
        if path in table:
            item["x-wan-function"], item["x-wan-function-path"] = table[path]
    return {"openapi": doc["openapi"], "info": doc["info"], "servers": [LOCAL_SERVER],
            **{k: v for k, v in doc.items() if k not in ("openapi", "info", "servers")}}


def serve_with_functions(app) -> None:
    """Make `app` (the local stack, serving every production router) answer /openapi.json with each
    path's function and the local server, as the checked-in document has them."""
    make, made = app.openapi, []

    def openapi() -> dict[str, Any]:
        if not made:
            made.append(with_functions(make()))
        return made[0]
    app.openapi = openapi


def document(title: str = "Wan Video API") -> dict[str, Any]:
    """The document, as the local stack serves it at /openapi.json (less its /dev/ routes), plus the
    webhooks we send (which no app serves)."""
    routes = [route for router in production_routers() for route in router.routes]
    return with_functions(refine(with_webhooks(get_openapi(title=title, version=VERSION, description=DESCRIPTION,
                                                          routes=routes))))


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    print(dumps(document()), end="")


if __name__ == "__main__":
    main()
