"""/docs for the local stack with no network: Swagger UI's files come from the `fastapi-offline`
wheel (installed with the project; Swagger UI 5.x, which reads OpenAPI 3.1 as our document is)
instead of FastAPI's default CDN, so the page works offline and nothing leaves the machine."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
# The package's own static folder (swagger-ui-bundle.js, swagger-ui.css, favicon.png).
STATIC = Path(fastapi_offline.__file__).parent / "static"


def serve_docs(app: FastAPI, path: str = "/docs") -> None:
    """Swagger UI at `path`, its JS, CSS and icon served by `app` itself."""
    redirect = f"{path}/oauth2-redirect"

    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} - Swagger UI", oauth2_redirect_url=redirect,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            # No spec validator badge: Swagger UI would send the spec to validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_api_route(path, docs, include_in_schema=False)
    app.add_api_route(redirect, oauth2_redirect, include_in_schema=False)
    app.mount(ASSETS, StaticFiles(directory=str(STATIC)), name="swagger-ui")
