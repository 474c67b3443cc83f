"""The operator's console under /admin/ (CONTRACT §5), served by the `account` web function: the page
itself (no token: it holds no secret) and JSON endpoints that answer 401 without a token and 403
`forbidden` to anyone but an admin (shared/app.py's AdminUser: app_metadata.role == "admin", never an
API key). Every action goes through shared/admin.py, which the `wan-api` CLI uses too."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from shared import admin, errors
from shared.api_models import (AdminAdjustment, AdminGenerationList, AdminStats, AdminUserDetail, AdminUserList,
                               Analytics, AuditPage, BlockState, GoodwillRefund, SettleResult, documented)
from shared.app import AdminUser, Svc, note

# The console's files (plain HTML and ES modules, no build step), beside the reference web client.
WEB_DIR = Path(__file__).resolve().parents[1] / "wan_local" / "web"
PAGE_FILES = {"admin.js": "text/javascript", "admin.css": "text/css", "charts.js": "text/javascript", "style.css": "text/css"}
MAX_REASON = 500
MAX_ADJUSTMENT = 1_000_000
# GET /admin/audit.csv's documented example: GET /admin/audit's example, exported as the route does.
AUDIT_CSV_EXAMPLE = admin.audit_csv(AuditPage.model_config["json_schema_extra"]["examples"][0]["items"])


def _reason(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if "\x00" in value:  # Postgres text cannot hold it: a 422 here, not a 5xx in the database
        raise ValueError("must not contain a NUL character (U+0000)")
    return value


class CreditsAdjustment(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"amount": 50, "reason": "video lost in an outage"}]})

    amount: int = Field(ge=-MAX_ADJUSTMENT, le=MAX_ADJUSTMENT, description="Signed: > 0 grants, < 0 deducts; never 0.")
    reason: str = Field(max_length=MAX_REASON)

    @field_validator("amount")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be zero")
        return value

    @field_validator("reason")
    @classmethod
    def _reason_given(cls, value: str) -> str:
        return _reason(value)


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "chargeback fraud"}]})

    reason: str = Field(max_length=MAX_REASON)

    @field_validator("reason")
    @classmethod
    def _reason_given(cls, value: str) -> str:
        return _reason(value)


_UNBLOCK_EXAMPLE = {"reason": "chargeback withdrawn"}


class OptionalReason(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_UNBLOCK_EXAMPLE]})

    reason: str | None = Field(default=None, max_length=MAX_REASON)


Since = Annotated[str, Query(pattern=r"^\s*[1-9]\d{0,4}\s*[mhdwMHDW]\s*$", description="30m, 24h, 7d, 2w")]


def get_stats(svc: Svc, _: AdminUser, since: Since = "24h") -> dict:
    """The seed's four metrics against their targets, in-flight generations and ledger discrepancies
    (the same document as `wan-api stats --json`), at most 30 s old."""
    return admin.cached_stats(svc.backend, since)  # at most STATS_CACHE_SECONDS old


def get_analytics(svc: Svc, _: AdminUser, days: Annotated[int, Query(ge=1, le=366)] = 30) -> dict:
    """Per UTC day: generations by status, credits spent/refunded/sold, revenue; models, failure
    reasons, completion times and busiest hours over the window."""
    return admin.analytics(svc.backend, days)


def list_users(svc: Svc, _: AdminUser, q: Annotated[str, Query(max_length=320)] = "") -> dict:
    """Users by id, or by the start of their email (case-insensitive); the newest when q is empty."""
    return admin.users(svc.backend, q)


def get_user(user_id: uuid.UUID, svc: Svc, _: AdminUser) -> dict:
    """One user in full: balance, block, ledger, generations, purchases, API keys, rate counters."""
    return admin.user(svc.backend, user_id)


def adjust_credits(user_id: uuid.UUID, body: CreditsAdjustment, request: Request, svc: Svc, who: AdminUser) -> dict:
    """Grant (amount > 0) or deduct (< 0) credits with a reason: one `adjustment` ledger row; a
    deduction below zero is 409 and writes nothing."""
    note(request, target_user=user_id, amount=body.amount)
    return admin.adjust_credits(svc.backend, who, user_id, body.amount, body.reason)


def block_user(user_id: uuid.UUID, body: Reason, request: Request, svc: Svc, who: AdminUser) -> dict:
    """Block a user: their creates, retries and checkouts answer 403 account_blocked; reads still work
    and generations in flight finish as usual."""
    note(request, target_user=user_id)
    return admin.block(svc.backend, who, user_id, body.reason)


def unblock_user(user_id: uuid.UUID, request: Request, svc: Svc, who: AdminUser,
                 body: Annotated[OptionalReason | None, Body(examples=[_UNBLOCK_EXAMPLE])] = None) -> dict:
    """Lift a user's block."""
    note(request, target_user=user_id)
    return admin.unblock(svc.backend, who, user_id, body.reason if body else None)


def refund_generation(generation_id: uuid.UUID, body: Reason, request: Request, svc: Svc, who: AdminUser) -> dict:
    """The goodwill refund of a succeeded generation whose video was lost (`wan-api refund`): once."""
    note(request, generation_id=generation_id)
    return admin.goodwill_refund(svc.backend, who, generation_id, body.reason)


def list_generations(svc: Svc, _: AdminUser, list: Literal["stuck", "failing"] = "stuck",  # noqa: A002
                     limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict:
    """Stuck generations (no news from Replicate for STUCK_AFTER_SECONDS) or the newest failures."""
    return admin.generation_list(svc.backend, list, svc.settings.stuck_after_seconds, limit)


async def settle_generation(generation_id: uuid.UUID, request: Request, svc: Svc, who: AdminUser) -> dict:
    """Ask Replicate about one unfinished generation now and apply its answer, as the sweep would."""
    note(request, generation_id=generation_id)
    return await run_in_threadpool(admin.settle_now, svc, who, generation_id)


def get_audit(svc: Svc, _: AdminUser, limit: Annotated[int, Query(ge=1, le=500)] = 100,
              before: Annotated[int | None, Query(ge=1)] = None, user_id: uuid.UUID | None = None) -> dict:
    """Every admin action, newest first: who, what, whom, amount, reason, when. Append-only."""
    return admin.audit(svc.backend, limit, before, user_id)


def get_audit_csv(svc: Svc, _: AdminUser, user_id: uuid.UUID | None = None) -> Response:
    """The audit as CSV (RFC 4180), newest first, at most 10,000 rows."""
    items = admin.audit(svc.backend, 10_000, None, user_id)["items"]
    return Response(admin.audit_csv(items), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="admin-audit.csv"'})


def console_page() -> FileResponse:
    return FileResponse(WEB_DIR / "admin.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


def console_file(name: str) -> FileResponse:
    if name not in PAGE_FILES:
        raise errors.NotFound("There is nothing at this path.")
    return FileResponse(WEB_DIR / name, media_type=PAGE_FILES[name], headers={"Cache-Control": "no-cache"})


def console_redirect() -> RedirectResponse:
    return RedirectResponse("/admin/", status_code=307)


# The page's own routes: the only /admin/ routes without the admin check (tests/test_admin.py holds
# every other /admin/ route to a 403 for non-admins).
PAGE_ROUTES = {"/admin", "/admin/", "/admin/assets/{name}"}


def add_routes(r: APIRouter) -> None:
    unavailable, invalid, too_large = errors.ServiceUnavailable, errors.InvalidRequest, errors.PayloadTooLarge
    forbidden, not_found, state = errors.Forbidden, errors.NotFound, errors.InvalidState
    r.add_api_route("/admin", console_redirect, methods=["GET"], include_in_schema=False)
    r.add_api_route("/admin/", console_page, methods=["GET"], include_in_schema=False)
    r.add_api_route("/admin/assets/{name}", console_file, methods=["GET"], include_in_schema=False)
    r.add_api_route("/admin/stats", get_stats, methods=["GET"], **documented(AdminStats, forbidden, invalid, unavailable))
    r.add_api_route("/admin/analytics", get_analytics, methods=["GET"], **documented(
        Analytics, forbidden, invalid, unavailable))
    r.add_api_route("/admin/users", list_users, methods=["GET"], **documented(AdminUserList, forbidden, invalid, unavailable))
    r.add_api_route("/admin/users/{user_id}", get_user, methods=["GET"], **documented(
        AdminUserDetail, forbidden, not_found, invalid, unavailable))
    r.add_api_route("/admin/users/{user_id}/credits", adjust_credits, methods=["POST"], **documented(
        AdminAdjustment, forbidden, not_found, state, too_large, invalid, unavailable))
    r.add_api_route("/admin/users/{user_id}/block", block_user, methods=["POST"], **documented(
        BlockState, forbidden, not_found, too_large, invalid, unavailable))
    r.add_api_route("/admin/users/{user_id}/unblock", unblock_user, methods=["POST"], **documented(
        BlockState, forbidden, not_found, too_large, invalid, unavailable))
    r.add_api_route("/admin/generations", list_generations, methods=["GET"], **documented(
        AdminGenerationList, forbidden, invalid, unavailable))
    r.add_api_route("/admin/generations/{generation_id}/refund", refund_generation, methods=["POST"], **documented(
        GoodwillRefund, forbidden, not_found, state, too_large, invalid, unavailable))
    r.add_api_route("/admin/generations/{generation_id}/settle", settle_generation, methods=["POST"], **documented(
        SettleResult, forbidden, not_found, state, invalid, unavailable))
    r.add_api_route("/admin/audit", get_audit, methods=["GET"], **documented(AuditPage, forbidden, invalid, unavailable))
    r.add_api_route("/admin/audit.csv", get_audit_csv, methods=["GET"], **documented(
        "The audit as CSV (RFC 4180).", forbidden, invalid, unavailable, media_type="text/csv",
        example=AUDIT_CSV_EXAMPLE))
