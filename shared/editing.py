"""Extend a video (contract section 8): a new image-to-video generation whose first image is the last
frame of one of the caller's succeeded generations, charged as new, through the same create path
as every other create (generations.create).

The frame comes from OUR stored copy of the video (Replicate deletes its own after an hour). It is
decoded after the charge, as uploads are stored after the charge: a request that cannot be charged
decodes nothing, and the decode (shared/video_frames.py: one at a time per process, bounded in bytes,
sides and seconds; `scripts/bench --only last-frame` measures a 10 s 1080p file) fits well
inside a web request, so no spawned step is needed. A video that cannot be decoded fails the new
generation and refunds it (a 409 saying why).
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from shared import catalog, errors, generations, video_frames
from shared.schemas import ImageToVideoRequest, parse
from shared.services import Services
from shared.storage import TooLarge

DEFAULT_MODEL = "i2v-14B"  # when the source's model is not an image-to-video one


class ExtendRequest(BaseModel):
    """POST /generations/{id}/extend: the new prompt; model and resolution default to the source's
    (or, for a text-to-video source, i2v-14B at the source's resolution)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"prompt": "the fox leaps over the fallen tree", "model": "i2v-14B", "resolution": "480p"}]})

    prompt: str = Field(description="What happens next (1-2000 characters after trimming).")
    model: str | None = Field(None, json_schema_extra={"enum": catalog.models_of_kind("image-to-video")})
    resolution: str | None = Field(None, json_schema_extra={"enum": list(catalog.RESOLUTIONS)})
    duration: int | None = Field(None, description="Seconds, for the models that take one.")
    negative_prompt: str | None = None
    seed: int | None = None


def extend(svc: Services, user_id: uuid.UUID, source_id: uuid.UUID, body: ExtendRequest, *,
           idempotency_key: str | None) -> dict:
    source = svc.backend.call("generation_by_id", p_gen_id=source_id)
    if not source or source["user_id"] != str(user_id) or source["deleted"]:
        raise errors.NotFound()
    if source["status"] != "succeeded":
        raise errors.InvalidState(f"Only a succeeded generation can be extended; this one is {source['status']}.")
    if source["expired"] or source["video_lost"]:
        raise errors.InvalidState("This generation's video is no longer kept, so it cannot be extended.")
    if not source["video_path"]:
        raise errors.InvalidState("This generation's video is still being copied; try again in a moment.")
    request = _request(source, body)
    with tempfile.TemporaryDirectory(prefix="wan-extend-") as tmp:
        video = Path(tmp) / "source.mp4"
        try:
            with video.open("wb") as into:
                svc.storage.download_to(source["video_path"], into, video_frames.MAX_VIDEO_BYTES)
        except (FileNotFoundError, TooLarge):
            raise errors.InvalidState("This generation's video is no longer kept, so it cannot be extended.") from None
        if request.aspect_ratio is None:  # the new video keeps the source's shape (portrait stays 9:16)
            shape = video_frames.probe(video)  # the header only; an unreadable file fails after the charge
            if shape:
                request = request.model_copy(update={
                    "aspect_ratio": catalog.default_aspect_ratio(request.variant, *shape)})
        # The same source always gives the same frame: one object per source, shared by its extensions
        # (retention releases a shared image only when its last holder goes).
        frame = generations.Upload(f"uploads/{user_id}/frame-{source_id}.png", None, "image/png",
                                   make=lambda: video_frames.last_frame_png(video)[0])
        answer = generations.create(svc, user_id, request, idempotency_key=idempotency_key,
                                    request_hash=request.fingerprint(f"extend:{source_id}".encode()),
                                    upload=frame, extends=str(source_id))
    return answer | {"extends": str(source_id)}


def _request(source: dict, body: ExtendRequest) -> ImageToVideoRequest:
    """The new generation's request, validated as /image-to-video validates its fields (a 422 names
    the field, before any charge)."""
    model = body.model or (source["model"] if source["kind"] == "image-to-video" else DEFAULT_MODEL)
    resolution = body.resolution
    if resolution is None:
        sold = catalog.resolutions_of(model)
        resolution = source["resolution"] if source["resolution"] in sold else (sold[0] if sold else source["resolution"])
    fields = {"prompt": body.prompt, "model": model, "resolution": resolution, "duration": body.duration,
              "negative_prompt": body.negative_prompt, "seed": body.seed}
    return parse(ImageToVideoRequest, {k: v for k, v in fields.items() if v is not None})
