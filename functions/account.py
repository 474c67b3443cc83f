"""The account web function: /credits, /generations, /pricing, /cancel, /retry, /checkout, the user's
delete, /health, and the operator's /metrics."""

from __future__ import annotations

import asyncio
import hmac
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from functions import admin as admin_routes
from functions import editing
from functions import library as library_routes
from shared import (api_keys, catalog, costs, deliveries, errors, generations, library, metrics, packs,
                    purchases, push, retention)
from shared.api_models import (GEN_ID, DeliveryList, Delivery, WebhookSecret, GenerationKind, GenerationStatus,
                               ApiKeyCreated, ApiKeyList, ApiKey,
                               CheckoutSession, CheckoutStatus, Credits, Deleted, DeleteResult, Generation,
                               GenerationPage, Health, Pricing, RetryAccepted, documented)
from shared.app import CurrentUser, IdempotencyKey, SessionUser, Svc, counted_in_its_transaction, note

_NO_GENERATION = uuid.UUID(int=0)
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus' text exposition format
METRICS_EXAMPLE = ("# HELP wan_generations Generations created (all time), by their current status.\n"
                   "# TYPE wan_generations gauge\nwan_generations{status=\"succeeded\"} 1042\n")


class GenerationRef(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"generation_id": GEN_ID}]})

    generation_id: uuid.UUID


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"pack_id": packs.PACKS[0].pack_id}]})

    pack_id: str = Field(json_schema_extra={"enum": [p.pack_id for p in packs.PACKS]})

    @field_validator("pack_id")
    @classmethod
    def _on_sale(cls, value: str) -> str:
        if packs.pack(value) is None:
            raise ValueError(f"must be one of {', '.join(p.pack_id for p in packs.PACKS)}")
        return value


class NewApiKey(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "my render server"}]})

    name: str = Field(max_length=100)

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if "\x00" in value:  # Postgres text cannot hold it: a 422 here, not a 5xx in the database
            raise ValueError("must not contain a NUL character (U+0000)")
        return value.strip()


class GenerationRefs(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"generation_ids": [GEN_ID]}]})

    generation_ids: list[uuid.UUID] = Field(min_length=1, max_length=100)


def get_credits(svc: Svc, user: CurrentUser) -> dict:
    """The caller's balance and ledger, newest first."""
    return generations.credits(svc, user)


def list_generations(svc: Svc, user: CurrentUser,
                     limit: Annotated[int, Query(ge=1, le=100)] = 20,
                     before: Annotated[str | None, Query(max_length=200)] = None,
                     favorite: Annotated[bool | None, Query(description="Only favorites (true) or the others.")] = None,
                     status: GenerationStatus | None = None, kind: GenerationKind | None = None,
                     q: Annotated[str | None, Query(max_length=200, description="Words of the prompt, all of them, "
                                                    "case-insensitive.")] = None) -> dict:
    """The caller's generations, newest first, filtered by any of favorite, status, kind and q; pass
    next_cursor back as `before` for the next page of the same filters."""
    return generations.history(svc, user, limit, before, library.filters(
        favorite=favorite, status=status and status.value, kind=kind and kind.value, q=q))


def cancel(body: GenerationRef, request: Request, svc: Svc, user: CurrentUser) -> dict:
    """Stop an unfinished generation and refund it; 409 if it already ended."""
    note(request, generation_id=body.generation_id)
    return generations.cancel(svc, user, body.generation_id)


@counted_in_its_transaction("create")
def retry(body: GenerationRef, request: Request, svc: Svc, user: CurrentUser,
          idempotency_key: IdempotencyKey = None) -> dict:
    """Start a new generation with a failed or canceled one's inputs (charged as new)."""
    answer = generations.retry(svc, user, body.generation_id, idempotency_key=idempotency_key)
    note(request, generation_id=answer["generation_id"], retry_of=body.generation_id)
    return answer


def delete_generation(generation_id: uuid.UUID, request: Request, svc: Svc, user: CurrentUser) -> dict:
    """Delete one finished generation and its files (the ledger keeps its rows); 409 if unfinished."""
    note(request, generation_id=generation_id)
    return retention.delete_one(svc, user, generation_id)


def delete_generations(body: GenerationRefs, svc: Svc, user: CurrentUser) -> dict:
    """Delete up to 100 finished generations; answers which were deleted and why the others were not."""
    return retention.delete(svc, user, body.generation_ids)


def create_api_key(body: NewApiKey, svc: Svc, user: SessionUser) -> dict:
    """A new personal API key; `key` is shown this once (only a hash of it is kept). Needs a session."""
    return api_keys.create(svc, user, body.name)


def list_api_keys(svc: Svc, user: SessionUser) -> dict:
    """The caller's API keys (name, prefix, last characters, dates, status), never their secrets."""
    return api_keys.listed(svc, user)


def revoke_api_key(key_id: uuid.UUID, request: Request, svc: Svc, user: SessionUser) -> dict:
    """Revoke one of the caller's API keys (it stops working within API_KEY_CACHE_SECONDS)."""
    note(request, api_key_id=key_id)
    return api_keys.revoke(svc, user, key_id)


def webhook_secret(svc: Svc, user: CurrentUser) -> dict:
    """The caller's webhook signing secret (made on first use); only its owner sees it."""
    return push.secret(svc, user)


def rotate_webhook_secret(svc: Svc, user: CurrentUser) -> dict:
    """A new signing secret; deliveries carry a signature with the old one too for 24 hours."""
    return push.rotate(svc, user)


def list_deliveries(generation_id: uuid.UUID, request: Request, svc: Svc, user: CurrentUser) -> dict:
    """The webhook deliveries of one of the caller's generations, in the order they were written."""
    note(request, generation_id=generation_id)
    return deliveries.listed(svc, user, generation_id)


def retry_delivery(generation_id: uuid.UUID, event_id: Annotated[str, Path(max_length=64, pattern=r"^msg_[0-9a-f]+$")],
                   request: Request, svc: Svc, user: CurrentUser) -> dict:
    """Send one delivery again now, with the same webhook-id."""
    note(request, generation_id=generation_id, event_id=event_id)
    return deliveries.retry(svc, user, generation_id, event_id)


# METRICS_TOKEN as an OpenAPI security scheme (documentation only: the handler checks the header itself).
_metrics_bearer = HTTPBearer(scheme_name="metricsToken", auto_error=False,
                             description="METRICS_TOKEN, the operator's token for GET /metrics.")


def get_metrics(svc: Svc, request: Request, _: Annotated[object, Depends(_metrics_bearer)]) -> PlainTextResponse:
    """Prometheus metrics for the operator, behind METRICS_TOKEN (404 while it is not set)."""
    authorization = request.headers.get("authorization")
    token = svc.settings.metrics_token
    if not token:
        raise errors.NotFound("There is nothing at this path.")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise errors.Unauthorized("A valid metrics token is required.")
    return PlainTextResponse(metrics.prometheus(metrics.collect_for_scrape(svc)), media_type=METRICS_TYPE)


def get_pricing(svc: Svc) -> dict:
    """Every model with its kind, resolutions and the credits each costs, and the credit packs on
    sale. No sign-in needed."""
    return {**catalog.pricing(costs.of(svc.settings).of), "packs": packs.packs_out()}


async def checkout(body: CheckoutRequest, request: Request, svc: Svc, user: CurrentUser,
                   idempotency_key: IdempotencyKey = None) -> dict:
    """Start buying a pack: a Stripe Checkout Session; the browser goes to checkout_url."""
    answer = await run_in_threadpool(purchases.create_checkout, svc, user, body.pack_id, idempotency_key)
    note(request, session_id=answer["session_id"], pack_id=body.pack_id)
    return answer


def checkout_status(request: Request, svc: Svc, user: CurrentUser,
                    session_id: Annotated[str, Query(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_]+$")]) -> dict:
    """One of the caller's purchases (the success page's call: it credits a paid session too)."""
    note(request, session_id=session_id)
    return purchases.checkout_status(svc, user, session_id)


HEALTH_SECONDS = 2.5  # an uptime monitor gets its answer within 3 s, whatever the database does


async def health(svc: Svc) -> dict:
    """For uptime monitors: 200 when the database answers, else 503 (within 3 s). Says nothing about
    settings."""
    try:  # one primary-key probe, through whichever path (direct or Supabase) the service uses
        await asyncio.wait_for(run_in_threadpool(svc.backend.call, "generation_by_id", p_gen_id=_NO_GENERATION),
                               HEALTH_SECONDS)  # the probe's own bounds (DB_*_SECONDS) end its thread
    except (errors.ApiError, TimeoutError):  # the backend has logged why; the answer names nothing internal
        raise errors.ServiceUnavailable("The database is not answering.") from None
    return {"status": "ok", "database": "ok"}


def router() -> APIRouter:
    r = APIRouter()
    # Each route's answer model and errors (shared/api_models.py); docs/openapi.json is made from these.
    unavailable, invalid, too_large = errors.ServiceUnavailable, errors.InvalidRequest, errors.PayloadTooLarge
    r.add_api_route("/credits", get_credits, methods=["GET"], **documented(Credits, unavailable))
    r.add_api_route("/generations", list_generations, methods=["GET"],
                    **documented(GenerationPage, invalid, unavailable))
    r.add_api_route("/cancel", cancel, methods=["POST"], **documented(
        Generation, errors.NotFound, errors.InvalidState, too_large, invalid, unavailable))
    r.add_api_route("/retry", retry, methods=["POST"], **documented(
        RetryAccepted, errors.InsufficientCredits, errors.NotFound, errors.InvalidState,
        errors.IdempotencyKeyReused, too_large, invalid, errors.ContentPolicy, errors.AccountBlocked,
        errors.TooManyActiveGenerations,
        errors.ProviderUnavailable, unavailable, status=202))
    r.add_api_route("/pricing", get_pricing, methods=["GET"], **documented(Pricing, user=False))
    r.add_api_route("/checkout", checkout, methods=["POST"], **documented(
        CheckoutSession, errors.AccountBlocked, errors.NotFound, errors.IdempotencyKeyReused, too_large, invalid,
        unavailable, status=201))
    r.add_api_route("/checkout/status", checkout_status, methods=["GET"], **documented(
        CheckoutStatus, errors.NotFound, invalid, unavailable))
    r.add_api_route("/health", health, methods=["GET"], **documented(Health, unavailable, user=False))
    r.add_api_route("/generations/delete", delete_generations, methods=["POST"], **documented(
        DeleteResult, too_large, invalid, unavailable))
    r.add_api_route("/generations/{generation_id}", delete_generation, methods=["DELETE"], **documented(
        Deleted, errors.NotFound, errors.InvalidState, invalid, unavailable))
    r.add_api_route("/metrics", get_metrics, methods=["GET"], **documented(
        "Prometheus metrics (text exposition format 0.0.4).", errors.Unauthorized, errors.NotFound, unavailable,
        user=False, media_type=METRICS_TYPE, example=METRICS_EXAMPLE))
    # API keys: managed with a Supabase session only (a key calling these is 403 forbidden).
    r.add_api_route("/api-keys", create_api_key, methods=["POST"], **documented(
        ApiKeyCreated, errors.Forbidden, errors.InvalidState, too_large, invalid, unavailable, status=201))
    r.add_api_route("/api-keys", list_api_keys, methods=["GET"], **documented(ApiKeyList, errors.Forbidden, unavailable))
    r.add_api_route("/api-keys/{key_id}", revoke_api_key, methods=["DELETE"], **documented(
        ApiKey, errors.Forbidden, errors.NotFound, invalid, unavailable))
    # Webhooks to the caller's URL (contract section 3).
    r.add_api_route("/webhooks/secret", webhook_secret, methods=["GET"], **documented(WebhookSecret, unavailable))
    r.add_api_route("/webhooks/secret/rotate", rotate_webhook_secret, methods=["POST"],
                    **documented(WebhookSecret, too_large, unavailable))
    r.add_api_route("/generations/{generation_id}/deliveries", list_deliveries, methods=["GET"],
                    **documented(DeliveryList, errors.NotFound, invalid, unavailable))
    r.add_api_route("/generations/{generation_id}/deliveries/{event_id}/retry", retry_delivery, methods=["POST"],
                    **documented(Delivery, errors.NotFound, too_large, invalid, unavailable))
    admin_routes.add_routes(r)  # the operator's console, /admin/ (functions/admin.py)
    # The library (favorites, share links and their public pages, the bulk download): functions/library.py.
    # Its routes themselves, not include_router (whose wrapper the request guard would not see).
    r.routes.extend(library_routes.router().routes)
    r.routes.extend(editing.router().routes)  # POST /generations/{id}/extend (functions/editing.py)
    return r
