"""Share links (issue 25): a public, revocable link to one succeeded generation's video.

- The link's id is 128 random bits (`secrets.token_urlsafe(16)`, 22 characters): unguessable, and
  the only thing the public page needs. One link per generation; revoking deletes it, so the id is dead
  at once; sharing again makes a new one.
- Every public request asks the database (get_share: two primary-key reads, no write) whether the link
  is alive: revoked, deleted and expired ones are 404 at once, nothing is cached past a revocation.
- The video is a signed URL made for this request and valid SHARE_VIDEO_SECONDS (Supabase Storage's
  signed URLs in production, the local file server's locally), of a copy stored under the link's own
  id (the video's path names its owner). The copy goes with the link: revoked, or its generation's
  files removed (retention, delete: shared/retention.py).
- Views are counted in this container's memory and added to the database in one statement at most
  every VIEW_FLUSH_SECONDS (add_share_views), off the request's path: no write per view. A count
  still in memory when a container stops is lost (a view count is a figure, not money).
- The public routes are limited per client address (PUBLIC_RATE_PER_MINUTE, per container): they are
  the one unauthenticated surface that reads user content.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
import uuid
from collections import Counter

from shared import errors
from shared.ratelimit import WINDOW_SECONDS
from shared.services import Services
from shared.settings import Settings

log = logging.getLogger(__name__)

SHARE_ID_BYTES = 16          # 128 bits
SHARE_ID = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
SHARE_VIDEO_SECONDS = 900    # a signed video URL outlives a revocation by at most this
VIEW_FLUSH_SECONDS = 10.0
MAX_TRACKED_ADDRESSES = 100_000  # the per-address windows of one minute, bounded
_MODAL_WEBHOOK = re.compile(r"^(https://[^/]+)-replicate-webhook(\.modal\.run)(?:/.*)?$")


def link_base(settings: Settings) -> str:
    """Where share links start: SHARE_BASE_URL; else the local stack's own URL; else, on Modal, the
    `account` function's URL, named as WEBHOOK_URL's function is (`…-replicate-webhook.modal.run` →
    `…-account.modal.run`); else no host (a link relative to the account function)."""
    if settings.share_base_url:
        return settings.share_base_url.rstrip("/")
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    found = _MODAL_WEBHOOK.match(settings.webhook_url or "")
    return f"{found.group(1)}-account{found.group(2)}" if found else ""


def share_url(settings: Settings, share_id: str | None) -> str | None:
    return f"{link_base(settings)}/s/{share_id}" if share_id else None


def copy_path(share_id: str) -> str:
    """Where a link's copy of its video lives: the video's own path names its owner
    (videos/<user id>/<generation id>.mp4), and a signed URL shows its path to whoever holds it."""
    return f"shares/{share_id}.mp4"


def create(svc: Services, user_id: uuid.UUID, generation_id: uuid.UUID) -> tuple[dict, bool]:
    """The generation's live link, made now if it has none: ({"share_id", "share_url"}, created).
    A new link's video is copied under the link's id (a server-side copy in Supabase Storage); if
    that fails the link is taken back and the answer is a 503."""
    made = svc.backend.call("create_share", p_user_id=user_id, p_gen_id=generation_id,
                            p_share_id=secrets.token_urlsafe(SHARE_ID_BYTES))
    if made["created"]:
        try:
            svc.storage.copy(made["video_path"], copy_path(made["share_id"]))
        except Exception:  # noqa: BLE001 - whatever storage raised, no link without its video
            log.exception("could not copy the video of %s for its link", generation_id)
            svc.backend.call("release_shares", p_share_ids=[made["share_id"]])
            raise errors.ServiceUnavailable("The link could not be made right now; try again.") from None
    answer = {"share_id": made["share_id"], "share_url": share_url(svc.settings, made["share_id"])}
    return answer, made["created"]


def revoke(svc: Services, user_id: uuid.UUID, generation_id: uuid.UUID) -> None:
    """Kill the link (its row first: dead at once), then remove its copy of the video."""
    revoked = svc.backend.call("delete_share", p_user_id=user_id, p_gen_id=generation_id)["share_id"]
    if revoked:
        try:
            svc.storage.delete([copy_path(revoked)])
        except Exception:  # noqa: BLE001 - the link is dead already; an orphaned copy is logged
            log.exception("could not delete the copy of revoked link %s", revoked)


def copies_of(svc: Services, generation_ids: list[str]) -> list[str]:
    """The share links of generations whose files are being removed (retention, delete)."""
    return svc.backend.call("shares_of", p_gen_ids=generation_ids) if generation_ids else []


def public(svc: Services, share_id: str) -> dict:
    """What a live link shows (never its owner), counted as one view; NotFound for any dead link."""
    found = svc.backend.call("get_share", p_share_id=share_id) if SHARE_ID.match(share_id) else None
    if found is None:
        raise errors.NotFound("This link is unknown, was revoked, or its video is no longer available.")
    views = svc.library.views
    pending = views.count(share_id)
    views.flush_later(svc)
    return {
        "share_id": found["share_id"], "kind": found["kind"], "model": found["model"],
        "resolution": found["resolution"], "aspect_ratio": found["aspect_ratio"], "prompt": found["prompt"],
        "video_url": svc.storage.signed_url(copy_path(found["share_id"]), SHARE_VIDEO_SECONDS),
        "created_at": found["created_at"], "views": int(found["views"]) + pending,
    }


class ViewCounter:
    """Views counted in memory and added to the database in batches (see the module's docstring)."""

    def __init__(self, flush_seconds: float = VIEW_FLUSH_SECONDS):
        self.flush_seconds = flush_seconds
        self.pending: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.last_flush = time.monotonic()
        self.flushing = False

    def count(self, share_id: str) -> int:
        """Count one view; returns this container's views of the link not yet in the database."""
        with self.lock:
            self.pending[share_id] += 1
            return self.pending[share_id]

    def flush_later(self, svc: Services) -> None:
        """Start a flush in the background when the last one is VIEW_FLUSH_SECONDS old."""
        with self.lock:
            if self.flushing or time.monotonic() - self.last_flush < self.flush_seconds:
                return
            self.flushing = True
        threading.Thread(target=self.flush, args=(svc,), daemon=True).start()

    def flush(self, svc: Services) -> int:
        """Add the counted views to the database in one statement; on failure they are kept for the next."""
        with self.lock:
            batch, self.pending = dict(self.pending), Counter()
            self.flushing, self.last_flush = True, time.monotonic()
        try:
            if batch:
                svc.backend.call("add_share_views", p_counts=batch)
            return sum(batch.values())
        except Exception:  # noqa: BLE001 - the database is down: keep the counts, the next flush retries
            log.exception("could not record %d share views", sum(batch.values()))
            with self.lock:
                self.pending.update(batch)
            return 0
        finally:
            with self.lock:
                self.flushing = False


class AddressLimiter:
    """Fixed one-minute windows of requests per client address, in this container's memory (no
    database write on the public path). At most MAX_TRACKED_ADDRESSES per window: past that, new
    addresses share one window (a flood of addresses is limited together)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.lock = threading.Lock()
        self.window = 0
        self.counts: Counter[str] = Counter()

    def hit(self, address: str) -> None:
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        with self.lock:
            if window != self.window:
                self.window, self.counts = window, Counter()
            if address not in self.counts and len(self.counts) >= MAX_TRACKED_ADDRESSES:
                address = "(overflow)"
            self.counts[address] += 1
            used = self.counts[address]
        if used > self.per_minute:
            reset = max(1, int((window + 1) * WINDOW_SECONDS - now))
            raise errors.RateLimited(
                f"This address has made {self.per_minute} requests to public links this minute, the most "
                f"allowed; try again in {reset} seconds.", retry_after=reset)


class PublicState:
    """The per-container state of the public routes (one per Services)."""

    def __init__(self, settings: Settings):
        self.views = ViewCounter()
        self.limiter = AddressLimiter(settings.public_rate_per_minute)
