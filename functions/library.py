"""The library's routes (issue 25), served by the `account` web function: favorites, share links and
their public pages (/s/{id}, no sign-in), and the bulk download."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from shared import downloads, errors, library, share_page, shares
from shared.api_models import GEN_ID, Favorite, PublicShare, ShareLink, documented
from shared.app import CurrentUser, Svc, note
from shared.schemas import iso


class DownloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"generation_ids": [GEN_ID]}]})

    generation_ids: list[uuid.UUID] = Field(min_length=1, max_length=downloads.MAX_IDS)


def favorite(generation_id: uuid.UUID, request: Request, svc: Svc, user: CurrentUser) -> dict:
    """Mark one of the caller's generations a favorite (idempotent)."""
    note(request, generation_id=generation_id)
    return library.set_favorite(svc, user, generation_id, True)


def unfavorite(generation_id: uuid.UUID, request: Request, svc: Svc, user: CurrentUser) -> dict:
    """Unmark a favorite (idempotent)."""
    note(request, generation_id=generation_id)
    return library.set_favorite(svc, user, generation_id, False)


def share(generation_id: uuid.UUID, request: Request, svc: Svc, user: CurrentUser) -> JSONResponse:
    """A public link to a succeeded generation whose video is kept: 201 made now, 200 already live."""
    note(request, generation_id=generation_id)
    answer, created = shares.create(svc, user, generation_id)
    return JSONResponse(answer, status_code=201 if created else 200)


def unshare(generation_id: uuid.UUID, request: Request, svc: Svc, user: CurrentUser) -> Response:
    """Revoke the generation's link: it answers 404 from now on (204 also when there was none)."""
    note(request, generation_id=generation_id)
    shares.revoke(svc, user, generation_id)
    return Response(status_code=204)


def download(body: DownloadRequest, svc: Svc, user: CurrentUser) -> StreamingResponse:
    """A zip of up to 50 of the caller's kept videos (stored, streamed) and manifest.json."""
    prepared = downloads.prepare(svc, user, body.generation_ids)
    name = f"wan-videos-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.zip"
    return StreamingResponse(downloads.stream(svc, prepared), media_type="application/zip",
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Cache-Control": "no-store"})


async def _public_caller(request: Request, svc: Svc) -> None:
    """Count the client address in the public routes' window (429 past it). The address is the ASGI
    scope's client: Modal's web runtime puts the request's source IP there (modal-labs/modal-client
    PR #2587), uvicorn locally the peer's."""
    address = request.client.host if request.client else "unknown"
    svc.library.limiter.hit(address)


PublicCaller = Annotated[None, Depends(_public_caller)]
# Dead links must never linger in a cache; the link's id must not leak to the video's host.
_PUBLIC_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


async def public_json(share_id: str, svc: Svc, _: PublicCaller) -> JSONResponse:
    """A live link's video and prompt (never its owner); 404 for a dead or unknown link."""
    found = await run_in_threadpool(shares.public, svc, share_id)
    body = {k: found[k] for k in ("share_id", "kind", "model", "resolution", "prompt", "video_url", "views")}
    body["created_at"] = iso(found["created_at"])
    return JSONResponse(body, headers=_PUBLIC_HEADERS)


async def public_page(share_id: str, request: Request, svc: Svc, _: PublicCaller) -> HTMLResponse:
    """The link's page: the player, the prompt, Open Graph and Twitter card tags; no script."""
    found = await run_in_threadpool(shares.public, svc, share_id)
    page_url = f"{shares.link_base(svc.settings) or str(request.base_url).rstrip('/')}/s/{found['share_id']}"
    return HTMLResponse(share_page.render(found, page_url), headers=_PUBLIC_HEADERS)


# The share page's documented example: the real page, rendered from PublicShare's example.
_EXAMPLE_SHARE = PublicShare.model_config["json_schema_extra"]["examples"][0]
PAGE_EXAMPLE = share_page.render(_EXAMPLE_SHARE, f"https://example.com/s/{_EXAMPLE_SHARE['share_id']}")


def router() -> APIRouter:
    r = APIRouter()
    invalid, unavailable, not_found = errors.InvalidRequest, errors.ServiceUnavailable, errors.NotFound
    r.add_api_route("/generations/download", download, methods=["POST"], **documented(
        "A zip (stored entries, streamed): <generation_id>.mp4 for each kept video, then manifest.json "
        '[{"generation_id", "included", "reason"}] for every id asked.', errors.PayloadTooLarge, invalid,
        unavailable, media_type="application/zip", binary=True))
    for method, handler in (("PUT", favorite), ("DELETE", unfavorite)):
        r.add_api_route("/generations/{generation_id}/favorite", handler, methods=[method],
                        **documented(Favorite, not_found, invalid, unavailable))
    share_docs = documented(ShareLink, not_found, errors.InvalidState, invalid, unavailable, status=201)
    share_docs["responses"][200] = {"model": ShareLink, "description": "The generation already had a live link."}
    r.add_api_route("/generations/{generation_id}/share", share, methods=["POST"], **share_docs)
    unshare_docs = documented("", not_found, invalid, unavailable, status=204)
    unshare_docs["responses"][204] = {"description": "The link is revoked (no body)."}
    r.add_api_route("/generations/{generation_id}/share", unshare, methods=["DELETE"], **unshare_docs)
    # The .json route first: /s/{share_id} would also match "<id>.json".
    r.add_api_route("/s/{share_id}.json", public_json, methods=["GET"], **documented(
        PublicShare, not_found, errors.RateLimited, invalid, user=False))
    r.add_api_route("/s/{share_id}", public_page, methods=["GET"], **documented(
        "The link's HTML page.", not_found, errors.RateLimited, invalid, user=False, media_type="text/html",
        example=PAGE_EXAMPLE))
    return r
