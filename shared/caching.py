"""HTTP caching of GET /status (contract section 3): an ETag and 304 on If-None-Match, and how long a
browser may keep a finished generation (`Cache-Control: private`, bounded by the signed video URL's
life). A shared cache (Redis) was measured and not added: docs/benchmarks.md, "Status caching".

The ETag is computed from the stored row, before the video URL is signed (a 304 skips the signing
and the body): it changes with every change of the generation, and, for a video we serve from our
storage, every half life of its signed URL, so that a body revalidated by a 304 always holds a URL
valid for at least another half life.
"""

from __future__ import annotations

import hashlib
import time

from shared.schemas import TERMINAL

NO_CACHE = "private, no-cache"
_CHANGING = ("generation_id", "status", "progress", "updated_at", "completed_at", "error", "refunded", "video_path",
             "output_url", "video_lost", "expired")


def _epoch_seconds(signed_url_seconds: int) -> int:
    return max(1, signed_url_seconds // 2)


def etag(gen: dict, signed_url_seconds: int, now: float | None = None) -> str:
    now = time.time() if now is None else now
    # Every stored field the answer is made from that can change (updated_at moves with each write).
    parts = tuple(gen.get(k) for k in _CHANGING)
    if _signed(gen):
        parts += (int(now // _epoch_seconds(signed_url_seconds)),)
    return f'W/"{hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()}"'


def cache_control(gen: dict, signed_url_seconds: int, now: float | None = None) -> str:
    """Unfinished, or a video still served from Replicate's URL (our copy is coming): revalidate each
    time. Finished: the browser may reuse it until the current half life of the signed URL ends."""
    if gen["status"] not in TERMINAL or (gen["status"] == "succeeded" and not gen.get("video_path")
                                         and not gen.get("video_lost") and not gen.get("expired")):
        return NO_CACHE
    now = time.time() if now is None else now
    epoch = _epoch_seconds(signed_url_seconds)
    return f"private, max-age={int(epoch - now % epoch)}"


def matches(if_none_match: str | None, tag: str) -> bool:
    """Weak comparison (RFC 9110 13.1.2): any listed tag equal to ours, with or without W/, or *."""
    if not if_none_match:
        return False
    opaque = tag.removeprefix("W/")
    return any(t.strip() == "*" or t.strip().removeprefix("W/") == opaque for t in if_none_match.split(","))


def _signed(gen: dict) -> bool:
    return gen["status"] == "succeeded" and bool(gen.get("video_path")) and not gen.get("expired")
