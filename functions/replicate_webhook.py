"""POST /webhooks/replicate?generation_id=ID: Replicate reports on a prediction.

Verify first (nothing is read before), then record the event in one transaction and answer 200;
a 5xx only when it could not be recorded, so that Replicate retries. The video copy runs apart.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from shared import generations, logs, webhooks
from shared import errors
from shared.api_models import PREDICTION_EXAMPLE, WebhookReceived, documented, signed_body
from shared.app import WEBHOOK_BODY_LIMIT, Svc, body_limit, note
from shared.errors import InvalidPayload
from shared.replicate_provider import parse_prediction

PATH = "/webhooks/replicate"
log = logging.getLogger(__name__)


@body_limit(WEBHOOK_BODY_LIMIT)
async def replicate_webhook(request: Request, svc: Svc, generation_id: str | None = None) -> dict:
    """Apply one signed prediction event (duplicates and late events change nothing)."""
    body = await request.body()
    event_id = webhooks.verify(body, request.headers, svc.settings.replicate_webhook_secret)
    note(request, generation_id=generation_id, event_id=event_id)  # logged with a 400 too
    try:
        prediction = parse_prediction(webhooks.parse_json(body, "prediction"))
    except ValueError as exc:
        raise InvalidPayload(f"The webhook body is not a prediction: {exc}.") from None
    note(request, prediction_id=prediction.id)
    try:
        gen_id = str(uuid.UUID(generation_id or ""))
    except ValueError:
        return _answer(request, "unknown_generation")
    result = await run_in_threadpool(generations.apply_prediction, svc, gen_id, prediction, event_id)
    return _answer(request, result["outcome"])


def _answer(request: Request, outcome: str) -> dict:
    note(request, outcome=outcome)
    if outcome in ("unknown_generation", "job_mismatch"):
        logs.event(log, "webhook_ignored", logging.WARNING, **{**request.state.log, "outcome": outcome})
    return {"received": True, "outcome": outcome}


def router(path: str = PATH) -> APIRouter:
    r = APIRouter()
    r.add_api_route(path, replicate_webhook, methods=["POST"], **documented(
        WebhookReceived, errors.InvalidPayload, errors.InvalidSignature, errors.PayloadTooLarge,
        errors.InvalidRequest, errors.ServiceUnavailable, user=False), **signed_body(
        "The whole prediction object, as Replicate sends it (Standard Webhooks).",
        {"webhook-id": "The delivery's id (repeats keep it).", "webhook-timestamp": "Unix seconds; 5 minutes' tolerance.",
         "webhook-signature": "v1,<base64 HMAC-SHA256> with REPLICATE_WEBHOOK_SECRET."}, PREDICTION_EXAMPLE))
    return r
