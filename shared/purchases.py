"""Buying credits with Stripe Checkout (contract "Buying credits").

The service makes two Stripe calls, through the official `stripe` library pointed at STRIPE_API_BASE:
create a Checkout Session and fetch one. Credits move only in the database's purchase functions
(migrations/0008_purchases.sql): fulfil_purchase grants a session once, and only when the session as
fetched from Stripe is paid and matches what was sold; reverse_purchase takes credits back for refunds
and disputes. Both the webhook and the success page (GET /checkout/status) fulfil, whichever is first.

Stripe facts relied on (docs.stripe.com/checkout/fulfillment, /webhooks, stripe-python 16):
- Webhook.construct_event checks `Stripe-Signature` (HMAC-SHA256 of "{t}.{raw body}") and rejects a
  timestamp older than its 300 s tolerance; it raises SignatureVerificationError.
- An Idempotency-Key on create makes Stripe answer the first session again for the same parameters and
  raise IdempotencyError for other parameters (keys are kept 24 hours).
- Events repeat and arrive out of order for days; delayed payment methods complete `unpaid` first and
  then send async_payment_succeeded or async_payment_failed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Any

from shared import errors, logs, packs
from shared.services import Services

log = logging.getLogger(__name__)

# What each event type does; every other type is recorded and otherwise ignored (answered 200).
FULFIL_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
END_EVENTS = {"checkout.session.expired": "expired", "checkout.session.async_payment_failed": "failed"}
DISPUTE_STATUS = {"won": "won", "warning_closed": "won", "lost": "lost"}  # anything else: still open
STRIPE_TIMEOUT_SECONDS = 15
# The Stripe API version this code was written and tested against (the local emulator's events carry
# it); `wan-api doctor` checks the webhook endpoint renders its events in it.
STRIPE_API_VERSION = "2025-10-29.clover"
# Every event type the webhook acts on: the endpoint in Stripe's dashboard must enable each one.
WEBHOOK_EVENTS = (*FULFIL_EVENTS, *END_EVENTS, "charge.refunded", "charge.dispute.created", "charge.dispute.closed")


def stripe_client(settings) -> Any:
    """A StripeClient for STRIPE_SECRET_KEY at STRIPE_API_BASE, or None when purchases are off."""
    if not settings.stripe_secret_key:
        return None
    import stripe

    return stripe.StripeClient(
        settings.stripe_secret_key,
        base_addresses={"api": settings.stripe_api_base.rstrip("/")},
        http_client=stripe.RequestsClient(timeout=STRIPE_TIMEOUT_SECONDS),
        max_network_retries=2,  # the library retries connection errors and 409/5xx with the same key
    )


def _client(svc: Services):
    client = svc.stripe
    if client is None:
        raise errors.ServiceUnavailable("Buying credits is not available right now.", retry_after=60)
    return client


def create_checkout(svc: Services, user_id: uuid.UUID, pack_id: str, idempotency_key: str | None) -> dict:
    """A Checkout Session for one pack, recorded as `open`; answers {"session_id", "checkout_url"}."""
    import stripe

    pack = packs.pack(pack_id)
    if pack is None:  # the request model checks this too; kept so no caller can sell an unknown pack
        raise errors.InvalidRequest(f"pack_id must be one of {', '.join(p.pack_id for p in packs.PACKS)}.")
    # A blocked user buys nothing (0017): refused before Stripe is asked for a session; the trigger on
    # purchases is the database's own backstop.
    svc.backend.call("assert_not_blocked", p_user_id=user_id)
    settings = svc.settings
    # Scoped to the user, so two users' keys never meet at Stripe; a new key when the client sent none.
    stripe_key = (f"checkout-{user_id}-{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}"
                  if idempotency_key else f"checkout-{uuid.uuid4()}")
    params = {
        "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": pack.currency, "unit_amount": pack.amount,
            "product_data": {"name": f"{pack.credits} credits"}}}],
        "client_reference_id": str(user_id),
        "metadata": {"pack_id": pack.pack_id, "user_id": str(user_id)},
        "success_url": settings.checkout_success_url,
        "cancel_url": settings.checkout_cancel_url,
    }
    try:
        session = _client(svc).v1.checkout.sessions.create(params=params, options={"idempotency_key": stripe_key})
    except stripe.IdempotencyError:
        raise errors.IdempotencyKeyReused() from None
    except stripe.StripeError as exc:
        logs.event(log, "stripe_error", logging.ERROR, call="create_session", error=str(exc))
        raise errors.ServiceUnavailable("The payment provider is unavailable right now; try again shortly.") from None
    svc.backend.call("record_checkout", p_session_id=session.id, p_user_id=user_id, p_pack_id=pack.pack_id,
                     p_credits=pack.credits, p_amount=pack.amount, p_currency=pack.currency)
    return {"session_id": session.id, "checkout_url": session.url}


def checkout_status(svc: Services, user_id: uuid.UUID, session_id: str) -> dict:
    """One purchase of the caller (404 otherwise). An open one is fetched from Stripe and fulfilled if
    paid: the success page credits when it comes before the webhook."""
    purchase = svc.backend.call("purchase_status", p_session_id=session_id, p_user_id=user_id)
    if purchase["status"] == "open" and svc.stripe is not None:
        try:
            purchase = fulfil(svc, fetch_session(svc, session_id))
        except errors.ServiceUnavailable:
            pass  # Stripe is down: answer what we know; the webhook (or a later look) credits
    return {k: purchase[k] for k in ("session_id", "status", "credits", "balance")}


def fetch_session(svc: Services, session_id: str) -> dict:
    import stripe

    try:
        return _client(svc).v1.checkout.sessions.retrieve(session_id).to_dict()
    except stripe.StripeError as exc:
        logs.event(log, "stripe_error", logging.ERROR, call="retrieve_session", session_id=session_id,
                   error=str(exc))
        raise errors.ServiceUnavailable("The payment provider is unavailable right now; try again shortly.") from None


def fulfil(svc: Services, session: dict, event_id: str | None = None, event_type: str | None = None) -> dict:
    """Grant a fetched session's credits once (the database compares it with what was sold)."""
    result = svc.backend.call(
        "fulfil_purchase", p_session_id=session["id"], p_payment_status=session.get("payment_status"),
        p_amount_total=session.get("amount_total"), p_currency=session.get("currency"),
        p_client_reference_id=session.get("client_reference_id"),
        p_pack_id=(session.get("metadata") or {}).get("pack_id"), p_payment_intent=_id(session.get("payment_intent")),
        p_event_id=event_id, p_event_type=event_type)
    if result["outcome"] == "mismatch":
        logs.event(log, "purchase_mismatch", logging.WARNING, session_id=session["id"], event_id=event_id,
                   mismatch=result.get("mismatch"))
    return result


def verify_event(svc: Services, body: bytes, signature: str | None) -> dict:
    """The event, once its Stripe-Signature is checked over the raw body; InvalidSignature otherwise."""
    import stripe

    secret = svc.settings.stripe_webhook_secret
    if not secret:
        raise errors.InvalidSignature("The service has no Stripe webhook secret configured, so it cannot trust this delivery.")
    try:
        stripe.Webhook.construct_event(body, signature, secret)  # default tolerance: 300 s
    except stripe.SignatureVerificationError as exc:
        raise errors.InvalidSignature(f"The Stripe signature is not valid: {_sentence(str(exc))}") from None
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidPayload("The webhook body is not a Stripe event.") from None
    event = json.loads(body)
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise errors.InvalidPayload("The webhook body is not a Stripe event.")
    return event


def apply_event(svc: Services, event: dict) -> str:
    """Apply one verified event once; returns its outcome. ServiceUnavailable (5xx) only when it could
    not be recorded, so that Stripe delivers it again."""
    event_id, kind = event["id"], event["type"]
    obj = (event.get("data") or {}).get("object") or {}
    if kind in FULFIL_EVENTS:
        return fulfil(svc, fetch_session(svc, obj["id"]), event_id, kind)["outcome"]
    if kind in END_EVENTS:
        return svc.backend.call("end_checkout", p_session_id=obj["id"], p_status=END_EVENTS[kind],
                                p_event_id=event_id, p_event_type=kind)
    if kind == "charge.refunded":
        refunds = [{"id": r["id"], "amount": r["amount"]} for r in ((obj.get("refunds") or {}).get("data") or [])
                   if r.get("status") in (None, "succeeded", "pending")]
        return svc.backend.call("reverse_purchase", p_event_id=event_id, p_event_type=kind,
                                p_payment_intent=_id(obj.get("payment_intent")),
                                p_refunded_amount=obj.get("amount_refunded"), p_refunds=refunds)
    if kind in ("charge.dispute.created", "charge.dispute.closed"):
        status = DISPUTE_STATUS.get(obj.get("status"), "open") if kind.endswith("closed") else "open"
        return svc.backend.call("reverse_purchase", p_event_id=event_id, p_event_type=kind,
                                p_payment_intent=_id(obj.get("payment_intent")), p_dispute_id=obj["id"],
                                p_dispute_amount=obj["amount"], p_dispute_status=status)
    return svc.backend.call("note_stripe_event", p_event_id=event_id, p_type=kind)


def _id(value: Any) -> str | None:
    """An id whether Stripe sent it as a string or as an expanded object."""
    return value.get("id") if isinstance(value, dict) else value


def _sentence(message: str) -> str:
    message = message.split(". ")[0].rstrip(".")
    return message[:1].lower() + message[1:] + "."
