"""Sending the outbox of users' webhooks (migrations/0015_push.sql writes it with each state change).

A delivery is `POST <webhook_url>` with `{"type", "timestamp", "data": <the generation object>}` and
Standard Webhooks headers, signed by the `standardwebhooks` library with the user's secret (and the
previous one for 24 h after a rotation: two `v1,` values). Bounded: 10 s for the whole exchange
(connect, send, headers; shared/replicate_transport.BoundedTransport), the body of the answer never
read, redirects not followed, the URL checked again (shared/push.url_problem) before each attempt.
A non-2xx answer, a timeout or a refused URL is retried by the schedule in SQL (about a day).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from shared import push
from shared.services import Services

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
LEASE_SECONDS = 60        # > 2 sends of TIMEOUT_SECONDS each: a batch is sent before its lease ends
WORKERS = 8               # parallel sends of one sweep
USER_AGENT = "wan-video-webhooks/1"


_http = None
_http_lock = threading.Lock()


def _client():
    """One HTTP client per process, shared by the senders' threads (its TLS context and connection
    pool are made once, not per delivery)."""
    global _http
    with _http_lock:
        if _http is None or TIMEOUT_SECONDS != _http.timeout_seconds:
            import httpx

            from shared.replicate_transport import BoundedTransport

            _http = httpx.Client(transport=BoundedTransport(TIMEOUT_SECONDS), follow_redirects=False,
                                 headers={"user-agent": USER_AGENT})
            _http.timeout_seconds = TIMEOUT_SECONDS
        return _http


def send_due(svc: Services, *, generation_id: str | None = None, budget_seconds: float = 120.0) -> Counter:
    """Send what is due (of one generation, or everyone's), until nothing is or the budget is spent.
    Returns counts: delivered, retry, failed, stale."""
    counts: Counter = Counter()
    deadline = time.monotonic() + budget_seconds
    http = _client()
    pool: ThreadPoolExecutor | None = None
    try:
        while time.monotonic() < deadline:
            batch = svc.backend.call("claim_webhook_deliveries", p_generation_id=generation_id,
                                     p_limit=WORKERS * 2, p_max_in_flight=svc.settings.webhook_max_in_flight,
                                     p_lease_seconds=LEASE_SECONDS)
            if not batch:
                break
            if len(batch) == 1:  # the usual case: one event of one generation, sent from this thread
                counts[_attempt(svc, http, batch[0])] += 1
                continue
            pool = pool or ThreadPoolExecutor(WORKERS)
            for outcome in pool.map(lambda d: _attempt(svc, http, d), batch):
                counts[outcome] += 1
    finally:
        if pool is not None:
            pool.shutdown()
    return counts


def body_of(svc: Services, delivery: dict) -> bytes:
    """The delivery's JSON: its event, when it is sent, and the generation as GET /status answers it."""
    from shared.generations import view

    return json.dumps({
        "type": delivery["type"],
        "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "data": view(svc, delivery["payload"]),
    }, separators=(",", ":"), default=str).encode()


def signed_headers(event_id: str, body: bytes, secrets: list[str], at: datetime) -> dict[str, str]:
    """Standard Webhooks headers; one `v1,` signature per secret (space-separated)."""
    from standardwebhooks.webhooks import Webhook

    signatures = " ".join(Webhook(s).sign(event_id, at, body.decode()) for s in secrets)
    return {"webhook-id": event_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signatures, "content-type": "application/json"}


def _attempt(svc: Services, http, delivery: dict) -> str:
    import httpx

    status_code, error = None, None
    problem = push.url_problem(delivery["url"], allow_loopback=bool(svc.settings.webhook_allow_loopback))
    if problem:
        error = f"webhook_url {problem}"
    else:
        try:
            body = body_of(svc, delivery)
            headers = signed_headers(delivery["event_id"], body, delivery["secrets"], datetime.now(timezone.utc))
            # Streamed and closed unread: a receiver answering 10 MB costs us its headers only.
            with http.stream("POST", delivery["url"], content=body, headers=headers) as response:
                status_code = response.status_code
                if not 200 <= status_code < 300:
                    error = f"the receiver answered {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        except Exception as exc:  # noqa: BLE001 - one broken delivery must not stop the batch
            log.exception("delivery %s could not be sent", delivery["event_id"])
            error = f"{type(exc).__name__}"
    try:
        result = svc.backend.call("record_webhook_attempt", p_event_id=delivery["event_id"],
                                  p_attempt=delivery["attempts"], p_status_code=status_code, p_error=error)
    except Exception:  # noqa: BLE001 - the lease runs out and the attempt is made again
        log.exception("could not record delivery %s", delivery["event_id"])
        return "unrecorded"
    if error:
        log.info("delivery %s of %s: %s (%s)", delivery["event_id"], delivery["generation_id"], error,
                 result["outcome"])
    return result["outcome"]


def listed(svc: Services, user_id: uuid.UUID, generation_id: uuid.UUID) -> dict:
    items = svc.backend.call("list_webhook_deliveries", p_user_id=user_id, p_gen_id=generation_id)
    from shared.schemas import iso

    for item in items:
        item["next_attempt_at"] = iso(item["next_attempt_at"])
    return {"items": items}


def retry(svc: Services, user_id: uuid.UUID, generation_id: uuid.UUID, event_id: str) -> dict:
    """Send one delivery again (same webhook-id) now, in the background."""
    from shared.schemas import iso

    item = svc.backend.call("retry_webhook_delivery", p_user_id=user_id, p_gen_id=generation_id,
                            p_event_id=event_id)
    svc.deliver_later(str(generation_id))
    item["next_attempt_at"] = iso(item["next_attempt_at"])
    return item
