"""POST /image-to-video (multipart): check the image by its bytes, then as text-to-video; the image is
stored only once the generation is charged (a request that cannot be charged stores nothing)."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile

from shared import catalog, generations, images
from shared.app import CurrentUser, IdempotencyKey, Svc, counts_as_create, note
from shared.schemas import ImageToVideoRequest, parse

PATH = "/image-to-video"


@counts_as_create
def image_to_video(
    request: Request, svc: Svc, user: CurrentUser,
    image: Annotated[UploadFile, File(description="PNG, JPEG or WebP, at most 10 MB")],
    prompt: Annotated[str, Form()],
    model: Annotated[str, Form()],
    resolution: Annotated[str, Form()],
    negative_prompt: Annotated[str | None, Form()] = None,
    seed: Annotated[str | None, Form()] = None,
    aspect_ratio: Annotated[str | None, Form()] = None,
    idempotency_key: IdempotencyKey = None,
) -> dict:
    """Start an image-to-video generation from an uploaded first frame."""
    fields = {"prompt": prompt, "model": model, "resolution": resolution,
              "negative_prompt": negative_prompt, "seed": seed or None, "aspect_ratio": aspect_ratio or None}
    body = parse(ImageToVideoRequest, {k: v for k, v in fields.items() if v is not None})
    data = images.read_limited(image.file)
    extension, content_type, width, height = images.inspect(data)
    if body.aspect_ratio is None:  # the video follows the image: portrait -> 9:16, else 16:9
        body = body.model_copy(update={"aspect_ratio": catalog.default_aspect_ratio(body.variant, width, height)})
    digest = hashlib.sha256(data).hexdigest()
    # Content-addressed: a retried upload lands on the same object instead of a new one.
    upload = generations.Upload(f"uploads/{user}/{digest[:40]}.{extension}", data, content_type)
    answer = generations.create(svc, user, body, idempotency_key=idempotency_key,
                                request_hash=body.fingerprint(data), upload=upload)
    note(request, generation_id=answer["generation_id"])
    return answer


def router(path: str = PATH) -> APIRouter:
    r = APIRouter()
    r.add_api_route(path, image_to_video, methods=["POST"], status_code=202)
    return r
