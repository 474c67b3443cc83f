"""GET /status?generation_id=ID: one of the caller's generations, asking Replicate if it went quiet."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from shared import errors, generations
from shared.api_models import Generation, documented
from shared.app import CurrentUser, Svc, counted_in_its_transaction, note

PATH = "/status"


@counted_in_its_transaction("request")
def generation_status(generation_id: uuid.UUID, request: Request, svc: Svc, user: CurrentUser) -> dict:
    """The generation's status, progress and, once it succeeded, a video URL the browser can play."""
    note(request, generation_id=generation_id)
    return generations.status(svc, user, generation_id)


def router(path: str = PATH) -> APIRouter:
    r = APIRouter()
    r.add_api_route(path, generation_status, methods=["GET"], **documented(
        Generation, errors.NotFound, errors.InvalidRequest, errors.ServiceUnavailable))
    return r
