"""GET /status?generation_id=ID: one of the caller's generations, asking Replicate if it went quiet;
GET /status/stream: the same as server-sent events, at once and on every change (shared/status_stream.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from shared import caching, errors, generations, status_stream
from shared.api_models import Generation, documented
from shared.app import CurrentUser, Svc, counted_in_its_transaction, note

PATH = "/status"


@counted_in_its_transaction("request")
def generation_status(generation_id: uuid.UUID, request: Request, response: Response, svc: Svc, user: CurrentUser,
                      if_none_match: Annotated[str | None, Header(max_length=1024)] = None):
    """The generation's status, progress and, once it succeeded, a video URL the browser can play.
    Answers an ETag: the same one in If-None-Match gets a 304 without a body."""
    note(request, generation_id=generation_id)
    gen = generations.status_row(svc, user, generation_id)
    seconds = generations.SIGNED_URL_SECONDS
    headers = {"ETag": caching.etag(gen, seconds), "Cache-Control": caching.cache_control(gen, seconds)}
    if caching.matches(if_none_match, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return generations.view(svc, gen)


def router(path: str = PATH) -> APIRouter:
    r = APIRouter()
    route = documented(Generation, errors.NotFound, errors.InvalidRequest, errors.ServiceUnavailable)
    route["responses"][304] = {"description": "Not modified: If-None-Match holds the current ETag."}
    r.add_api_route(path, generation_status, methods=["GET"], **route)
    r.add_api_route(path.rstrip("/") + "/stream", status_stream.stream, methods=["GET"], **status_stream.documented())
    return r
