"""Replicate's webhooks: Standard Webhooks signatures, checked with the `standardwebhooks` package
(HMAC-SHA256, several signatures per header, constant-time compare, timestamp within 5 minutes)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.errors import InvalidPayload, InvalidSignature


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


def parse_json(body: bytes, what: str) -> Any:
    """A signed body as JSON, or InvalidPayload (400) when it is not JSON, nests deeper than the parser
    goes (50,000 levels: RecursionError), or holds a lone surrogate (`"\\ud800"`), which is valid JSON
    but no UTF-8 text: the database driver cannot encode it. A signed body that is simply wrong is
    the sender's mistake, never a 5xx (which makes Stripe and Replicate deliver it again for days)."""
    try:
        data = json.loads(body)
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise InvalidPayload(f"The webhook body is not a {what}: it is nested too deeply.") from None
    except UnicodeError:
        raise InvalidPayload(f"The webhook body is not a {what}: it is not UTF-8 text.") from None
    except ValueError:
        raise InvalidPayload(f"The webhook body is not a {what}: it is not JSON.") from None
    return data
