"""POST /text-to-video: charge, start the video at Replicate, answer 202 with the generation id."""

from __future__ import annotations

from fastapi import APIRouter, Request

from shared import errors, generations
from shared.api_models import Accepted, documented
from shared.app import CurrentUser, IdempotencyKey, Svc, counted_in_its_transaction, note
from shared.schemas import TextToVideoRequest

PATH = "/text-to-video"


@counted_in_its_transaction("create")
def text_to_video(body: TextToVideoRequest, request: Request, svc: Svc, user: CurrentUser,
                  idempotency_key: IdempotencyKey = None) -> dict:
    """Start a text-to-video generation; the same Idempotency-Key and body answer the first answer again."""
    answer = generations.create(svc, user, body, idempotency_key=idempotency_key,
                                request_hash=body.fingerprint())
    note(request, generation_id=answer["generation_id"])
    return answer


def router(path: str = PATH) -> APIRouter:
    r = APIRouter()
    r.add_api_route(path, text_to_video, methods=["POST"], **documented(
        Accepted, errors.InsufficientCredits, errors.AccountBlocked, errors.IdempotencyKeyReused, errors.PayloadTooLarge,
        errors.InvalidRequest, errors.TooManyActiveGenerations, errors.ProviderUnavailable,
        errors.ServiceUnavailable, status=202))
    return r
