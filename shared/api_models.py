"""The API's answers as typed models, for the OpenAPI document (/docs, docs/openapi.json) and the
tests that check every answer against it. Field names are the contract's (CONTRACT.md section 2).

Runtime answers are unchanged: handlers still return plain dicts, and each route lists its models
per status with `documented(...)`, which becomes FastAPI's `responses=` (documentation only; no
response_model serialization that could drop, add or coerce a field). tests/test_openapi.py checks
real answers against these models, so a documented field cannot silently disappear.

Adding a typed route: define its answer model here, then register it with
`r.add_api_route(path, handler, methods=[...], **documented(Model, errors.X, errors.Y, ...))`,
and regenerate docs/openapi.json (`python -m shared.openapi`).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any, Literal, Union

from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from shared import catalog, errors, packs

GEN_ID = "3f0b8a52-6c1e-4d2a-9b7e-2a51c4d0e9f1"
EXAMPLE_TIME = "2026-11-24T09:30:05.123456Z"

# --- enums, derived from the tables that decide them (catalog.py, packs.py), so they cannot drift ---

ModelName = enum.StrEnum("ModelName", {m: m for m in dict.fromkeys(v.model for v in catalog.VARIANTS)})
ModelName.__doc__ = "A model on sale (GET /pricing lists each with its resolutions and costs)."
Resolution = enum.StrEnum("Resolution", {r: r for r in catalog.RESOLUTIONS})
Resolution.__doc__ = ("480p costs 10 credits and 720p 20 on the seed's models; a model with durations costs by "
                      "resolution and duration (GET /pricing lists each model's own).")
AspectRatio = enum.StrEnum("AspectRatio", {r: r for r in dict.fromkeys(
    ratio for v in catalog.VARIANTS for ratio in v.aspect_ratios)})
AspectRatio.__doc__ = "A video's aspect ratio (each model's own are listed by GET /pricing)."
PackId = enum.StrEnum("PackId", {p.pack_id: p.pack_id for p in packs.PACKS})
PackId.__doc__ = "A credit pack on sale (GET /pricing lists them)."


class GenerationKind(enum.StrEnum):
    """What a generation starts from."""

    text_to_video = "text-to-video"
    image_to_video = "image-to-video"


class GenerationStatus(enum.StrEnum):
    """queued -> processing -> succeeded | failed | canceled (the last three are terminal)."""

    queued = "queued"
    processing = "processing"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"


class TransactionType(enum.StrEnum):
    """What moved credits: the ledger row's type."""

    signup_bonus = "signup_bonus"
    purchase = "purchase"
    deduction = "deduction"
    refund = "refund"
    adjustment = "adjustment"
    reversal = "reversal"


class PurchaseStatus(enum.StrEnum):
    """Where a Checkout Session stands; `credited` once its credits are in the ledger."""

    open = "open"
    paid = "paid"
    credited = "credited"
    expired = "expired"
    failed = "failed"
    reversed = "reversed"


def request_enums(kind: str):
    """json_schema_extra for a generation request: the enums of `model` and `aspect_ratio` for one
    kind. The fields stay plain strings at runtime, so their 422 messages remain the catalog's."""
    models = catalog.models_of_kind(kind)
    ratios = list(dict.fromkeys(r for v in catalog.VARIANTS if v.kind == kind for r in v.aspect_ratios))

    def extra(schema: dict[str, Any]) -> None:
        props = schema["properties"]
        schema["examples"] = [{"prompt": "a red fox running through fresh snow", "model": models[-1] if
                               kind == "image-to-video" else "t2v-14B", "resolution": "480p"}]
        props["prompt"]["description"] = "What the video shows (1-2000 characters after trimming)."
        props["model"].update(enum=models, description="A model of this kind (see GET /pricing).")
        props["aspect_ratio"]["anyOf"][0]["enum"] = ratios
        props["aspect_ratio"]["description"] = "One of the model's own ratios; image-to-video without it " \
                                               "follows the image (portrait: 9:16, else 16:9)."
    return extra


class _Out(BaseModel):
    # Every documented field is required (null where the contract allows it), and nothing else may
    # appear: the tests validate real answers against these schemas.
    model_config = ConfigDict(extra="forbid")


def _example(value: dict) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [value]})


# --- success answers ----------------------------------------------------------------------------------

_ACCEPTED = {"generation_id": GEN_ID, "status": "processing", "cost": 10, "credits_remaining": 90}


class Accepted(_Out):
    """A generation was charged and started (202); poll GET /status with its id."""

    model_config = _example(_ACCEPTED)
    generation_id: uuid.UUID
    status: GenerationStatus
    cost: int = Field(description="Credits charged (480p: 10, 720p: 20).")
    credits_remaining: int = Field(description="The balance after the charge.")


class RetryAccepted(Accepted):
    """The retry was charged and started as a new generation (202)."""

    model_config = _example(_ACCEPTED | {"retry_of": "9c2d7e10-5b4a-4f3e-8d21-0c6b1a7f3e55"})
    retry_of: uuid.UUID = Field(description="The failed or canceled generation whose inputs it reuses.")


class ExtendAccepted(Accepted):
    """The extension was charged and started as a new image-to-video generation (202)."""

    model_config = _example(_ACCEPTED | {"extends": "9c2d7e10-5b4a-4f3e-8d21-0c6b1a7f3e55"})
    extends: uuid.UUID = Field(description="The succeeded generation whose last frame is the new one's first image.")


_GENERATION = {
    "generation_id": GEN_ID, "kind": "text-to-video", "model": "t2v-14B", "resolution": "480p",
    "prompt": "a red fox running through fresh snow", "status": "succeeded", "terminal": True,
    "progress": 100, "video_url": "http://127.0.0.1:8000/files/videos/3f0b8a52.mp4?expires=1795000000&sig=…",
    "expired": False, "error": None, "cost": 10, "refunded": False, "retry_of": None, "extends": None,
    "duration": None, "created_at": EXAMPLE_TIME,
    "updated_at": "2026-11-24T09:30:11.004211Z", "completed_at": "2026-11-24T09:30:11.004211Z",
}


class Generation(_Out):
    """One generation, as GET /status and each item of GET /generations answer it."""

    model_config = _example(_GENERATION)
    generation_id: uuid.UUID
    kind: GenerationKind
    model: ModelName
    resolution: Resolution
    prompt: str
    status: GenerationStatus
    terminal: bool = Field(description="True once the status is succeeded, failed or canceled.")
    progress: int = Field(ge=0, le=100)
    video_url: str | None = Field(description="A URL the browser can fetch, once succeeded; else null.")
    expired: bool = Field(description="Retention deleted the stored video (video_url is then null).")
    error: str | None = Field(description="Why it failed, for a person; else null.")
    cost: int
    refunded: bool
    retry_of: uuid.UUID | None = Field(description="The generation this one retries, if any.")
    extends: uuid.UUID | None = Field(description="The generation whose last frame this one starts from "
                                      "(POST /generations/{id}/extend), if any.")
    duration: int | None = Field(description="Seconds, for the models that take a duration; else null.")
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class GenerationPage(_Out):
    """The caller's generations, newest first; pass next_cursor as `before` for the next page."""

    model_config = _example({"items": [_GENERATION], "next_cursor": None})
    items: list[Generation]
    next_cursor: str | None = Field(description="null on the last page.")


class Transaction(_Out):
    """One ledger row; amount is signed (a deduction is negative)."""

    id: int
    amount: int
    type: TransactionType
    generation_id: uuid.UUID | None
    description: str | None
    balance_after: int
    created_at: datetime
    generation_deleted: bool = Field(description="The row's generation was deleted by its user (the row stays).")


class Credits(_Out):
    """The caller's balance and ledger, newest first."""

    model_config = _example({"balance": 90, "low_balance": False, "transactions": [
        {"id": 2, "amount": -10, "type": "deduction", "generation_id": GEN_ID,
         "description": "t2v-14B 480p", "balance_after": 90, "created_at": EXAMPLE_TIME, "generation_deleted": False},
        {"id": 1, "amount": 100, "type": "signup_bonus", "generation_id": None,
         "description": "Welcome bonus", "balance_after": 100, "created_at": "2026-11-24T09:29:58.000000Z",
         "generation_deleted": False}]})
    balance: int
    low_balance: bool = Field(description="True when the balance is under 5 credits.")
    transactions: list[Transaction]


class ModelPricing(_Out):
    """One model on sale."""

    model: ModelName
    kind: GenerationKind
    resolutions: list[Resolution]
    costs: dict[str, int] = Field(description="Credits per resolution, e.g. {\"480p\": 10, \"720p\": 20} "
                                  "(for a model with durations: at its shortest).")
    aspect_ratios: list[AspectRatio]
    inputs: list[Literal[catalog.OPTIONAL_UPLOADS]] = Field(
        description="Optional uploads the model takes besides `image` (e.g. last_image); others are a 422.")
    durations: list[int] = Field(description="Seconds the model can make (`duration`); empty: its own fixed length.")
    duration_costs: dict[str, dict[str, int]] = Field(
        description="Credits per resolution and duration, e.g. {\"720p\": {\"5\": 40, \"10\": 80}}; empty without durations.")


class Pack(_Out):
    """A credit pack on sale; amount is in the currency's minor unit (cents)."""

    pack_id: PackId
    credits: int
    amount: int
    currency: str


class Pricing(_Out):
    """Every model with its kind, resolutions, costs and aspect ratios, and the packs on sale."""

    model_config = _example({**catalog.pricing(), "packs": packs.packs_out()})
    currency: Literal["credits"]
    models: list[ModelPricing]
    packs: list[Pack]


class CheckoutSession(_Out):
    """A Stripe Checkout Session for one pack (201): send the browser to checkout_url."""

    model_config = _example({"session_id": "cs_test_a1B2c3D4", "checkout_url": "https://checkout.stripe.com/c/pay/cs_test_a1B2c3D4"})
    session_id: str
    checkout_url: str


class CheckoutStatus(_Out):
    """One of the caller's purchases; a paid one is credited by this call if the webhook has not yet."""

    model_config = _example({"session_id": "cs_test_a1B2c3D4", "status": "credited", "credits": 100, "balance": 200})
    session_id: str
    status: PurchaseStatus
    credits: int
    balance: int


class DeleteRefusal(_Out):
    """Why one id of a delete was not deleted."""

    generation_id: uuid.UUID
    code: Literal["invalid_state", "not_found"]
    detail: str


class DeleteResult(_Out):
    """Which generations were deleted (history and files; the ledger keeps its rows), and why the
    others were not."""

    model_config = _example({"deleted": [GEN_ID], "errors": [
        {"generation_id": "9c2d7e10-5b4a-4f3e-8d21-0c6b1a7f3e55", "code": "invalid_state",
         "detail": "This generation is still running; cancel it first."}]})
    deleted: list[uuid.UUID]
    errors: list[DeleteRefusal]


class Deleted(_Out):
    """The generation and its files are deleted (the ledger keeps its rows)."""

    model_config = _example({"generation_id": GEN_ID, "deleted": True})
    generation_id: uuid.UUID
    deleted: Literal[True]


KEY_ID = "0b7e2f4c-5d1a-4c8e-9f3b-2a6d8e1c4b70"
_KEY_EXAMPLE = {"id": KEY_ID, "name": "my laptop", "prefix": "3f9a1c2e", "last_chars": "Qx7w",
                "created_at": EXAMPLE_TIME, "last_used_at": None, "revoked_at": None, "status": "active"}


class ApiKeyStatus(enum.StrEnum):
    """Whether a key still works."""

    active = "active"
    revoked = "revoked"


class ApiKey(_Out):
    """One of the caller's API keys (never its secret)."""

    model_config = _example(_KEY_EXAMPLE)
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's visible part after `wan_live_`.")
    last_chars: str = Field(description="The key's last characters, to tell keys apart.")
    created_at: datetime
    last_used_at: datetime | None = Field(description="Updated at most once a minute.")
    revoked_at: datetime | None
    status: ApiKeyStatus


class ApiKeyCreated(ApiKey):
    """A new API key: `key` is shown this once (only a salted hash of it is kept)."""

    model_config = _example(_KEY_EXAMPLE | {"key": "wan_live_3f9a1c2e_<43 characters>Qx7w"})
    key: str = Field(description="Send it as `Authorization: Bearer <key>`.")


class ApiKeyList(_Out):
    """The caller's API keys, newest first."""

    model_config = _example({"items": [_KEY_EXAMPLE]})
    items: list[ApiKey]


class Health(_Out):
    """The database answered a probe."""

    model_config = _example({"status": "ok", "database": "ok"})
    status: Literal["ok"]
    database: Literal["ok"]


class WebhookReceived(_Out):
    """The event was recorded (or was a repeat, or concerns nothing we know): no retry needed."""

    model_config = _example({"received": True, "outcome": "applied"})
    received: Literal[True]
    outcome: str = Field(description="What the event did (applied, duplicate, stale, unknown_generation...); "
                                     "for logs, not for decisions.")


class Signup(_Out):
    """A local user and an access token (local stack only)."""

    model_config = _example({"user_id": "7a1c2e34-0b5d-4f6a-8e9f-112233445566", "access_token": "eyJhbGciOiJIUzI1NiIs…"})
    user_id: uuid.UUID
    access_token: str


# --- errors: one model per code, derived from shared/errors.py -------------------------------------------

class FieldError(_Out):
    field: str | None = Field(description="The field (or query parameter) at fault; null for the whole body.")
    message: str


def _error_model(cls: type[errors.ApiError], example: dict, **fields: Any) -> type[BaseModel]:
    annotations = {"detail": str, "code": Literal[cls.code]} | {k: t for k, (t, _) in fields.items()}
    namespace = {"__annotations__": annotations, "__doc__": f"{cls.status} {cls.code}",
                 "model_config": _example({"detail": cls.default_detail, "code": cls.code, **example}),
                 **{k: d for k, (_, d) in fields.items()}}
    namespace["detail"] = Field(description="One sentence for a person; show it as is.")
    return type(f"{cls.__name__}Error" if cls is not errors.ApiError else "InternalError", (_Out,), namespace)


_INVALID_EXAMPLE = {"detail": "aspect_ratio: t2v-14B takes 16:9 or 9:16",
                    "errors": [{"field": "aspect_ratio", "message": "aspect_ratio: t2v-14B takes 16:9 or 9:16"}]}

ERROR_MODELS: dict[type[errors.ApiError], type[BaseModel]] = {
    errors.InvalidPayload: _error_model(errors.InvalidPayload, {}),
    errors.Unauthorized: _error_model(errors.Unauthorized, {}),
    errors.InvalidSignature: _error_model(errors.InvalidSignature, {}),
    errors.InsufficientCredits: _error_model(
        errors.InsufficientCredits, {"detail": "This needs 20 credits and you have 5.", "required": 20, "balance": 5},
        required=(int, Field(description="Credits the request costs.")),
        balance=(int, Field(description="The caller's balance."))),
    errors.NotFound: _error_model(errors.NotFound, {}),
    errors.Forbidden: _error_model(errors.Forbidden, {}),
    errors.RateLimited: _error_model(errors.RateLimited, {}),
    errors.IdempotencyKeyReused: _error_model(errors.IdempotencyKeyReused, {}),
    errors.InvalidState: _error_model(errors.InvalidState, {}),
    errors.ImageTooLarge: _error_model(errors.ImageTooLarge, {}),
    errors.PayloadTooLarge: _error_model(errors.PayloadTooLarge, {}),
    errors.UnsupportedImageType: _error_model(errors.UnsupportedImageType, {}),
    errors.InvalidRequest: _error_model(errors.InvalidRequest, _INVALID_EXAMPLE,
                                        errors=(list[FieldError], Field(description="Each field's problem."))),
    errors.TooManyActiveGenerations: _error_model(errors.TooManyActiveGenerations, {}),
    errors.ProviderUnavailable: _error_model(errors.ProviderUnavailable, {}),
    errors.ServiceUnavailable: _error_model(errors.ServiceUnavailable, {}),
    errors.ApiError: _error_model(errors.ApiError, {}),
}

_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}

# Answers every user route can give, before its handler runs: no valid token, or an unexpected failure.
USER = (errors.Unauthorized, errors.RateLimited)  # every signed-in call is rate-limited
ALWAYS = (errors.ApiError,)


def documented(model: type[BaseModel] | str, *raises: type[errors.ApiError], status: int = 200,
               user: bool = True, media_type: str | None = None) -> dict[str, Any]:
    """`add_api_route` keyword arguments documenting a route: its answer `model` at `status`, and each
    error it can answer (the statuses, the codes, an example each). `user`: the route needs a token.
    A text answer (not JSON): `model` is its one-sentence description, `media_type` its type."""
    extra: dict[str, Any] = {}
    if isinstance(model, str):
        success = {"description": model, "content": {media_type: {"schema": {"type": "string"}}}}
        # A media type of None keeps FastAPI from adding an empty JSON schema to the text answer (and
        # from filing the JSON errors under text/plain); the handler returns its own Response anyway.
        extra["response_class"] = _OwnResponse
    else:
        success = {"model": model, "description": model.__doc__}
    responses: dict[int | str, dict[str, Any]] = {status: success}
    found = list(dict.fromkeys((*(USER if user else ()), *raises, *ALWAYS)))
    for code_status in sorted({cls.status for cls in found}):
        at = [cls for cls in found if cls.status == code_status]
        models = [ERROR_MODELS[cls] for cls in at]
        union = models[0] if len(models) == 1 else _union(models)
        examples = {cls.code: {"summary": cls.default_detail,
                               "value": ERROR_MODELS[cls].model_config["json_schema_extra"]["examples"][0]}
                    for cls in at}
        entry = {"model": union, "description": " | ".join(f"`{cls.code}`" for cls in at),
                 "content": {"application/json": {"examples": examples}}}
        if code_status in (429, 503):
            entry["headers"] = _RETRY_AFTER
        responses[code_status] = entry
    # response_model=None: the handler's dict is sent as it is (the model above only documents it).
    return {"status_code": status, "response_model": None, "responses": responses, **extra}


class _OwnResponse(Response):
    """The response class of a route whose handler returns its own Response (see `documented`)."""

    media_type = None


def _union(models: list[type[BaseModel]]):
    return Union[tuple(models)]  # noqa: UP007 - a union built at runtime


def signed_body(what: str, headers: dict[str, str]) -> dict[str, Any]:
    """`add_api_route` keyword arguments documenting a webhook's raw JSON body and its signature
    headers (the handler reads the raw body itself, so FastAPI cannot see either)."""
    return {"openapi_extra": {
        "requestBody": {"required": True, "description": what,
                        "content": {"application/json": {"schema": {"type": "object"}}}},
        "parameters": [{"name": name, "in": "header", "required": True, "description": text,
                        "schema": {"type": "string"}} for name, text in headers.items()],
    }}
