"""The generation lifecycle: create (charge, start at Replicate, record the job), read, and apply
what Replicate reports. Handlers call one function here; the money rules live in SQL.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from shared import catalog, costs, errors, moderation, push, ratelimit
from shared.credits import NewGeneration
from shared.output_urls import policy_for
from shared.shares import share_url
from shared.replicate_provider import Prediction, ProviderError
from shared.schemas import ImageToVideoRequest, TextToVideoRequest, generation_out, iso, parse
from shared.services import Services

log = logging.getLogger(__name__)

PROVIDER_DOWN = "The video provider is unavailable right now; your credits were refunded."
STORAGE_DOWN = "The image could not be stored; your credits were refunded."
NOT_STARTED = "The generation could not be started; your credits were refunded."
PROVIDER_LOST = "The video provider no longer knows this generation; your credits were refunded."
SOURCE_UNDECODABLE = "The video being extended could not be decoded ({why}); your credits were refunded."
SIGNED_URL_SECONDS = 3600
STATUS_PROGRESS = {"starting": 0, "processing": 10}  # when the logs print no percentage


@dataclass(frozen=True)
class Upload:
    """An uploaded image, checked but not yet stored: it is stored only once its generation is charged.
    `make` instead of `data`: an image made only after the charge (extend's last frame), which may
    raise `video_frames.Undecodable`."""

    path: str
    data: bytes | None
    content_type: str
    make: Callable[[], bytes] | None = None


def create(svc: Services, user_id: uuid.UUID, request, *, idempotency_key: str | None,
           request_hash: str, image_path: str | None = None, retry_of: str | None = None,
           upload: Upload | None = None, last_upload: Upload | None = None,
           last_image_path: str | None = None, extends: str | None = None,
           webhook: push.Webhook | None = None) -> dict:
    """Charge and create (one transaction), store the uploads, start the job at Replicate, record its id.

    `webhook`: where its events go (by default the request's own webhook_url / webhook_events; retry
    and extend pass the source's), checked before the charge and stored in the charge's transaction.
    Returns the 202 body. A storage or Replicate failure fails and refunds the generation, then raises
    503; an extend whose source cannot be decoded fails and refunds it, then raises 409.
    The content policy checks the request first, before any money moves (422 content_policy)."""
    moderation.screen(svc, user_id, request, image=upload.data if upload else None, image_path=image_path)
    image_path = upload.path if upload else image_path
    last_image_path = last_upload.path if last_upload else last_image_path
    duration = getattr(request, "duration", None)
    webhook = webhook or getattr(request, "webhook", None)
    push.check(webhook, svc.settings)
    caller = ratelimit.current()
    created = svc.credits.create_generation_limited(NewGeneration(
        user_id=user_id, kind=request.KIND, model=request.model, resolution=request.resolution,
        prompt=request.prompt, cost=costs.of(svc.settings).of(request.variant),  # kept on the row as charged
        max_active=svc.settings.max_active_generations,
        negative_prompt=request.negative_prompt, seed=request.seed, aspect_ratio=request.aspect_ratio,
        image_path=image_path, idempotency_key=idempotency_key, request_hash=request_hash, retry_of=retry_of,
        webhook_url=webhook.url if webhook else None, webhook_events=list(webhook.events) if webhook else None,
        extends=extends, last_image_path=last_image_path, duration=duration,
    ), rate_limit=svc.settings.create_rate_per_minute, global_limit=svc.settings.max_creates_per_minute,
        api_key_id=caller.api_key_id if caller else None)
    ratelimit.note_create(created.get("rate"))
    if created["replayed"]:
        return _replay(created)
    gen_id = created["generation_id"]
    for item in (upload, last_upload):
        if item:
            _store(svc, gen_id, item, webhook)
    try:
        prediction = start_prediction(svc, {
            "generation_id": gen_id, "model": request.model, "resolution": request.resolution,
            "prompt": request.prompt, "negative_prompt": request.negative_prompt, "seed": request.seed,
            "aspect_ratio": request.aspect_ratio, "image_path": image_path,
            "last_image_path": last_image_path, "duration": duration})
    except ProviderError as exc:
        log.warning("replicate create failed for %s: %s", gen_id, exc)
        svc.backend.call("fail_generation", p_gen_id=gen_id, p_error=PROVIDER_DOWN,
                         p_error_code="provider_unavailable", p_settled_by="create")
        _pushed(svc, gen_id, webhook)
        raise errors.ProviderUnavailable(retry_after=exc.retry_after) from None
    except Exception:
        # Nothing was started (a bug or a misconfiguration): give the credits back before failing.
        log.exception("could not start generation %s", gen_id)
        svc.backend.call("fail_generation", p_gen_id=gen_id, p_error=NOT_STARTED, p_error_code="internal_error",
                         p_settled_by="create")
        _pushed(svc, gen_id, webhook)
        raise errors.ApiError(NOT_STARTED) from None
    status = "processing"
    try:
        status = svc.backend.call("mark_processing", p_gen_id=gen_id, p_replicate_id=prediction.id)["status"]
    except errors.ApiError:
        # The job runs and is paid for; its webhook carries our id and records the job instead.
        log.exception("could not record job %s for generation %s", prediction.id, gen_id)
    if status in ("failed", "canceled"):
        _stop_quietly(svc, prediction.id)  # canceled (or swept) while Replicate was starting it
    _pushed(svc, gen_id, webhook)
    return accepted(gen_id, status, created["cost"], created["credits_remaining"])


def _pushed(svc: Services, generation_id: str, webhook) -> None:
    """A state change of a generation with a webhook was committed: its deliveries (written in that
    transaction) go out now, in the background. If this never runs (a crash), the sweep sends them."""
    if webhook:
        svc.deliver_later(str(generation_id))


def _store(svc: Services, gen_id: str, upload: Upload, webhook) -> None:
    """Store one upload of a charged generation; on failure fail and refund it, then raise."""
    from shared.video_frames import Undecodable

    try:
        data = upload.data if upload.make is None else upload.make()
        svc.storage.put(upload.path, data, upload.content_type)
    except Undecodable as exc:
        detail = SOURCE_UNDECODABLE.format(why=exc)
        svc.backend.call("fail_generation", p_gen_id=gen_id, p_error=detail,
                         p_error_code="source_undecodable", p_settled_by="create")
        _pushed(svc, gen_id, webhook)
        raise errors.InvalidState(detail) from None
    except Exception:  # noqa: BLE001 - whatever storage raised, the charge must not stand
        log.exception("could not store the image of generation %s", gen_id)
        svc.backend.call("fail_generation", p_gen_id=gen_id, p_error=STORAGE_DOWN,
                         p_error_code="storage_unavailable", p_settled_by="create")
        _pushed(svc, gen_id, webhook)
        raise errors.ServiceUnavailable(STORAGE_DOWN) from None


def _stop_quietly(svc: Services, prediction_id: str) -> None:
    try:
        svc.provider.cancel(prediction_id)
    except ProviderError as exc:
        log.warning("could not cancel prediction %s at Replicate: %s", prediction_id, exc)


def cancel(svc: Services, user_id: uuid.UUID, generation_id: uuid.UUID) -> dict:
    """The user's cancel: mark it canceled and refund it, once (the database decides against a
    racing webhook or sweep), then stop the job at Replicate. If Replicate cannot be reached the
    cancel and refund stand: a late result cannot undo a terminal state."""
    gen = svc.backend.call("cancel_generation", p_user_id=user_id, p_gen_id=generation_id)
    _pushed(svc, generation_id, gen.get("webhook_url"))
    if gen["replicate_id"]:
        _stop_quietly(svc, gen["replicate_id"])
    return view(svc, gen)


def retry(svc: Services, user_id: uuid.UUID, generation_id: uuid.UUID, *, idempotency_key: str | None) -> dict:
    """A new generation with the same inputs as a failed or canceled one, charged as new."""
    old = svc.backend.call("generation_by_id", p_gen_id=generation_id)
    if not old or old["user_id"] != str(user_id) or old["deleted"]:
        raise errors.NotFound()
    if old["status"] not in ("failed", "canceled"):
        raise errors.InvalidState(f"Only a failed or canceled generation can be retried; this one is {old['status']}.")
    if old["image_expired"]:
        raise errors.InvalidState("This generation's uploaded image has expired; start a new one instead.")
    if old["error_code"] == "source_undecodable":  # its first image was never made: nothing to retry with
        raise errors.InvalidState("This extension never got its first frame (the source video could not be "
                                  "decoded); there is nothing to retry.")
    request_type = ImageToVideoRequest if old["kind"] == "image-to-video" else TextToVideoRequest
    fields = {k: old.get(k) for k in ("prompt", "model", "resolution", "negative_prompt", "seed", "aspect_ratio",
                                      "duration")}
    request = parse(request_type, {k: v for k, v in fields.items() if v is not None})
    answer = create(svc, user_id, request, idempotency_key=idempotency_key,
                    request_hash=request.fingerprint(f"retry:{generation_id}".encode()),
                    image_path=old["image_path"], retry_of=str(generation_id), webhook=push.webhook_of(old),
                    last_image_path=old.get("last_image_path"), extends=old.get("extends"))
    return answer | {"retry_of": str(generation_id)}


def start_prediction(svc: Services, gen: dict) -> Prediction:
    variant = catalog.variant(gen["model"], gen["resolution"], gen.get("duration"))
    image_url = svc.storage.signed_url(gen["image_path"], SIGNED_URL_SECONDS) if gen["image_path"] else None
    last = gen.get("last_image_path")
    prediction_input = catalog.replicate_input(
        variant, prompt=gen["prompt"], negative_prompt=gen["negative_prompt"], seed=gen["seed"],
        aspect_ratio=gen["aspect_ratio"], image_url=image_url,
        last_image_url=svc.storage.signed_url(last, SIGNED_URL_SECONDS) if last else None)
    # Created a moment ago: Replicate stops the job itself at our deadline (we also sweep it then).
    return svc.provider.create(variant, prediction_input, svc.webhook_url(gen["generation_id"]),
                               cancel_after_seconds=svc.settings.deadline_seconds)


def accepted(generation_id: str, status: str, cost: int, credits_remaining: int) -> dict:
    return {"generation_id": generation_id, "status": status, "cost": cost,
            "credits_remaining": credits_remaining}


def _replay(gen: dict) -> dict:
    """The first answer again for a repeated Idempotency-Key (nothing was charged this time)."""
    if gen["error_code"] == "provider_unavailable":
        raise errors.ProviderUnavailable()
    if gen["error_code"] == "internal_error":
        raise errors.ApiError(NOT_STARTED)
    if gen["error_code"] == "storage_unavailable":
        raise errors.ServiceUnavailable(STORAGE_DOWN)
    if gen["error_code"] == "source_undecodable":
        raise errors.InvalidState(gen["error"])
    return accepted(gen["generation_id"], gen["status"], gen["cost"], gen["credits_remaining"])


def apply_prediction(svc: Services, generation_id: str, prediction: Prediction,
                     event_id: str | None = None, source: str | None = None) -> dict:
    """Record what Replicate says in one transaction (webhook, status poll and sweep alike);
    returns {"outcome", "generation"}. A success starts the copy of its video. `source` (webhook,
    status_poll, sweep; by default webhook when there is an event id) is how the metrics count it."""
    # Progress: the model's last printed percentage, else a sign of life from the status.
    progress = prediction.progress if prediction.progress is not None else STATUS_PROGRESS.get(prediction.status, 0)
    result = svc.backend.call(
        "record_prediction", p_gen_id=generation_id, p_replicate_id=prediction.id,
        p_status=prediction.status, p_progress=progress, p_output_url=prediction.output_url,
        p_error=prediction.error, p_event_id=event_id, p_source=source,
        p_started_at=prediction.started_at, p_completed_at=prediction.completed_at)
    gen = result.get("generation")
    if result["outcome"] == "applied":
        _pushed(svc, generation_id, gen.get("webhook_url"))
        if gen["status"] == "succeeded":
            svc.copy_video_later(generation_id)
    return result


def status(svc: Services, user_id: uuid.UUID, generation_id: uuid.UUID) -> dict:
    """One of the user's generations. If Replicate has been quiet about an unfinished one, ask it
    (the database lets one caller do so per 10 s) and apply the answer: the lost-webhook fallback.
    The read is counted in the caller's request window in the same transaction (one round trip)."""
    return view(svc, status_row(svc, user_id, generation_id))


def status_row(svc: Services, user_id: uuid.UUID, generation_id: uuid.UUID) -> dict:
    """As `status`, before it is shaped (GET /status's ETag is computed from it, shared/caching.py)."""
    caller = ratelimit.current()
    answer = svc.backend.call("get_generation_counted", p_user_id=user_id, p_gen_id=generation_id,
                              p_rate_limit=svc.settings.request_rate_per_minute,
                              p_api_key_id=caller.api_key_id if caller else None)
    ratelimit.note_request(answer["rate"])
    return _fresh(svc, generation_id, answer["generation"])


def current(svc: Services, user_id: uuid.UUID, generation_id: uuid.UUID) -> dict:
    """One of the user's generations as stored (not counted in a request window: Prefer: wait and the
    status stream read it), asking Replicate as `status` does when it went quiet."""
    return _fresh(svc, generation_id, svc.backend.call("get_generation", p_user_id=user_id, p_gen_id=generation_id))


def _fresh(svc: Services, generation_id: uuid.UUID, gen: dict | None) -> dict:
    if gen is None or gen["deleted"]:
        raise errors.NotFound()
    if gen.pop("should_poll"):
        try:
            prediction = svc.provider.get(gen["replicate_id"])
        except ProviderError as exc:
            if exc.status == 404:
                gen = fail_lost(svc, str(generation_id), gen["replicate_id"], settled_by="status_poll")
            else:
                log.warning("status poll of %s failed: %s", generation_id, exc)
        else:
            result = apply_prediction(svc, str(generation_id), prediction, source="status_poll")
            gen = result.get("generation", gen)
    return gen


def fail_lost(svc: Services, generation_id: str, prediction_id: str, *, settled_by: str) -> dict:
    """Replicate answers 404 for a prediction we created (we hold its id): it will never report
    again, so fail and refund now instead of holding a slot until the deadline. fail_generation
    locks the row and changes only an unfinished generation, so a racing poll, sweep or webhook
    cannot refund it twice."""
    log.warning("Replicate does not know prediction %s of generation %s: failing it", prediction_id, generation_id)
    gen = svc.backend.call("fail_generation", p_gen_id=generation_id, p_error=PROVIDER_LOST,
                            p_error_code="provider_lost", p_settled_by=settled_by)
    _pushed(svc, generation_id, gen.get("webhook_url"))
    return gen


def view(svc: Services, gen: dict) -> dict:
    return views(svc, [gen])[0]


def views(svc: Services, gens: list[dict]) -> list[dict]:
    """Generations as the API answers them. A succeeded one's video_url is our signed copy once it
    exists (all signed in one storage call), until then Replicate's own URL (valid for an hour);
    null once retention deleted it (`expired`)."""
    copied = [g["video_path"] for g in gens
              if g["status"] == "succeeded" and g.get("video_path") and not g.get("expired")]
    signed = dict(zip(copied, svc.storage.signed_urls(copied, SIGNED_URL_SECONDS))) if copied else {}
    outputs = policy_for(svc.settings)

    def video_url(gen: dict) -> str | None:
        if gen["status"] != "succeeded" or gen.get("video_lost") or gen.get("expired"):
            return None
        if gen.get("video_path") in signed:
            return signed[gen["video_path"]]
        # Replicate's own URL until our copy exists, and only if it is one (never file:, javascript:,
        # or a host of our network that a prediction named).
        return gen.get("output_url") if outputs.allowed(gen.get("output_url")) else None

    return [generation_out(g, video_url(g), share_url(svc.settings, g.get("share_id"))) for g in gens]


def history(svc: Services, user_id: uuid.UUID, limit: int, cursor: str | None,
            filters: dict[str, Any] | None = None) -> dict:
    """A page of the caller's history; `filters` (favorite, status, kind, q: shared/library.py) go to
    search_generations (migrations/0016), the unfiltered history stays on list_generations."""
    before_created_at, before_id = _decode_cursor(cursor) if cursor else (None, None)
    filters = {f"p_{k}": v for k, v in (filters or {}).items() if v is not None}
    rows = svc.backend.call("search_generations" if filters else "list_generations", p_user_id=user_id,
                            p_limit=limit + 1, p_before_created_at=before_created_at, p_before_id=before_id,
                            **filters)
    items, more = rows[:limit], len(rows) > limit
    next_cursor = _encode_cursor(items[-1]) if more else None
    return {"items": views(svc, items), "next_cursor": next_cursor}


def _encode_cursor(gen: dict) -> str:
    raw = json.dumps([gen["created_at"], gen["generation_id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    """A cursor is what _encode_cursor made: anything else (a number, a list, an object, a time with no
    zone, a NUL) is the caller's mistake, a 422, and never reaches the database."""
    try:
        padded = (cursor + "=" * (-len(cursor) % 4)).encode("ascii")
        value = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
            raise ValueError("not a cursor")
        created_at = datetime.fromisoformat(value[0])
        if created_at.tzinfo is None:
            raise ValueError("the cursor's time has no zone")
        return created_at.isoformat(), str(uuid.UUID(value[1]))
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise errors.InvalidRequest(errors=[{"field": "before", "message": "before: is not a cursor "
                                             "this API returned"}]) from None


def credits(svc: Services, user_id: uuid.UUID) -> dict[str, Any]:
    data = svc.backend.call("get_credits", p_user_id=user_id)
    for t in data["transactions"]:
        t["created_at"] = iso(t["created_at"])
    return {"balance": data["balance"], "low_balance": data["balance"] < 5,
            "transactions": data["transactions"]}
