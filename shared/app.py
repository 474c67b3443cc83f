"""The one app factory every web function is built from: the contract's error shape for every error
(validation included), CORS from ALLOWED_ORIGINS, and one structured log line per request.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import auth, errors
from shared.logs import configure_logging
from shared.schemas import validation_errors
from shared.services import Services, get_services
from shared.settings import get_settings

log = logging.getLogger("wan.request")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def create_app(*routers: APIRouter, services: Services | None = None, title: str = "Wan Video API",
               docs_url: str | None = "/docs") -> FastAPI:
    configure_logging()
    app = FastAPI(title=title, version="1", docs_url=docs_url)
    app.state.services = services
    for router in routers:
        app.include_router(router)
    settings = services.settings if services else get_settings()
    app.add_middleware(CORSMiddleware, allow_origins=settings.origins, allow_methods=["*"],
                       allow_headers=["*"], expose_headers=["Retry-After"])
    app.middleware("http")(_log_request)
    app.add_exception_handler(errors.ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    return app


def error_response(exc: errors.ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _api_error(request: Request, exc: errors.ApiError) -> JSONResponse:
    _fields(request)["outcome"] = exc.code
    return error_response(exc)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return await _api_error(request, errors.InvalidRequest(errors=validation_errors(exc.errors())))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else "The request could not be served."
    if exc.status_code == 404:
        detail = "There is nothing at this path."
    body = {"detail": detail, "code": _HTTP_CODES.get(exc.status_code, "http_error")}
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return await _api_error(request, errors.ApiError())


async def _log_request(request: Request, call_next):
    started = time.perf_counter()
    fields = _fields(request)
    response = await call_next(request)
    fields.setdefault("outcome", "ok" if response.status_code < 400 else "error")
    log.info(json.dumps({
        "event": "request", "method": request.method, "path": request.url.path,
        "status": response.status_code, "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        **fields,
    }))
    return response


def _fields(request: Request) -> dict:
    """Per-request log fields (user_id, generation_id, outcome) that handlers add to."""
    if not hasattr(request.state, "log"):
        request.state.log = {}
    return request.state.log


def note(request: Request, **fields) -> None:
    """Add fields to this request's log line (generation id, outcome...)."""
    _fields(request).update({k: str(v) for k, v in fields.items() if v is not None})


# The dependencies are async so that FastAPI does not hop to a worker thread for each of them (a
# sync dependency costs a thread hop per request); only the handler itself, which does I/O, does.
async def _services(request: Request) -> Services:
    return request.app.state.services or get_services()


Svc = Annotated[Services, Depends(_services)]


async def _current_user(request: Request, svc: Svc,
                        authorization: Annotated[str | None, Header()] = None) -> uuid.UUID:
    if svc.settings.supabase_jwt_secret:  # HS256: pure computation, fine on the event loop
        user_id = auth.user_id_from_header(authorization, svc.settings)
    else:  # JWKS: may fetch the project's keys over the network
        user_id = await run_in_threadpool(auth.user_id_from_header, authorization, svc.settings)
    note(request, user_id=user_id)
    return user_id


CurrentUser = Annotated[uuid.UUID, Depends(_current_user)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)]
