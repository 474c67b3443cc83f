"""The account web function: /credits, /generations, /pricing (and /cancel, /retry)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shared import catalog, generations
from shared.app import CurrentUser, Svc


def get_credits(svc: Svc, user: CurrentUser) -> dict:
    """The caller's balance and ledger, newest first."""
    return generations.credits(svc, user)


def list_generations(svc: Svc, user: CurrentUser,
                     limit: Annotated[int, Query(ge=1, le=100)] = 20,
                     before: Annotated[str | None, Query(max_length=200)] = None) -> dict:
    """The caller's generations, newest first; pass next_cursor back as `before` for the next page."""
    return generations.history(svc, user, limit, before)


def get_pricing() -> dict:
    """Every model with its kind, resolutions and the credits each costs. No sign-in needed."""
    return catalog.pricing()


def router() -> APIRouter:
    r = APIRouter()
    r.add_api_route("/credits", get_credits, methods=["GET"])
    r.add_api_route("/generations", list_generations, methods=["GET"])
    r.add_api_route("/pricing", get_pricing, methods=["GET"])
    return r
