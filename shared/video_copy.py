"""Copying a finished video from Replicate (deleted there after an hour) into our storage."""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from shared.output_urls import policy_for
from shared.services import Services

log = logging.getLogger(__name__)

# Replicate keeps API outputs for an hour; after that a copy cannot succeed any more.
REPLICATE_KEEPS_OUTPUTS = timedelta(hours=1)


def video_path(gen: dict) -> str:
    return f"videos/{gen['user_id']}/{gen['generation_id']}.mp4"


def copy_video(svc: Services, generation_id: str) -> str:
    """Copy one succeeded generation's video; returns copied, already_copied, not_succeeded,
    failed (to be retried) or lost (Replicate's copy is gone). Safe to run twice at once: both
    write the same object and the first record wins."""
    gen = svc.backend.call("generation_by_id", p_gen_id=generation_id)
    if not gen or gen["status"] != "succeeded":
        return "not_succeeded"
    if gen["video_path"]:
        return "already_copied"
    if not gen["output_url"]:  # a success with nothing to copy: say so once, never retry
        svc.backend.call("record_video_copy_failure", p_gen_id=generation_id,
                         p_error="Replicate reported success without an output", p_give_up=True)
        return "lost"
    policy = policy_for(svc.settings)
    if not policy.allowed(gen["output_url"]):  # never fetched, and never will be: lost at once
        log.warning("video copy of %s refused: output URL not on an allowed host", generation_id)
        svc.backend.call("record_video_copy_failure", p_gen_id=generation_id,
                         p_error="the output URL is not on an allowed host", p_give_up=True)
        return "lost"
    path = video_path(gen)
    try:
        with tempfile.TemporaryDirectory(prefix="wan-video-") as tmp:
            spooled = Path(tmp) / "video.mp4"
            with spooled.open("wb") as into:  # on disk, not in memory: up to 512 MB
                svc.provider.download(gen["output_url"], into, policy.check_fetch)
            # Always video/mp4: the bytes were checked to be one, whatever the CDN called them.
            svc.storage.put_file(path, spooled, "video/mp4")
    except Exception as exc:  # noqa: BLE001 - whatever broke (Replicate, network, storage), record and retry
        give_up = _past_replicate_retention(gen)
        log.warning("video copy of %s failed (give up: %s): %s", generation_id, give_up, exc)
        svc.backend.call("record_video_copy_failure", p_gen_id=generation_id, p_error=str(exc)[:500],
                         p_give_up=give_up)
        return "lost" if give_up else "failed"
    svc.backend.call("record_video_copy", p_gen_id=generation_id, p_video_path=path)
    return "copied"


def _past_replicate_retention(gen: dict) -> bool:
    completed = datetime.fromisoformat(gen["completed_at"])
    return datetime.now(timezone.utc) - completed > REPLICATE_KEEPS_OUTPUTS
