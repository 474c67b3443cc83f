"""Request and response shapes (contract section 2), and validation errors in the contract's form."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared import catalog
from shared.errors import InvalidRequest

Resolution = Literal["480p", "720p"]
AspectRatio = Literal["16:9", "9:16", "1:1"]


class _GenerationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    prompt: str = Field(min_length=1, max_length=2000)
    model: str
    resolution: Resolution
    negative_prompt: str | None = Field(None, max_length=2000)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    aspect_ratio: AspectRatio | None = None

    KIND: ClassVar[str] = ""

    @field_validator("negative_prompt")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _known_variant(self):
        allowed = catalog.models_of_kind(self.KIND)
        if self.model not in allowed:
            raise ValueError(f"model must be one of {', '.join(allowed)}")
        if catalog.variant(self.model, self.resolution) is None:
            raise ValueError(f"{self.model} is only available in {', '.join(catalog.resolutions_of(self.model))}")
        return self

    @property
    def variant(self) -> catalog.Variant:
        return catalog.variant(self.model, self.resolution)

    def fingerprint(self, *extra: bytes) -> str:
        """A hash of the request, to tell a retried request from another one under the same key."""
        h = hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True).encode())
        for part in extra:
            h.update(hashlib.sha256(part).digest())
        return h.hexdigest()


class TextToVideoRequest(_GenerationRequest):
    KIND: ClassVar[str] = "text-to-video"


class ImageToVideoRequest(_GenerationRequest):
    KIND: ClassVar[str] = "image-to-video"


def parse(model: type[BaseModel], data: Any) -> BaseModel:
    """Validate `data`, raising the contract's 422 with every field's problem."""
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(errors=validation_errors(exc.errors())) from None


def validation_errors(errors: list[dict]) -> list[dict]:
    """Pydantic/FastAPI error dicts -> [{"field", "message"}], with a message a person can read."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "header", "form")]
        field = ".".join(loc) or None
        message = err.get("msg", "is not valid")
        if err.get("type") == "extra_forbidden":
            message = "unknown field"
        elif err.get("type") == "missing":
            message = "is required"
        message = message.removeprefix("Value error, ")
        out.append({"field": field, "message": f"{field}: {message}" if field else message})
    return out


def iso(value: str | datetime | None) -> str | None:
    """A timestamp as ISO 8601 in UTC with a Z."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


TERMINAL = frozenset({"succeeded", "failed", "canceled"})


def generation_out(row: dict, video_url: str | None) -> dict:
    """A generation as the API answers it (GET /status and each item of GET /generations)."""
    return {
        "generation_id": row["generation_id"],
        "kind": row["kind"],
        "model": row["model"],
        "resolution": row["resolution"],
        "prompt": row["prompt"],
        "status": row["status"],
        "terminal": row["status"] in TERMINAL,
        "progress": row["progress"],
        "video_url": video_url,
        "expired": bool(row.get("expired")),  # retention deleted the video (video_url is then null)
        "error": row["error"],
        "cost": row["cost"],
        "refunded": row["refunded"],
        "retry_of": row.get("retry_of"),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "completed_at": iso(row["completed_at"]),
    }
