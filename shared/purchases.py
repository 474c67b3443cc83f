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
import logging
import time
import uuid
from typing import Any

from shared import errors, logs, packs, stripe_events, webhooks
from shared.services import Services

log = logging.getLogger(__name__)

# What each event type does; every other type is recorded and otherwise ignored (answered 200).
FULFIL_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
END_EVENTS = {"checkout.session.expired": "expired", "checkout.session.async_payment_failed": "failed"}
DISPUTE_EVENTS = ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed")
# One refund's own news: refund.created fires for every refund since API 2024-10-28; a refund that
# fails after it was made sends charge.refund.updated (status failed) and refund.failed.
REFUND_EVENTS = ("refund.created", "refund.updated", "refund.failed", "charge.refund.updated")
# A dispute's Stripe status -> what it means for the credits (migrations/0012: open and lost owe the
# disputed share, won gives it back; it only moves open -> lost -> won, so a late event never undoes).
# prevented and warning_closed end in the merchant's favour; the appeal states follow a loss and keep
# the funds withdrawn until the appeal is won. An unknown status is treated as open (owed).
DISPUTE_STATUS = {
    "warning_needs_response": "open", "warning_under_review": "open", "needs_response": "open",
    "under_review": "open", "appeal_needs_response": "lost", "appeal_under_review": "lost",
    "lost": "lost", "won": "won", "prevented": "won", "warning_closed": "won",
}
STRIPE_TIMEOUT_SECONDS = 15
# The API version this code was written against (requests and, in the dashboard, the webhook endpoint):
# without it the version follows whichever stripe library installs. The local emulator claims it too.
STRIPE_API_VERSION = "2025-10-29.clover"
# Every event type the webhook acts on: the endpoint in Stripe's dashboard must enable each one.
WEBHOOK_EVENTS = (*FULFIL_EVENTS, *END_EVENTS, "charge.refunded", *REFUND_EVENTS, *DISPUTE_EVENTS)
SIGNATURE_TOLERANCE_SECONDS = 300  # Stripe's own, both ways: the library checks only the past


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
        stripe_version=STRIPE_API_VERSION,
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
    svc.backend.call("require_profile", p_user_id=user_id)  # 404 before anything is made at Stripe
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
            session = fetch_session(svc, session_id)
            if session is not None:
                purchase = fulfil(svc, session)
        except (errors.ServiceUnavailable, errors.InvalidPayload):
            pass  # Stripe is down: answer what we know; the webhook (or a later look) credits
    return {k: purchase[k] for k in ("session_id", "status", "credits", "balance")}


def fetch_session(svc: Services, session_id: str) -> dict | None:
    """The session as Stripe has it now, its shape checked; None when Stripe has no such session."""
    import stripe

    try:
        session = _client(svc).v1.checkout.sessions.retrieve(session_id).to_dict()
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return None
        logs.event(log, "stripe_error", logging.ERROR, call="retrieve_session", session_id=session_id,
                   error=str(exc))
        raise errors.ServiceUnavailable("The payment provider is unavailable right now; try again shortly.") from None
    except stripe.StripeError as exc:
        logs.event(log, "stripe_error", logging.ERROR, call="retrieve_session", session_id=session_id,
                   error=str(exc))
        raise errors.ServiceUnavailable("The payment provider is unavailable right now; try again shortly.") from None
    return stripe_events.parse(stripe_events.Session, session, "checkout session").model_dump()


def fulfil(svc: Services, session: dict, event_id: str | None = None, event_type: str | None = None) -> dict:
    """Grant a fetched session's credits once (the database compares it with what was sold)."""
    result = svc.backend.call(
        "fulfil_purchase", p_session_id=session["id"], p_payment_status=session.get("payment_status"),
        p_amount_total=session.get("amount_total"), p_currency=session.get("currency"),
        p_client_reference_id=session.get("client_reference_id"),
        p_pack_id=(session.get("metadata") or {}).get("pack_id"), p_payment_intent=session.get("payment_intent"),
        p_event_id=event_id, p_event_type=event_type)
    if result["outcome"] == "mismatch":
        logs.event(log, "purchase_mismatch", logging.WARNING, session_id=session["id"], event_id=event_id,
                   mismatch=result.get("mismatch"))
    return result


def verify_event(svc: Services, body: bytes, signature: str | None) -> stripe_events.Event:
    """The event, once its Stripe-Signature is checked over the raw body (timestamp within 5 minutes
    either way); InvalidSignature otherwise, and InvalidPayload for a signed body that is not an event."""
    import stripe

    secret = svc.settings.stripe_webhook_secret
    if not secret:
        raise errors.InvalidSignature("The service has no Stripe webhook secret configured, so it cannot trust this delivery.")
    try:
        stripe.WebhookSignature.verify_header(body, signature, secret, SIGNATURE_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        raise errors.InvalidSignature(f"The Stripe signature is not valid: {_sentence(str(exc))}") from None
    except UnicodeDecodeError:
        raise errors.InvalidPayload("The webhook body is not a Stripe event: it is not UTF-8.") from None
    if _signed_at(signature) > time.time() + SIGNATURE_TOLERANCE_SECONDS:
        raise errors.InvalidSignature("The Stripe signature is not valid: its timestamp is in the future.")
    return stripe_events.parse(stripe_events.Event, webhooks.parse_json(body, "Stripe event"), "Stripe event")


def _signed_at(header: str) -> int:
    """The `t=` of a header verify_header accepted (so it has one, an integer)."""
    return int(next(part.split("=", 1)[1] for part in header.split(",") if part.startswith("t=")))


def apply_event(svc: Services, event: stripe_events.Event) -> str:
    """Apply one verified event once; returns its outcome. InvalidPayload (400) for an object that is
    not what Stripe sends; ServiceUnavailable (5xx) only when it could not be recorded, so that Stripe
    delivers it again."""
    event_id, kind, obj = event.id, event.type, event.object
    if kind in FULFIL_EVENTS:
        ref = stripe_events.parse(stripe_events.SessionRef, obj, "checkout session")
        # A session Stripe does not know (another account's, or deleted): nothing to credit, recorded.
        session = fetch_session(svc, ref.id) or {"id": ref.id}
        return fulfil(svc, session, event_id, kind)["outcome"]
    if kind in END_EVENTS:
        ref = stripe_events.parse(stripe_events.SessionRef, obj, "checkout session")
        return svc.backend.call("end_checkout", p_session_id=ref.id, p_status=END_EVENTS[kind],
                                p_event_id=event_id, p_event_type=kind)
    if kind == "charge.refunded":
        charge = stripe_events.parse(stripe_events.Charge, obj, "charge")
        refunds = charge.refunds.data if charge.refunds else []
        return _reverse(svc, event, charge.payment_intent, p_refunded_amount=charge.amount_refunded,
                        p_refunds=[_refund_row(r) for r in refunds])
    if kind in REFUND_EVENTS:
        refund = stripe_events.parse(stripe_events.Refund, obj, "refund")
        return _reverse(svc, event, refund.payment_intent, p_refunds=[_refund_row(refund)])
    if kind in DISPUTE_EVENTS:
        dispute = stripe_events.parse(stripe_events.Dispute, obj, "dispute")
        return _reverse(svc, event, dispute.payment_intent, p_dispute_id=dispute.id,
                        p_dispute_amount=dispute.amount,
                        p_dispute_status=DISPUTE_STATUS.get(dispute.status, "open"))
    return svc.backend.call("note_stripe_event", p_event_id=event_id, p_type=kind)


def _reverse(svc: Services, event: stripe_events.Event, payment_intent: str | None, **params) -> str:
    return svc.backend.call("reverse_purchase", p_event_id=event.id, p_event_type=event.type,
                            p_payment_intent=payment_intent, **params)


REFUND_STATUSES = ("pending", "requires_action", "succeeded", "failed", "canceled")


def _refund_row(refund: stripe_events.Refund) -> dict:
    """A refund as reverse_purchase records it: failed and canceled ones take nothing (0012); a status
    this code does not know counts as pending (the money is on its way back to the customer)."""
    status = refund.status if refund.status in REFUND_STATUSES else ("succeeded" if refund.status is None else "pending")
    return {"id": refund.id, "amount": refund.amount, "status": status}


def _sentence(message: str) -> str:
    message = message.split(". ")[0].rstrip(".")
    return message[:1].lower() + message[1:] + "."
