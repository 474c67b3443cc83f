"""POST /webhooks/stripe: Stripe reports on Checkout Sessions, refunds and disputes.

The signature is checked over the raw body before anything in it is read; each event id is applied
once (in the same transaction as its effect); types we do not act on are answered 200 so that Stripe
does not retry them. A 5xx only when the event could not be recorded: Stripe then retries for days.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from shared import logs, purchases
from shared import errors
from shared.api_models import STRIPE_EVENT_EXAMPLE, WebhookReceived, documented, signed_body
from shared.app import WEBHOOK_BODY_LIMIT, Svc, body_limit, note
from shared.errors import InvalidPayload

PATH = "/webhooks/stripe"
log = logging.getLogger(__name__)


@body_limit(WEBHOOK_BODY_LIMIT)
async def stripe_webhook(request: Request, svc: Svc) -> dict:
    """Apply one signed Stripe event (repeated and reordered events change nothing more)."""
    body = await request.body()
    try:
        event = purchases.verify_event(svc, body, request.headers.get("stripe-signature"))
        note(request, event_id=event.id, event_type=event.type)
        outcome = await run_in_threadpool(purchases.apply_event, svc, event)
    except InvalidPayload as exc:  # signed but malformed: 400, logged with the event id, never retried into 5xx
        logs.event(log, "stripe_event_invalid", logging.WARNING, **getattr(request.state, "log", {}), error=exc.detail)
        raise
    note(request, outcome=outcome)
    if outcome in ("unknown_session", "unknown_payment", "mismatch"):
        logs.event(log, "stripe_event_not_applied", logging.WARNING, **request.state.log)
    return {"received": True, "outcome": outcome}


def router(path: str = PATH) -> APIRouter:
    r = APIRouter()
    r.add_api_route(path, stripe_webhook, methods=["POST"], **documented(
        WebhookReceived, errors.InvalidPayload, errors.InvalidSignature, errors.PayloadTooLarge,
        errors.InvalidRequest, errors.ServiceUnavailable, user=False), **signed_body(
        "A Stripe event object.", {"Stripe-Signature": "t=<unix seconds>,v1=<HMAC-SHA256> with STRIPE_WEBHOOK_SECRET."},
        STRIPE_EVENT_EXAMPLE))
    return r
