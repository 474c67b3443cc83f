"""The caller's webhook on a generation (contract section 3): which URLs we will POST to, which events,
and the user's signing secret. Sending is shared/deliveries.py; the outbox itself is SQL
(migrations/0015_push.sql)."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass

from shared import errors
from shared.output_urls import UnsafeOutputUrl, check_public_host, endpoint

EVENTS = ("start", "progress", "completed")
DEFAULT_EVENTS = ("completed",)
MAX_URL_LENGTH = 2048


@dataclass(frozen=True)
class Webhook:
    """Where a generation's events go, as create passes it on (retry and extend keep it)."""

    url: str
    events: tuple[str, ...] = DEFAULT_EVENTS


def webhook_of(gen: dict) -> Webhook | None:
    """The webhook a stored generation was created with (for retry and extend), or None."""
    if not gen.get("webhook_url"):
        return None
    return Webhook(gen["webhook_url"], tuple(gen.get("webhook_events") or DEFAULT_EVENTS))


def url_problem(url: str, *, allow_loopback: bool, resolve=socket.getaddrinfo) -> str | None:
    """Why we would not POST to `url` now, or None. Checked before the charge and again before each
    delivery (an address can change): absolute https (http and loopback only with allow_loopback),
    no credentials, at most 2,048 characters, a host resolving to public addresses only."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if "@" in url.split("?", 1)[0].split("#", 1)[0]:
        return "must not carry credentials"
    parts = endpoint(url)
    if parts is None:
        return "must be an absolute https URL without credentials"
    scheme, host, port = parts
    if scheme != "https" and not allow_loopback:
        return "must be an https URL"
    try:
        check_public_host(host, port, resolve, allow_loopback=allow_loopback)
    except UnsafeOutputUrl:
        return "must name a host that resolves to public addresses only"
    return None


def check(webhook: Webhook | None, settings) -> None:
    """The create's 422 on `webhook_url`, before any charge."""
    if webhook is None:
        return
    problem = url_problem(webhook.url, allow_loopback=bool(settings.webhook_allow_loopback))
    if problem:
        raise errors.InvalidRequest(errors=[{"field": "webhook_url", "message": f"webhook_url: {problem}"}])


def parse_events(value) -> tuple[str, ...] | None:
    """`webhook_events` as a list or, in forms, comma-separated; ValueError names what is wrong."""
    if value is None or value == "":
        return None
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise ValueError(f"must be a non-empty list of {', '.join(EVENTS)}")
    unknown = [v for v in items if v not in EVENTS]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not one of {', '.join(EVENTS)}")
    return tuple(dict.fromkeys(items))


def secret(svc, user_id: uuid.UUID) -> dict:
    return {"secret": svc.backend.call("webhook_secret", p_user_id=user_id)["secret"]}


def rotate(svc, user_id: uuid.UUID) -> dict:
    return {"secret": svc.backend.call("rotate_webhook_secret", p_user_id=user_id)["secret"]}
