"""Stored files and their end: retention (the sweep deletes videos and uploaded images RETENTION_DAYS
after their generation finished; a favorite's are kept while KEEP_FAVORITES is on) and the user's
delete of finished generations.

Supabase Storage has no lifecycle rules, so files go through the Storage API (never SQL on
storage.objects, which would orphan them). Order: remove the files first, then record it; a crash in
between leaves rows the next sweep claims again, and removing a file already gone is harmless.

An uploaded image is needed while its generation may still be retried (failed or canceled ones, up to
RETENTION_DAYS after they finished; a retry is refused once the image is gone). A retry reuses its
original's image, so the file goes with its last holder: the database says which images are shared.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter

from shared import errors, shares
from shared.services import Services

log = logging.getLogger(__name__)

DAY = 86_400
# A user's delete removes its files at once; the sweep retries those whose removal failed after this.
DELETE_RETRY_SECONDS = 300


def expire(svc: Services, counts: Counter, *, batch: int) -> None:
    """One bounded batch of each file rule; adds retention_expired / retention_files_deleted /
    retention_failed to the sweep's counts."""
    retention_age = svc.settings.retention_days * DAY
    # KEEP_FAVORITES (issue 25): favorites keep their files; claim_for_retention is the retention rule
    # without them, through an index without them (migrations/0016).
    if svc.settings.keep_favorites:
        claims = [svc.backend.call("claim_for_retention", p_age_seconds=retention_age, p_batch=batch)]
    else:
        claims = [svc.backend.call("claim_for_sweep", p_rule="retention", p_age_seconds=retention_age, p_batch=batch)]
    claims.append(svc.backend.call("claim_for_sweep", p_rule="deleted_files", p_age_seconds=DELETE_RETRY_SECONDS,
                                   p_batch=batch))
    for files in claims:
        if files:
            _remove(svc, files, counts)


def _remove(svc: Services, files: list[dict], counts: Counter) -> None:
    """Delete these generations' files from storage, then record it (see the module's order)."""
    paths = [f["video_path"] for f in files if f["video_path"]]
    paths += sorted({f["image_path"] for f in files if f["image_path"] and not f["image_shared"]}
                    | {f["last_image_path"] for f in files  # first-and-last-frame's second upload (0019)
                       if f.get("last_image_path") and not f.get("last_image_shared")})
    try:
        links = shares.copies_of(svc, [f["generation_id"] for f in files if f["video_path"]])
        paths += [shares.copy_path(link) for link in links]  # share links' copies go with the video
        if paths:
            svc.storage.delete(paths)
        freed = svc.backend.call("record_files_deleted", p_gen_ids=[f["generation_id"] for f in files])
        if links:
            svc.backend.call("release_shares", p_share_ids=links)
        # Images shared with generations released meanwhile (an overlapping sweep or delete).
        leftovers = [p for p in freed if p not in paths]
        if leftovers:
            svc.storage.delete(leftovers)
    except Exception:  # noqa: BLE001 - storage or database down: the rows stay claimable, next sweep retries
        log.exception("could not delete the files of %d generations", len(files))
        counts["retention_failed"] += len(files)
        return
    counts["retention_expired"] += len(files)
    counts["retention_files_deleted"] += len(paths) + len(leftovers)


def delete(svc: Services, user_id: uuid.UUID, generation_ids: list[uuid.UUID]) -> dict:
    """The user's delete of finished generations: gone from history, files deleted, ledger kept.

    Answers {"deleted": [...], "errors": [{"generation_id", "code", "detail"}]} per id (not_found for
    unknown, someone else's or already deleted ones; invalid_state for unfinished ones)."""
    ids = list(dict.fromkeys(str(i) for i in generation_ids))
    result = svc.backend.call("delete_generations", p_user_id=user_id, p_gen_ids=ids)
    if result["files"]:
        counts: Counter = Counter()
        _remove(svc, result["files"], counts)  # if it fails, the sweep's deleted_files rule retries
    deleted, unfinished = set(result["deleted"]), set(result["unfinished"])
    errs = []
    for gen_id in ids:
        if gen_id in unfinished:
            errs.append({"generation_id": gen_id, "code": "invalid_state",
                         "detail": "This generation is still running; cancel it first."})
        elif gen_id not in deleted:
            errs.append({"generation_id": gen_id, "code": "not_found", "detail": errors.NotFound.default_detail})
    return {"deleted": [i for i in ids if i in deleted], "errors": errs}


def delete_one(svc: Services, user_id: uuid.UUID, generation_id: uuid.UUID) -> dict:
    """DELETE /generations/{id}: as `delete` for one id, with the error as the answer's status."""
    answer = delete(svc, user_id, [generation_id])
    if answer["errors"]:
        err = answer["errors"][0]
        raise (errors.InvalidState if err["code"] == "invalid_state" else errors.NotFound)(err["detail"])
    return {"generation_id": str(generation_id), "deleted": True}
