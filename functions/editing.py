"""Advanced editing, served by the `account` web function: POST /generations/{id}/extend."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from shared import editing, errors
from shared.api_models import ExtendAccepted, documented
from shared.app import CurrentUser, IdempotencyKey, Svc, counted_in_its_transaction, note
from shared.editing import ExtendRequest


@counted_in_its_transaction("create")
def extend(generation_id: uuid.UUID, body: ExtendRequest, request: Request, svc: Svc, user: CurrentUser,
           idempotency_key: IdempotencyKey = None) -> dict:
    """Continue a succeeded video: a new image-to-video generation from its last frame, charged as new."""
    answer = editing.extend(svc, user, generation_id, body, idempotency_key=idempotency_key)
    note(request, generation_id=answer["generation_id"], extends=generation_id)
    return answer


def router() -> APIRouter:
    r = APIRouter()
    r.add_api_route("/generations/{generation_id}/extend", extend, methods=["POST"], **documented(
        ExtendAccepted, errors.InsufficientCredits, errors.NotFound, errors.InvalidState,
        errors.IdempotencyKeyReused, errors.PayloadTooLarge, errors.InvalidRequest,
        errors.TooManyActiveGenerations, errors.ProviderUnavailable, errors.ServiceUnavailable, status=202))
    return r
