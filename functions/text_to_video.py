"""POST /text-to-video: charge, start the video at Replicate, answer 202 with the generation id."""

from __future__ import annotations

from fastapi import APIRouter, Request

from shared import errors, generations, prefer_wait
from shared.api_models import Accepted, documented
from shared.app import CurrentUser, IdempotencyKey, Svc, counted_in_its_transaction, note
from shared.prefer_wait import Prefer
from shared.schemas import TextToVideoRequest

PATH = "/text-to-video"


@counted_in_its_transaction("create")
def text_to_video(body: TextToVideoRequest, request: Request, svc: Svc, user: CurrentUser,
                  idempotency_key: IdempotencyKey = None, prefer: Prefer = None):
    """Start a text-to-video generation; the same Idempotency-Key and body answer the first answer again.
    With `Prefer: wait=N` the answer waits up to N s for the end (200 if it ended, 202 if not)."""
    wait = prefer_wait.requested(prefer)
    answer = generations.create(svc, user, body, idempotency_key=idempotency_key,
                                request_hash=body.fingerprint())
    note(request, generation_id=answer["generation_id"])
    return prefer_wait.WaitingAnswer(svc, user, answer, wait) if wait else answer


def router(path: str = PATH) -> APIRouter:
    r = APIRouter()
    r.add_api_route(path, text_to_video, methods=["POST"], **prefer_wait.documented(documented(
        Accepted, errors.InsufficientCredits, errors.IdempotencyKeyReused, errors.PayloadTooLarge,
        errors.InvalidRequest, errors.ContentPolicy, errors.AccountBlocked, errors.TooManyActiveGenerations, errors.ProviderUnavailable,
        errors.ServiceUnavailable, status=202)))
    return r
