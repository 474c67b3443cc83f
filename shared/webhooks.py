"""Replicate's webhooks: Standard Webhooks signatures, checked with the `standardwebhooks` package
(HMAC-SHA256, several signatures per header, constant-time compare, timestamp within 5 minutes)."""

from __future__ import annotations

from collections.abc import Mapping

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.errors import InvalidSignature


def verify(body: bytes, headers: Mapping[str, str], secret: str | None) -> str:
    """Check the signature over the raw body; returns the webhook-id. InvalidSignature otherwise."""
    if not secret:
        raise InvalidSignature("The service has no webhook secret configured, so it cannot trust this delivery.")
    wanted = {k: headers.get(k) for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    if not all(wanted.values()):
        raise InvalidSignature("The webhook-id, webhook-timestamp and webhook-signature headers are required.")
    try:
        Webhook(secret).verify(body, wanted, json_parse=False)
    except WebhookVerificationError as exc:
        raise InvalidSignature(f"The webhook signature is not valid: {str(exc).lower()}.") from None
    except (ValueError, UnicodeDecodeError):  # a malformed signature entry or body
        raise InvalidSignature("The webhook signature header is malformed.") from None
    return wanted["webhook-id"]
