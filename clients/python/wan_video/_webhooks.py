"""Verifying a delivery of the API's own webhooks (Standard Webhooks, signed with your signing secret)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from standardwebhooks import Webhook

from wan_video._errors import WebhookVerificationError


def verify_webhook(body: bytes | str, headers: Mapping[str, str], secret: str) -> dict[str, Any]:
    """The event (`{"type", "timestamp", "data"}`) of a delivery whose `webhook-signature` matches
    `secret` (`whsec_...`, GET /webhooks/secret) and whose `webhook-timestamp` is within 5 minutes;
    otherwise raises WebhookVerificationError. Pass the raw body exactly as received. During a
    rotation the header carries two signatures, and either secret verifies. Deduplicate by the
    `webhook-id` header: a retried delivery repeats it."""
    try:
        event = Webhook(secret).verify(body, {str(k): str(v) for k, v in headers.items()})
    except Exception as exc:  # the library raises its own error, and ValueError on malformed headers
        raise WebhookVerificationError(str(exc) or type(exc).__name__) from None
    if not isinstance(event, dict) or "type" not in event:
        raise WebhookVerificationError("the body is not an event")
    return event
