"""Request and response shapes (contract section 2), and validation errors in the contract's form."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from shared import catalog, push
from shared.api_models import request_enums
from shared.errors import InvalidRequest

Resolution = Literal[catalog.RESOLUTIONS]  # which ones a model sells is its validator's check


class _GenerationRequest(BaseModel):
    """Each check below is a field validator, so an error names its field (model, resolution...).
    Fields are validated in this order; later ones see the earlier ones in `info.data`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    prompt: str = Field(min_length=1, max_length=2000)
    model: str
    resolution: Resolution
    duration: int | None = Field(None, description="Seconds, for the models that take one (GET /pricing "
                                 "`durations`); without it, the shortest.")
    aspect_ratio: str | None = None
    negative_prompt: str | None = Field(None, max_length=2000)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    # Contract section 3: where this generation's events are POSTed (checked, DNS included, by
    # shared/push.check before the charge), and which events.
    webhook_url: str | None = Field(None, max_length=push.MAX_URL_LENGTH)
    webhook_events: list[Literal["start", "progress", "completed"]] | None = Field(None, min_length=1)

    KIND: ClassVar[str] = ""

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # Postgres text cannot hold U+0000: refuse it here (422) instead of failing in the database (5xx).
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain a NUL character (U+0000)")
        return value

    @field_validator("seed", mode="before")
    @classmethod
    def _not_a_bool(cls, value: Any) -> Any:
        # JSON true is not an integer, though Python's bool is one: seed 1 would be charged for it.
        if isinstance(value, bool):
            raise ValueError("must be an integer, not true or false")
        return value

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        allowed = catalog.models_of_kind(cls.KIND)
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)} for {cls.KIND}")
        return value

    @field_validator("resolution")
    @classmethod
    def _sold_resolution(cls, value: str, info: ValidationInfo) -> str:
        model = info.data.get("model")
        if model and catalog.variant(model, value) is None:
            raise ValueError(f"{model} is only available in {', '.join(catalog.resolutions_of(model))}")
        return value

    @field_validator("aspect_ratio", "negative_prompt", "seed", "duration")
    @classmethod
    def _model_takes_it(cls, value, info: ValidationInfo):
        if isinstance(value, str) and not value:
            return None  # an empty form field is the field left out
        v = catalog.variant(info.data.get("model", ""), info.data.get("resolution", ""))
        problem = catalog.problems(v, {info.field_name: value}).get(info.field_name) if v else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("webhook_events", mode="before")
    @classmethod
    def _events(cls, value):
        events = push.parse_events(value)  # a form sends them comma-separated
        return list(events) if events else None

    @property
    def webhook(self) -> push.Webhook | None:
        if not self.webhook_url:
            return None
        return push.Webhook(self.webhook_url, tuple(self.webhook_events or push.DEFAULT_EVENTS))

    @property
    def variant(self) -> catalog.Variant:
        return catalog.variant(self.model, self.resolution, self.duration)

    def fingerprint(self, *extra: bytes) -> str:
        """A hash of the request, to tell a retried request from another one under the same key."""
        data = self.model_dump()
        if data["webhook_url"] is None and data["webhook_events"] is None:
            del data["webhook_url"], data["webhook_events"]  # the hash requests had before webhooks
        if data.get("duration") is None:  # absent: the same hash as before durations existed
            data.pop("duration", None)
        h = hashlib.sha256(json.dumps(data, sort_keys=True).encode())
        for part in extra:
            h.update(hashlib.sha256(part).digest())
        return h.hexdigest()


class TextToVideoRequest(_GenerationRequest):
    """A text-to-video request (POST /text-to-video)."""

    model_config = ConfigDict(json_schema_extra=request_enums("text-to-video"), title="TextToVideoRequest")
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
        if err.get("type") == "json_invalid":  # FastAPI puts the byte offset where a field name goes
            out.append({"field": None, "message": _json_error(err)})
            continue
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


def _json_error(err: dict) -> str:
    where = next((p for p in err.get("loc", ()) if isinstance(p, int)), None)
    reason = (err.get("ctx") or {}).get("error") or "it could not be parsed"
    position = f" at character {where + 1}" if where is not None else ""
    return f"The body is not valid JSON{position}: {str(reason)[:1].lower()}{str(reason)[1:]}."


def iso(value: str | datetime | None) -> str | None:
    """A timestamp as ISO 8601 in UTC with a Z."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


TERMINAL = frozenset({"succeeded", "failed", "canceled"})


def generation_out(row: dict, video_url: str | None, share_url: str | None = None) -> dict:
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
        "error_code": row.get("error_code"),  # contract section 7: null unless it failed or was canceled
        "cost": row["cost"],
        "refunded": row["refunded"],
        "retry_of": row.get("retry_of"),
        "extends": row.get("extends"),      # the generation whose last frame this one starts from
        "duration": row.get("duration"),    # seconds, for the models that take one; else null
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "completed_at": iso(row["completed_at"]),
        "favorite": bool(row.get("favorite")),  # the library (issue 25)
        "share_url": share_url,                 # its live public link, else null
    }
