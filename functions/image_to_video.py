"""POST /image-to-video (multipart): check the image by its bytes, then as text-to-video; the image is
stored only once the generation is charged (a request that cannot be charged stores nothing)."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile

from shared import catalog, errors, generations, images, prefer_wait
from shared.api_models import Accepted, documented
from shared.app import CurrentUser, IdempotencyKey, Svc, counted_in_its_transaction, note
from shared.prefer_wait import Prefer
from shared.schemas import ImageToVideoRequest, parse

PATH = "/image-to-video"
# The form's enums for the OpenAPI document; the checks themselves are ImageToVideoRequest's (catalog).
_MODELS = catalog.models_of_kind("image-to-video")
_RESOLUTIONS = sorted({v.resolution for v in catalog.VARIANTS if v.kind == "image-to-video"})
_RATIOS = list(dict.fromkeys(r for v in catalog.VARIANTS if v.kind == "image-to-video" for r in v.aspect_ratios))


@counted_in_its_transaction("create")
def image_to_video(
    request: Request, svc: Svc, user: CurrentUser,
    image: Annotated[UploadFile, File(description="PNG, JPEG or WebP, at most 10 MB")],
    prompt: Annotated[str, Form(description="What the video shows (1-2000 characters after trimming).",
                                examples=["the fox turns its head"])],
    model: Annotated[str, Form(json_schema_extra={"enum": _MODELS}, examples=_MODELS)],
    resolution: Annotated[str, Form(json_schema_extra={"enum": _RESOLUTIONS}, examples=["480p"])],
    negative_prompt: Annotated[str | None, Form(description="At most 2000 characters.")] = None,
    seed: Annotated[str | None, Form(description="An integer from 0 to 4294967295.",
                                     json_schema_extra={"pattern": "^[0-9]+$"})] = None,
    aspect_ratio: Annotated[str | None, Form(json_schema_extra={"enum": _RATIOS}, description=(
        "One of the model's own; without it the video follows the image (portrait: 9:16, else 16:9)."))] = None,
    duration: Annotated[str | None, Form(description="Seconds, for the models that take one (GET /pricing "
                                         "`durations`); without it, the shortest.",
                                         json_schema_extra={"pattern": "^[0-9]+$"})] = None,
    last_image: Annotated[UploadFile | None, File(description=(
        "Optional last frame (PNG, JPEG or WebP, at most 10 MB), for the models whose GET /pricing "
        "`inputs` list last_image; elsewhere a 422."))] = None,
    webhook_url: Annotated[str | None, Form(description=(
        "Where this generation's events are POSTed, signed (Standard Webhooks): an absolute https URL."))] = None,
    webhook_events: Annotated[str | None, Form(description=(
        "Comma-separated: start, progress, completed (default completed)."))] = None,
    idempotency_key: IdempotencyKey = None, prefer: Prefer = None,
):
    """Start an image-to-video generation from an uploaded first frame (and, where the model takes one, a
    last); `Prefer: wait=N` as text-to-video."""
    wait = prefer_wait.requested(prefer)
    fields = {"prompt": prompt, "model": model, "resolution": resolution, "duration": duration or None,
              "negative_prompt": negative_prompt, "seed": seed or None, "aspect_ratio": aspect_ratio or None,
              "webhook_url": webhook_url or None, "webhook_events": webhook_events or None}
    body = parse(ImageToVideoRequest, {k: v for k, v in fields.items() if v is not None})
    if last_image is not None and "last_image" not in catalog.optional_inputs(body.model):
        raise errors.InvalidRequest(errors=[{"field": "last_image", "message": (
            f"last_image: {body.model} does not take a last image; the models that do are "
            f"{', '.join(m for m in _MODELS if 'last_image' in catalog.optional_inputs(m))}")}])
    data = images.read_limited(image.file)
    extension, content_type, width, height = images.inspect(data)
    if body.aspect_ratio is None:  # the video follows the image: portrait -> 9:16, else 16:9
        body = body.model_copy(update={"aspect_ratio": catalog.default_aspect_ratio(body.variant, width, height)})
    upload = _upload(user, data, extension, content_type)
    last_upload, last_data = None, b""
    if last_image is not None:  # checked exactly as `image`, its errors named last_image
        last_data = images.read_limited(last_image.file)
        last_extension, last_type, _, _ = images.inspect(last_data, field="last_image")
        last_upload = _upload(user, last_data, last_extension, last_type)
    answer = generations.create(svc, user, body, idempotency_key=idempotency_key,
                                request_hash=body.fingerprint(data, *([last_data] if last_upload else [])),
                                upload=upload, last_upload=last_upload)
    note(request, generation_id=answer["generation_id"])
    return prefer_wait.WaitingAnswer(svc, user, answer, wait) if wait else answer


def _upload(user, data: bytes, extension: str, content_type: str) -> generations.Upload:
    # Content-addressed: a retried upload lands on the same object instead of a new one.
    digest = hashlib.sha256(data).hexdigest()
    return generations.Upload(f"uploads/{user}/{digest[:40]}.{extension}", data, content_type)


def router(path: str = PATH) -> APIRouter:
    r = APIRouter()
    r.add_api_route(path, image_to_video, methods=["POST"], **prefer_wait.documented(documented(
        Accepted, errors.InsufficientCredits, errors.IdempotencyKeyReused, errors.ImageTooLarge,
        errors.UnsupportedImageType, errors.InvalidRequest, errors.ContentPolicy, errors.AccountBlocked, errors.TooManyActiveGenerations,
        errors.ProviderUnavailable, errors.ServiceUnavailable, status=202)))
    return r
