"""The API's answers as typed models, for the OpenAPI document (/docs, docs/openapi.json) and the
tests that check every answer against it. Field names are the contract's (CONTRACT.md section 2).

Runtime answers are unchanged: handlers still return plain dicts, and each route lists its models
per status with `documented(...)`, which becomes FastAPI's `responses=` (documentation only; no
response_model serialization that could drop, add or coerce a field). tests/test_openapi.py checks
real answers against these models, so a documented field cannot silently disappear.

Adding a typed route: define its answer model here, then register it with
`r.add_api_route(path, handler, methods=[...], **documented(Model, errors.X, errors.Y, ...))`,
and regenerate docs/openapi.json (`scripts/regenerate`).
"""

from __future__ import annotations

import enum
import json
import uuid
from datetime import datetime
from typing import Any, Literal, Union

from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from shared import catalog, costs, errors, packs

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


# FastAPI writes its document with exclude_none (fastapi/openapi/utils.py, get_openapi), which drops
# the nulls of the examples too, and an example missing a required nullable field no longer validates.
# Each example is recorded here (by its form without nulls) so that refine() can put them back.
_EXAMPLES: dict[str, str] = {}  # the form without nulls -> the example as written (JSON text)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _example_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _example(value: dict) -> ConfigDict:
    _EXAMPLES[_example_key(_without_nulls(value))] = _example_key(value)
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [value]})


def _written(example: Any) -> Any:
    found = _EXAMPLES.get(_example_key(example))
    return example if found is None else json.loads(found)


def _with_nulls(node: Any) -> None:
    """Every example in the document as it was written (see _EXAMPLES)."""
    if isinstance(node, list):
        for value in node:
            _with_nulls(value)
        return
    if not isinstance(node, dict):
        return
    examples = node.get("examples")
    if isinstance(examples, list):  # a schema's
        node["examples"] = [_written(e) for e in examples]
    elif isinstance(examples, dict):  # a media type's, each {"summary": ..., "value": ...}
        for entry in examples.values():
            if isinstance(entry, dict) and "value" in entry:
                entry["value"] = _written(entry["value"])
    for key, value in node.items():
        if key != "examples":
            _with_nulls(value)


# --- success answers ----------------------------------------------------------------------------------

_EXAMPLE_COST = costs.DEFAULT.credits("t2v-14B", "480p")  # the examples read the one cost source
_EXAMPLE_720P = costs.DEFAULT.credits("t2v-14B", "720p")
_ACCEPTED = {"generation_id": GEN_ID, "status": "processing", "cost": _EXAMPLE_COST,
             "credits_remaining": 100 - _EXAMPLE_COST}


class Accepted(_Out):
    """A generation was charged and started (202); poll GET /status with its id."""

    model_config = _example(_ACCEPTED)
    generation_id: uuid.UUID
    status: GenerationStatus
    cost: int = Field(description="Credits charged: what GET /pricing lists for the model and resolution.")
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
    "expired": False, "error": None, "error_code": None, "cost": _EXAMPLE_COST, "refunded": False, "retry_of": None,
    "extends": None, "duration": None, "created_at": EXAMPLE_TIME,
    "updated_at": "2026-11-24T09:30:11.004211Z", "completed_at": "2026-11-24T09:30:11.004211Z",
    "favorite": False, "share_url": None,
}


GENERATION_EXAMPLE = _GENERATION


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
    error_code: str | None = Field(description=(
        "Why it failed, for a program; null unless it failed or was canceled. One of provider_unavailable, "
        "provider_failed, provider_aborted, provider_lost, content_policy (the provider's safety checker "
        "refused it), timeout, queued_timeout, storage_unavailable, internal_error, canceled (at the "
        "provider), canceled_by_user."))
    cost: int
    refunded: bool
    retry_of: uuid.UUID | None = Field(description="The generation this one retries, if any.")
    extends: uuid.UUID | None = Field(description="The generation whose last frame this one starts from "
                                      "(POST /generations/{id}/extend), if any.")
    duration: int | None = Field(description="Seconds, for the models that take a duration; else null.")
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    favorite: bool = Field(description="Marked a favorite (PUT /generations/{id}/favorite).")
    share_url: str | None = Field(description="Its live public link (POST /generations/{id}/share), else null.")


class GenerationPage(_Out):
    """The caller's generations, newest first; pass next_cursor as `before` for the next page."""

    model_config = _example({"items": [_GENERATION], "next_cursor": None})
    items: list[Generation]
    next_cursor: str | None = Field(description="null on the last page.")


# --- the library (issue 25) -------------------------------------------------------------------------

_SHARE_ID = "Vh3kq0mZ2m1oQm5b8X2n4A"


class Favorite(_Out):
    """Whether the generation is now a favorite (the same answer however often it is asked)."""

    model_config = _example({"generation_id": GEN_ID, "favorite": True})
    generation_id: uuid.UUID
    favorite: bool


class ShareLink(_Out):
    """The generation's public link (201 when made now, 200 when it already had one)."""

    model_config = _example({"share_id": _SHARE_ID, "share_url": f"http://127.0.0.1:8000/s/{_SHARE_ID}"})
    share_id: str = Field(description="128 random bits, URL-safe base64: the link itself.")
    share_url: str = Field(description="The public page; ends in /s/{share_id}.")


class PublicShare(_Out):
    """What a live share link shows: never its owner."""

    model_config = _example({"share_id": _SHARE_ID, "kind": "text-to-video", "model": "t2v-14B",
                             "resolution": "480p", "prompt": "a red fox running through fresh snow",
                             "video_url": "http://127.0.0.1:8000/files/videos/….mp4?expires=…&sig=…",
                             "created_at": EXAMPLE_TIME, "views": 12})
    share_id: str
    kind: GenerationKind
    model: ModelName
    resolution: Resolution
    prompt: str
    video_url: str = Field(description="A signed URL made for this request, valid 15 minutes.")
    created_at: datetime
    views: int = Field(ge=0, description="Views of the link (counted in batches: may lag by seconds).")


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
    costs: dict[str, int] = Field(description="Credits per resolution, e.g. {\"480p\": 10, \"720p\": 20} (for a "
                                              "model with durations: at its shortest; the operator's CREDIT_COSTS "
                                              "changes them).")
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


class WebhookSecret(_Out):
    """The caller's signing secret for their webhooks (Standard Webhooks, `whsec_` + base64)."""

    model_config = _example({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
    secret: str


class DeliveryStatus(enum.StrEnum):
    """pending: to be sent (again); delivered: the receiver answered 2xx; failed: given up."""

    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class DeliveryType(enum.StrEnum):
    """The event a delivery reports."""

    start = "generation.start"
    progress = "generation.progress"
    completed = "generation.completed"


_DELIVERY = {"event_id": "msg_5b1f0c7e9a2d4c6b8e0f1a3b5c7d9e1f", "type": "generation.completed",
             "status": "delivered", "attempts": 1, "last_status_code": 200, "next_attempt_at": None}


class Delivery(_Out):
    """One delivery of one event to the generation's webhook_url."""

    model_config = _example(_DELIVERY)
    event_id: str = Field(description="The webhook-id header: the same on every attempt; dedupe on it.")
    type: DeliveryType
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None = Field(description="The receiver's last answer; null if none came.")
    next_attempt_at: datetime | None = Field(description="When it is tried again (pending only).")


class DeliveryList(_Out):
    """A generation's deliveries in the order they were written (`completed` is always last)."""

    model_config = _example({"items": [_DELIVERY]})
    items: list[Delivery]


class WebhookEvent(_Out):
    """What a webhook delivery POSTs to your webhook_url, with the headers webhook-id, webhook-timestamp
    and webhook-signature (Standard Webhooks: verify with your secret from GET /webhooks/secret)."""

    model_config = _example({"type": "generation.completed", "timestamp": EXAMPLE_TIME, "data": _GENERATION})
    type: DeliveryType
    timestamp: datetime
    data: Generation


class GenerationAnswered(Generation):
    """With `Prefer: wait=N`: the create's keys and the generation (200 if it ended, 202 if not)."""

    model_config = _example(_GENERATION | {"credits_remaining": 90})
    credits_remaining: int = Field(description="The balance after the charge.")


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
        errors.InsufficientCredits, {"detail": f"This needs {_EXAMPLE_720P} credits and you have 5.", "required": _EXAMPLE_720P, "balance": 5},
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
    errors.ContentPolicy: _error_model(
        errors.ContentPolicy, {"detail": 'The prompt was refused by the content policy (the blocked term "gore"); '
                                         "nothing was charged.", "field": "prompt", "category": "blocked_term",
                               "blocked_until": None,
                               "errors": [{"field": "prompt", "message": "prompt: refused by the content policy "
                                                                         "(blocked_term)"}]},
        field=(Literal["prompt", "negative_prompt", "image"], Field(description="What was refused.")),
        category=(str, Field(description="Why: `blocked_term` (the local policy) or the classifier's category, "
                                         "e.g. `sexual`, `violence/graphic`.")),
        blocked_until=(datetime | None, Field(description="Set when this refusal paused the account's creates "
                                                          "(too many refusals in 24 h): until when.")),
        errors=(list[FieldError], Field(description="The refused field, as validation errors list theirs."))),
    errors.AccountBlocked: _error_model(
        errors.AccountBlocked, {"detail": "After repeated content-policy refusals this account cannot start new "
                                          "generations until 2026-11-25T09:30:00Z; reads still work (to appeal, "
                                          "contact support).", "blocked_until": "2026-11-25T09:30:00Z",
                                "reason": "content_policy"},
        blocked_until=(datetime | None, Field(description="When creates are allowed again; null for an "
                                                          "operator's block, which lasts until it is lifted.")),
        reason=(Literal["admin", "content_policy"], Field(description="Why: blocked by an operator (`admin`), "
                                                                      "or paused after repeated refusals."))),
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
               user: bool = True, media_type: str | None = None, example: str | None = None,
               binary: bool = False) -> dict[str, Any]:
    """`add_api_route` keyword arguments documenting a route: its answer `model` at `status`, and each
    error it can answer (the statuses, the codes, an example each). `user`: the route needs a token.
    A text answer (not JSON): `model` is its one-sentence description, `media_type` its type, `example` one."""
    extra: dict[str, Any] = {}
    if isinstance(model, str):
        schema = {"type": "string", "format": "binary"} if binary else {"type": "string"}  # binary: a byte stream
        success = {"description": model, "content": {media_type: {"schema": schema, "example": example}}}
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


def signed_body(what: str, headers: dict[str, str], example: dict[str, Any]) -> dict[str, Any]:
    """`add_api_route` keyword arguments documenting a webhook's raw JSON body (with an `example` of
    it) and its signature headers (the handler reads the raw body itself, so FastAPI cannot see either)."""
    return {"openapi_extra": {
        "requestBody": {"required": True, "description": what,
                        "content": {"application/json": {"schema": {"type": "object"}, "example": example}}},
        "parameters": [{"name": name, "in": "header", "required": True, "description": text,
                        "schema": {"type": "string"}} for name, text in headers.items()],
    }}


# --- the document as generators read it -----------------------------------------------------------------

ERROR_CODES = sorted({cls.code for cls in ERROR_MODELS})
FORM_NAMES = {"Body_image_to_video_image_to_video_post": "ImageToVideoForm"}
FORM_EXAMPLES = {"ImageToVideoForm": {"image": "(a PNG, JPEG or WebP file)", "prompt": "the fox turns its head",
                                      "model": "i2v-14B", "resolution": "480p"}}
# A prediction as Replicate POSTs it (https://replicate.com/docs/reference/http#predictions.get: the
# same object as GET /v1/predictions/{id}).
PREDICTION_EXAMPLE = {
    "id": "ufawqhfynnddngldkgtslldrkq", "model": "wavespeedai/wan-2.1-t2v-480p", "version": "hidden",
    "input": {"prompt": "a red fox running through fresh snow", "aspect_ratio": "16:9"},
    "logs": "100%|##########| 30/30", "output": "https://replicate.delivery/xezq/abc/output.mp4", "error": None,
    "status": "succeeded", "created_at": "2026-11-24T09:30:05.412Z", "started_at": "2026-11-24T09:30:05.9Z",
    "completed_at": "2026-11-24T09:30:10.8Z", "urls": {"get": "https://api.replicate.com/v1/predictions/"
                                                              "ufawqhfynnddngldkgtslldrkq"},
    "metrics": {"predict_time": 4.9}}
# A Stripe event (https://docs.stripe.com/api/events/object) of a paid Checkout Session.
STRIPE_EVENT_EXAMPLE = {
    "id": "evt_1QbUq2LkdIwHu7ix", "object": "event", "type": "checkout.session.completed", "livemode": False,
    "created": 1795000000, "api_version": "2025-10-29.clover",
    "data": {"object": {"id": "cs_test_a1b2c3", "object": "checkout.session", "mode": "payment",
                        "payment_status": "paid", "status": "complete", "amount_total": 500, "currency": "usd",
                        "client_reference_id": "7a1c2e34-0b5d-4f6a-8e9f-112233445566",
                        "metadata": {"pack_id": "credits-100"}, "payment_intent": "pi_3QbUq2LkdIwHu7ix"}}}


def refine(doc: dict[str, Any]) -> dict[str, Any]:
    """What FastAPI's document needs before a client generator can use it (openapi-typescript,
    datamodel-code-generator; both run on it in tests/test_sdks.py):
    - the multipart body gets a name (`ImageToVideoForm`), its files `format: binary`;
    - an `enum`/`pattern` that FastAPI puts beside `anyOf: [string, null]` moves into the string
      branch (beside it, generators read it as an enum of unknown type);
    - each example keeps its nulls (FastAPI drops them; see _EXAMPLES);
    - one `Error` schema (`code` an enum of every code) that each error model references with `allOf`,
      so a client has one error type; the per-code models still pin their own `code`.
    Every app serves its document through this (shared/app.py), so the checked-in file and each
    function's /openapi.json agree."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for old, new in FORM_NAMES.items():
        if old in schemas:
            schemas[new] = schemas.pop(old) | {"title": new}
    text = json.dumps(doc)
    for old, new in FORM_NAMES.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    doc = json.loads(text)
    _with_nulls(doc)
    schemas = doc["components"]["schemas"]
    for name in FORM_NAMES.values():
        if name in schemas:
            schemas[name]["examples"] = [FORM_EXAMPLES[name]]
        for prop in schemas.get(name, {}).get("properties", {}).values():
            if prop.get("contentMediaType") == "application/octet-stream":
                prop["format"] = "binary"
    for schema in schemas.values():
        for prop in schema.get("properties", {}).values():
            branches = [b for b in prop.get("anyOf", []) if b.get("type") == "string"]
            for key in ("enum", "pattern"):
                if key in prop and len(branches) == 1:
                    branches[0][key] = prop.pop(key)
    if ERROR_MODELS[errors.ApiError].__name__ in schemas:
        schemas["ErrorCode"] = {"type": "string", "enum": ERROR_CODES, "title": "ErrorCode",
                                "description": "Every machine code an error answer can carry."}
        schemas["Error"] = {
            "type": "object", "title": "Error", "required": ["detail", "code"],
            "description": "Every error answer: one sentence for a person, a machine code, and the "
                           "code's own extra fields (`errors` on 422, `required` and `balance` on 402).",
            "properties": {"detail": {"type": "string", "description": "One sentence for a person; show it as is."},
                           "code": {"$ref": "#/components/schemas/ErrorCode"}}}
        for model in ERROR_MODELS.values():
            if model.__name__ in schemas:
                schemas[model.__name__]["allOf"] = [{"$ref": "#/components/schemas/Error"}]
    return doc
# --- the operator's console (/admin/, CONTRACT §5) ----------------------------------------------------

# The examples' figures: one user, one admin, one busy day (they add up as the real answers do).
USER_ID = "7a1c2e34-0b5d-4f6a-8e9f-112233445566"
_ADMIN_ID = "5e2b9d71-3c4f-4a8e-b6d0-9f1e2a3b4c5d"
_ADMIN_EMAIL = "ops@example.com"
_REPLICATE_ID = "qmxb7r3f1hrm80ckwq5s6v2n4c"
_LATER = "2026-11-24T09:42:17.554102Z"
_EXAMPLE_HOURS = [2, 1, 1, 0, 0, 1, 2, 3, 5, 8, 9, 10, 9, 8, 7, 8, 9, 10, 9, 7, 5, 3, 2, 1]  # 120 generations
_EXAMPLE_MODELS = [  # (model, resolution, kind, generations, succeeded, failed, canceled); one i2v in flight
    ("i2v-14B", "480p", "image-to-video", 20, 18, 1, 0),
    ("t2v-14B", "480p", "text-to-video", 80, 75, 3, 2),
    ("t2v-14B", "720p", "text-to-video", 20, 19, 1, 0),
]
_EXAMPLE_COMPLETION = [0, 18, 71, 17, 5, 1, 0, 0, 0]  # the 112 successes by seconds to finish (0-30, 30-60, ...)

class _Loose(BaseModel):
    # Rows built by SQL shared with other screens (e.g. 0009's _generation_json): the fields named here
    # are always present; others the database adds later may appear too.
    model_config = ConfigDict(extra="allow")


class SeedMetric(_Out):
    """One of the seed's four metrics: its value (null: nothing to measure), target, and whether met."""

    value: float | None
    target: float
    met: bool | None


class FailureReason(_Out):
    """A failure reason: its machine code, how many failed so, and one of their messages."""

    error_code: str
    count: int
    example: str | None


class AdminStats(_Out):
    """The overview: the same document as `wan-api stats --json`."""

    model_config = _example({"since": EXAMPLE_TIME, "metrics": {"success_rate": {"value": 0.97, "target": 0.95, "met": True}},
                             "generations": 120, "ledger_discrepancies": 0, "top_failures": [], "in_flight": 3})
    since: datetime
    metrics: dict[str, SeedMetric] = Field(description="success_rate, avg_completion_seconds, "
                                           "webhook_delivery_rate, credit_accuracy.")
    generations: int
    ledger_discrepancies: int
    top_failures: list[FailureReason]
    in_flight: int = Field(description="Generations queued or processing now.")


class AnalyticsDay(_Out):
    """One UTC day: generations by the day they were created, money by the day its ledger row was written."""

    date: str = Field(description="YYYY-MM-DD, UTC.")
    generations: int
    succeeded: int
    failed: int
    canceled: int
    in_flight: int
    credits_spent: int = Field(description="Gross deductions (a generation counts at once).")
    credits_refunded: int = Field(description="Refunds of failed/canceled generations and goodwill refunds.")
    credits_sold: int
    credits_reversed: int = Field(description="Taken back by Stripe refunds and disputes, net of disputes won.")
    credits_adjusted: int = Field(description="Admin grants minus deductions.")
    revenue: dict[str, int] = Field(description="Paid for the credits sold, by currency, in minor units.")
    completion_seconds_sum: float
    rolled_up: bool = Field(description="Read from the sweep's daily rollup (false: computed live).")


class ModelUsage(_Out):
    model: str
    resolution: str
    kind: str
    generations: int
    succeeded: int
    failed: int
    canceled: int


class CompletionBin(_Out):
    from_seconds: int
    to_seconds: int | None
    count: int


class BusyHour(_Out):
    hour: int = Field(ge=0, le=23, description="UTC hour of creation.")
    generations: int


def _analytics_example() -> dict:
    models = [dict(zip(("model", "resolution", "kind", "generations", "succeeded", "failed", "canceled"), m))
              for m in _EXAMPLE_MODELS]
    total = {k: sum(m[k] for m in models) for k in ("generations", "succeeded", "failed", "canceled")}
    cost = {m["model"] + m["resolution"]: costs.DEFAULT.credits(m["model"], m["resolution"]) for m in models}
    spent = sum(m["generations"] * cost[m["model"] + m["resolution"]] for m in models)
    refunded = sum((m["failed"] + m["canceled"]) * cost[m["model"] + m["resolution"]] for m in models)
    sold = [packs.PACKS[0]] * 7 + [packs.PACKS[1]]  # seven of the smallest pack, one of the next
    bins = (0, 30, 60, 120, 180, 300, 600, 1200, 2700)  # shared/admin.py's COMPLETION_BINS
    day = {"date": EXAMPLE_TIME[:10], **total, "in_flight": total["generations"] - sum(
        total[k] for k in ("succeeded", "failed", "canceled")), "credits_spent": spent, "credits_refunded": refunded,
        "credits_sold": sum(p.credits for p in sold), "credits_reversed": 0, "credits_adjusted": 50,
        "revenue": {sold[0].currency: sum(p.amount for p in sold)}, "completion_seconds_sum": 10640.5,
        "rolled_up": False}
    return {"days": [day], "models": models,
            "failure_reasons": [{"error_code": "provider_failed", "count": 3,
                                 "example": "CUDA out of memory. Tried to allocate 2.00 GiB"},
                                {"error_code": "timeout", "count": 2,
                                 "example": "The generation took too long and was stopped; your credits were refunded."}],
            "completion": [{"from_seconds": lo, "to_seconds": hi, "count": n}
                           for lo, hi, n in zip(bins, (*bins[1:], None), _EXAMPLE_COMPLETION)],
            "busiest_hours": sorted(({"hour": h, "generations": n} for h, n in enumerate(_EXAMPLE_HOURS)),
                                    key=lambda x: (-x["generations"], x["hour"]))[:5],
            "hours": _EXAMPLE_HOURS}


class Analytics(_Out):
    """Generation patterns over the last `days` UTC days (today included, live)."""

    model_config = _example(_analytics_example())

    days: list[AnalyticsDay]
    models: list[ModelUsage]
    failure_reasons: list[FailureReason]
    completion: list[CompletionBin] = Field(description="Succeeded generations by seconds from create to finish.")
    busiest_hours: list[BusyHour]
    hours: list[int] = Field(description="Generations per UTC hour of the day, 0-23, over the window.")


class AdminUserSummary(_Out):
    user_id: uuid.UUID
    email: str | None
    balance: int
    blocked: bool
    created_at: datetime


_USER_SUMMARY = {"user_id": USER_ID, "email": "me@example.com", "balance": 200 - _EXAMPLE_COST, "blocked": False,
                 "created_at": "2026-11-20T14:02:41.870233Z"}


class AdminUserList(_Out):
    """Users whose id is the query, or whose email starts with it (the newest when empty)."""

    model_config = _example({"items": [_USER_SUMMARY]})

    items: list[AdminUserSummary]


class AdminLedgerRow(_Out):
    id: int
    amount: int
    type: TransactionType
    generation_id: uuid.UUID | None
    description: str | None
    balance_after: int
    actor: str | None = Field(description="Who made it by hand (an admin or operator); null for the service's rows.")
    created_at: datetime


class AdminGenerationItem(_Loose):
    generation_id: uuid.UUID
    status: str
    model: str
    resolution: str
    cost: int
    refunded: bool
    created_at: datetime


class AdminReversal(_Out):
    id: int
    amount: int
    description: str | None
    created_at: datetime


class AdminPurchase(_Out):
    session_id: str
    status: str
    pack_id: str
    credits: int
    amount: int
    currency: str
    unrecovered_credits: int
    created_at: datetime
    credited_at: datetime | None
    reversals: list[AdminReversal]


class RateCounter(_Out):
    bucket: str
    window_start: datetime
    hits: int


# admin_user's generations are the whole row (0009's _generation_json), so some of its fields are shown.
_ADMIN_GENERATION = {k: _GENERATION[k] for k in ("generation_id", "kind", "model", "resolution", "prompt", "status",
                                                  "progress", "error", "error_code", "cost", "refunded", "retry_of",
                                                  "expired", "created_at", "updated_at", "completed_at")} | {
    "user_id": USER_ID, "replicate_id": _REPLICATE_ID, "settled_by": "webhook", "video_lost": False, "deleted": False}


class AdminUserDetail(_Out):
    """One user: balance, block, ledger, generations, purchases, API keys (never secrets), rate counters."""

    model_config = _example(_USER_SUMMARY | {
        "blocked_at": None, "blocked_reason": None, "active_generations": 0,
        "transactions": [  # newest first: the bonus, a pack, one 480p video
            {"id": 3, "amount": -_EXAMPLE_COST, "type": "deduction", "generation_id": GEN_ID,
             "description": "t2v-14B 480p", "balance_after": 200 - _EXAMPLE_COST, "actor": None,
             "created_at": EXAMPLE_TIME},
            {"id": 2, "amount": packs.PACKS[0].credits, "type": "purchase", "generation_id": None,
             "description": f"{packs.PACKS[0].credits} credits ({packs.PACKS[0].pack_id})", "balance_after": 200,
             "actor": None, "created_at": "2026-11-20T14:05:12.402918Z"},
            {"id": 1, "amount": 100, "type": "signup_bonus", "generation_id": None, "description": "Welcome bonus",
             "balance_after": 100, "actor": None, "created_at": "2026-11-20T14:02:41.870233Z"}],
        "generations": [_ADMIN_GENERATION],
        "purchases": [{"session_id": "cs_test_a1B2c3D4", "status": "credited", "pack_id": packs.PACKS[0].pack_id,
                       "credits": packs.PACKS[0].credits, "amount": packs.PACKS[0].amount,
                       "currency": packs.PACKS[0].currency, "unrecovered_credits": 0,
                       "created_at": "2026-11-20T14:04:30.771025Z", "credited_at": "2026-11-20T14:05:12.402918Z",
                       "reversals": []}],
        "api_keys": [_KEY_EXAMPLE],
        "rate_limits": [{"bucket": "create", "window_start": "2026-11-24T09:30:00Z", "hits": 1},
                        {"bucket": "request", "window_start": "2026-11-24T09:30:00Z", "hits": 4}]})

    user_id: uuid.UUID
    email: str | None
    balance: int
    blocked: bool
    blocked_at: datetime | None
    blocked_reason: str | None
    active_generations: int
    created_at: datetime
    transactions: list[AdminLedgerRow]
    generations: list[AdminGenerationItem]
    purchases: list[AdminPurchase]
    api_keys: list[ApiKey]
    rate_limits: list[RateCounter]


class AdminAdjustment(_Out):
    """The `adjustment` ledger row written."""

    model_config = _example({"id": 4, "user_id": USER_ID, "amount": 50, "balance_after": 250 - _EXAMPLE_COST,
                             "description": "video lost in an outage", "actor": _ADMIN_EMAIL})

    id: int
    user_id: uuid.UUID
    amount: int
    balance_after: int
    description: str
    actor: str


class GoodwillRefund(AdminAdjustment):
    """The goodwill refund's `adjustment` row, tied to its generation."""

    model_config = _example({"id": 5, "user_id": USER_ID, "generation_id": GEN_ID, "amount": _EXAMPLE_COST,
                             "balance_after": 250, "description": "goodwill refund (video lost): the video expired "
                             "at Replicate before our copy", "actor": _ADMIN_EMAIL})

    generation_id: uuid.UUID


class BlockState(_Out):
    """The user's block after the action (an unblock answers blocked false, with nulls)."""

    model_config = _example({"user_id": USER_ID, "blocked": True, "blocked_at": _LATER,
                             "blocked_reason": "chargeback fraud"})
    user_id: uuid.UUID
    blocked: bool
    blocked_at: datetime | None
    blocked_reason: str | None


class AdminGenerationRow(_Out):
    generation_id: uuid.UUID
    user_id: uuid.UUID
    email: str | None
    status: str
    model: str
    resolution: str
    replicate_id: str | None
    error: str | None
    error_code: str | None
    settled_by: str | None
    cost: int
    refunded: bool
    created_at: datetime
    last_event_at: datetime | None
    completed_at: datetime | None


class AdminGenerationList(_Out):
    """Stuck generations, oldest first, or the newest failures."""

    model_config = _example({"items": [{
        "generation_id": GEN_ID, "user_id": USER_ID, "email": "me@example.com", "status": "processing",
        "model": "t2v-14B", "resolution": "480p", "replicate_id": _REPLICATE_ID, "error": None, "error_code": None,
        "settled_by": None, "cost": _EXAMPLE_COST, "refunded": False, "created_at": EXAMPLE_TIME,
        "last_event_at": "2026-11-24T09:30:09.871634Z", "completed_at": None}]})
    items: list[AdminGenerationRow]


class SettleResult(_Out):
    """What asking Replicate changed (the sweep's counts for this one generation)."""

    model_config = _example({"generation_id": GEN_ID, "status": "succeeded", "terminal": True, "refunded": False,
                             "outcome": {"checked": 1, "settled_succeeded": 1, "refunded": 0}})

    generation_id: uuid.UUID
    status: str
    terminal: bool
    refunded: bool
    outcome: dict[str, int]


class AuditRow(_Out):
    """One admin action: who, what, whom, amount, reason, when."""

    id: int
    at: datetime
    actor: str
    actor_id: uuid.UUID | None
    action: Literal["credits.adjust", "generation.refund", "user.block", "user.unblock", "admin.grant",
                    "admin.revoke", "generation.settle"]
    user_id: uuid.UUID | None
    generation_id: uuid.UUID | None
    amount: int | None
    reason: str | None
    detail: dict[str, Any]


_AUDIT_ROW = {"id": 17, "at": _LATER, "actor": _ADMIN_EMAIL, "actor_id": _ADMIN_ID, "action": "credits.adjust",
              "user_id": USER_ID, "generation_id": None, "amount": 50, "reason": "video lost in an outage",
              "detail": {"ledger_id": 4, "balance_after": 250 - _EXAMPLE_COST}}


class AuditPage(_Out):
    """Newest first; pass next_cursor back as `before` for the next page."""

    model_config = _example({"items": [_AUDIT_ROW], "next_cursor": None})

    items: list[AuditRow]
    next_cursor: int | None
