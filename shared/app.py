"""The one app factory every web function is built from: the contract's error shape for every error
(validation included), CORS from ALLOWED_ORIGINS, a body limit per route checked before the body is
read (and the user's token checked before it, too), and one structured log line per response.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import api_keys, auth, errors, logs, ratelimit
from shared.api_models import refine
from shared.admin import ADMIN_ROLE, Admin
from shared.images import MAX_BYTES as MAX_IMAGE_BYTES
from shared.logs import configure_logging
from shared.schemas import validation_errors
from shared.services import Services, get_services
from shared.settings import get_settings

log = logging.getLogger("wan.request")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}

# The most a request body may hold, per route (item 2 of issue 11): refused on Content-Length before a
# byte is read, and counted while it streams (a chunked body has no length).
JSON_BODY_LIMIT = 64 * 1024
WEBHOOK_BODY_LIMIT = 1024 * 1024                       # Replicate's and Stripe's events
UPLOAD_BODY_LIMIT = MAX_IMAGE_BYTES + 64 * 1024         # the image plus the form's text fields


VERSION = "1"
DESCRIPTION = (
    "Credit-metered video generation with Replicate's Wan models. Every error answers "
    '`{"detail": "<one sentence for a person>", "code": "<machine code>", ...}`. '
    "Locally each endpoint is served at the path shown; on Modal each of text_to_video, image_to_video, "
    "generation_status, replicate_webhook and stripe_webhook answers at its own function URL's root, "
    "and `account` at `<its URL>/credits`, `<its URL>/pricing` and so on."
)


def body_limit(max_bytes: int):
    """Give an endpoint its own body limit (else: uploads or JSON, see _route_rules; the webhooks
    declare theirs)."""
    def mark(endpoint):
        endpoint.body_limit = max_bytes
        return endpoint
    return mark


def counted_in_its_transaction(policy: str):
    """Mark an endpoint whose own database call counts the caller in the `policy` window, in the same
    transaction (a create in `create`, shared/generations.py; GET /status in `request`), so the guard
    makes no round trip of its own for it."""
    def mark(endpoint):
        endpoint.counted_in_its_transaction = policy
        return endpoint
    return mark


def create_app(*routers: APIRouter, services: Services | None = None, title: str = "Wan Video API",
               docs_url: str | None = "/docs") -> FastAPI:
    configure_logging()
    app = FastAPI(title=title, version=VERSION, description=DESCRIPTION, docs_url=docs_url)
    app.state.services = services
    for router in routers:
        app.include_router(router)
    settings = services.settings if services else get_settings()
    # Added innermost first: the log sees every answer (CORS'd or not), CORS covers the guard's refusals.
    routes = [route for router in routers for route in router.routes if isinstance(route, APIRoute)]
    app.add_middleware(_RequestGuard, fastapi_app=app, routes=routes)
    app.add_middleware(CORSMiddleware, allow_origins=settings.origins, allow_methods=["*"],
                       allow_headers=["*"], expose_headers=["Retry-After", "RateLimit", "RateLimit-Policy"])
    app.add_middleware(_RequestLog)
    app.add_exception_handler(errors.ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    _refine_openapi(app)
    return app


def _refine_openapi(app: FastAPI) -> None:
    """Serve the document as generators read it (api_models.refine), once per app."""
    make = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = refine(make())
        return app.openapi_schema
    app.openapi = openapi


def error_response(exc: errors.ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _api_error(request: Request, exc: errors.ApiError) -> JSONResponse:
    _fields(request)["outcome"] = exc.code
    return error_response(exc)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return await _api_error(request, errors.InvalidRequest(errors=validation_errors(exc.errors())))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if isinstance(exc, _BodyTooLarge):
        return await _api_error(request, exc.error)
    if exc.status_code == 400:  # FastAPI: "There was an error parsing the body" (bad multipart, ...)
        return await _api_error(request, errors.InvalidRequest(
            "The request body could not be read as the content type it declares."))
    detail = exc.detail if isinstance(exc.detail, str) else "The request could not be served."
    if exc.status_code == 404:
        detail = "There is nothing at this path."
    body = {"detail": detail, "code": _HTTP_CODES.get(exc.status_code, "http_error")}
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return await _api_error(request, errors.ApiError())


class _RequestLog:
    """One JSON log line per response, 500s included (pure ASGI: no per-request task, and it sees an
    exception that escapes every handler, which BaseHTTPMiddleware did not)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        fields = scope.setdefault("state", {}).setdefault("log", {})
        status = 500  # what the client gets if an exception escapes before a response starts

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except BaseException:
            fields.setdefault("outcome", "internal_error")
            raise
        finally:
            fields.setdefault("outcome", "ok" if status < 400 else "error")
            logs.event(log, "request", **{"method": scope["method"], "path": scope["path"], "status": status,
                                          "duration_ms": round((time.perf_counter() - started) * 1000, 1), **fields})


class _BodyTooLarge(StarletteHTTPException):
    """Raised from `receive` when a streamed body passes its limit. An HTTPException, so that FastAPI's
    body parsing re-raises it as it is instead of turning it into a 400."""

    def __init__(self, error: errors.ApiError):
        super().__init__(413, error.detail)
        self.error = error


class _RequestGuard:
    """Before the handler reads a byte of the body: refuse a declared length over the route's limit,
    check the user's token for routes that need one (the dependency then reuses the answer), and
    count the bytes as they stream so that a body without a length cannot pass the limit either."""

    def __init__(self, app: ASGIApp, fastapi_app: FastAPI, routes: list[APIRoute]):
        self.app, self.fastapi_app, self.routes = app, fastapi_app, routes
        self.rules = {id(route): _route_rules(route) for route in routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope) if scope["type"] == "http" else None
        if route is None:  # not ours, or a 404/405 that reads no body
            return await self.app(scope, receive, send)
        limit, needs_user, counted_by_handler = self.rules[id(route)]
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        caller = None
        try:
            if int(declared) > limit:
                raise _too_large(limit)
            if needs_user:
                caller = await self._caller(scope, counted_by_handler)
        except errors.ApiError as exc:
            scope.setdefault("state", {}).setdefault("log", {})["outcome"] = exc.code
            return await error_response(exc)(scope, receive, send)
        except ValueError:  # a Content-Length that is not a number (the HTTP server refuses it first)
            return await error_response(errors.InvalidRequest("Content-Length is not a number."))(scope, receive, send)
        if caller is not None:
            token = ratelimit.use(caller)
            try:
                settings = self._services().settings
                return await self._counted(scope, receive, _with_rate_headers(send, caller, settings), limit)
            finally:
                ratelimit.reset(token)
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _BodyTooLarge(_too_large(limit))
            return message

        await self.app(scope, counted, send)

    def _route(self, scope: Scope) -> APIRoute | None:
        # The routers' own routes (the app's router wraps included ones differently across versions).
        return next((route for route in self.routes if route.matches(scope)[0] is Match.FULL), None)

    def _services(self) -> Services:
        return self.fastapi_app.state.services or get_services()

    async def _caller(self, scope: Scope, counted_by_handler: str | None) -> ratelimit.Caller:
        """Who calls (session token or API key), counted in the `request` window (one upsert, refused
        with a 429) unless the route's own transaction counts it (`counted_in_its_transaction`)."""
        svc = self._services()
        header = dict(scope["headers"]).get(b"authorization")
        authorization = header.decode("latin-1") if header is not None else None
        caller = await _verify(authorization, svc)
        scope.setdefault("state", {})["user_id"] = caller.user_id
        scope["state"]["caller"] = caller
        if counted_by_handler:
            caller.policy = counted_by_handler
            return caller
        caller.rate = await run_in_threadpool(
            svc.backend.call, "hit_request_rate", p_user_id=caller.user_id,
            p_limit=svc.settings.request_rate_per_minute, p_api_key_id=caller.api_key_id)
        if not caller.rate["allowed"]:
            raise ratelimit.request_refused(caller.rate)
        return caller


def _with_rate_headers(send: Send, caller: ratelimit.Caller, settings) -> Send:
    """Add the caller's RateLimit headers to the answer (an error's own take precedence)."""
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(k.lower().encode(), v.encode()) for k, v in ratelimit.headers(caller, settings).items()
                     if k.lower().encode() not in present]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)
    return send_with_headers


async def _verify(authorization: str | None, svc: Services) -> ratelimit.Caller:
    """The caller of `Authorization: Bearer <token>`: a Supabase access token, checked as the token's
    own alg says, or an API key (`wan_…`), which acts as its owner."""
    token = auth.bearer_token(authorization)
    settings = svc.settings
    if api_keys.is_api_key(token):
        found = api_keys.cached(token) or await run_in_threadpool(api_keys.verify, token, svc)
        return ratelimit.Caller(found[0], found[1])
    known = auth.cached_user(token, settings)  # verified before by this container, still valid
    if known is not None:
        return ratelimit.Caller(known)
    if auth.needs_network(token, settings):  # ES256/RS256: may fetch the project's JWKS
        return ratelimit.Caller(await run_in_threadpool(auth.verify_token, token, settings))
    return ratelimit.Caller(auth.verify_token(token, settings))  # HS256: pure computation, fine on the loop


def _route_rules(route: APIRoute) -> tuple[int, bool, str | None]:
    """(body limit, needs a signed-in user, the window its own transaction counts it in) of one route."""
    limit = getattr(route.endpoint, "body_limit", None)
    if limit is None:
        uploads = any(isinstance(p.field_info, params.File) for p in _params(route.dependant))
        limit = UPLOAD_BODY_LIMIT if uploads else JSON_BODY_LIMIT
    return limit, _needs(route.dependant, _current_user), getattr(route.endpoint, "counted_in_its_transaction", None)


def _too_large(limit: int) -> errors.ApiError:
    if limit == UPLOAD_BODY_LIMIT:
        return errors.ImageTooLarge(f"The upload is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB, "
                                    "the most an image may be.")
    return errors.PayloadTooLarge(f"The request body is larger than {limit // 1024} KB, the most "
                                  "this endpoint accepts.")


def _params(dependant):
    yield from dependant.body_params
    for sub in dependant.dependencies:
        yield from _params(sub)


def _needs(dependant, call) -> bool:
    return any(sub.call is call or _needs(sub, call) for sub in dependant.dependencies)


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


# The bearer scheme, for the OpenAPI document only: auto_error=False, so it never answers by itself; the
# request guard (and _verify below) checks the header and answers 401 `unauthorized` as before.
_bearer = HTTPBearer(scheme_name="bearerAuth", auto_error=False,
                     description="A Supabase access token (aud `authenticated`; locally, POST /dev/signup gives one), "
                                 "or a personal API key `wan_live_…` (POST /api-keys).")


async def _current_user(request: Request, svc: Svc, _: Annotated[object, Depends(_bearer)]) -> uuid.UUID:
    user_id = request.scope.get("state", {}).get("user_id")
    if not isinstance(user_id, uuid.UUID):  # the request guard checked it before the body was read
        caller = await _verify(request.headers.get("authorization"), svc)
        request.scope.setdefault("state", {})["caller"] = caller
        user_id = caller.user_id
    note(request, user_id=user_id)
    return user_id


CurrentUser = Annotated[uuid.UUID, Depends(_current_user)]


async def _session_user(request: Request, user: CurrentUser) -> uuid.UUID:
    caller = request.scope.get("state", {}).get("caller")
    if caller is not None and caller.api_key_id is not None:
        raise errors.Forbidden("API keys cannot manage API keys: sign in and use your session's access token.")
    return user


SessionUser = Annotated[uuid.UUID, Depends(_session_user)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)]


async def _admin_user(request: Request, svc: Svc, user: CurrentUser) -> Admin:
    """An admin (CONTRACT §5): a session token whose app_metadata.role is "admin". API keys never are."""
    caller = request.scope.get("state", {}).get("caller")
    if caller is not None and caller.api_key_id is not None:
        raise errors.Forbidden("API keys cannot use the admin console: sign in as an admin.")
    token = auth.bearer_token(request.headers.get("authorization"))
    if auth.needs_network(token, svc.settings):
        role = await run_in_threadpool(auth.app_metadata_role, token, svc.settings)
    else:
        role = auth.app_metadata_role(token, svc.settings)
    if role != ADMIN_ROLE:
        raise errors.Forbidden("Only an admin may do this.")
    return Admin(actor=auth.token_email(token) or str(user), user_id=user)


AdminUser = Annotated[Admin, Depends(_admin_user)]
