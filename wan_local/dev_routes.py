"""Routes only the local stack serves: /dev/signup (stands in for Supabase Auth), /files (stands
in for Supabase Storage's signed URLs), /dev/emulator/next (a fault for the Replicate emulator's
next create, so a failure and its refund can be seen locally) and the reference web client at /
(static files from wan_local/web). Never deployed."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import jwt
import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared import errors
from shared.api_models import Signup, documented
from shared.errors import InvalidState, NotFound
from wan_local.replicate_emulator import Fault

WEB_DIR = Path(__file__).parent / "web"
WEB_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png"}

if TYPE_CHECKING:
    from wan_local.dev import DevStack

TOKEN_SECONDS = 24 * 3600


class SignupRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "me@example.com"}]})

    email: str
    admin: bool = False  # the operator's console: app_metadata.role = "admin" (CONTRACT §5)

    @field_validator("email")
    @classmethod
    def _looks_like_email(cls, value: str) -> str:
        value = value.strip().lower()
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError("is not an email address")
        return value


class FaultRequest(BaseModel):
    """What the emulator does to the next create (wan_local.replicate_emulator.Fault)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"fault": "fail"}]})

    fault: Literal["fail", "refuse", "hang", "drop_webhooks"]
    status: Literal[500, 429, 422] = 500   # refuse: the answer's status
    seconds: float | None = Field(None, gt=0, le=600)  # hang: how long (default: past the API's timeout)


def _armed(faults: list[Fault]) -> dict:
    return {"armed": [{"fault": f.kind, **({"status": f.status} if f.status else {}),
                       **({"seconds": f.seconds} if f.seconds else {})} for f in faults]}


def access_token(user_id: str, email: str, secret: str, seconds: int = TOKEN_SECONDS,
                 app_metadata: dict | None = None) -> str:
    """A token shaped like Supabase Auth's (HS256, aud 'authenticated', sub = user id, and the user's
    app_metadata, where an admin's role is)."""
    now = int(time.time())
    claims = {"sub": user_id, "aud": "authenticated", "role": "authenticated", "email": email,
              "app_metadata": app_metadata or {}, "iat": now, "exp": now + seconds}
    return jwt.encode(claims, secret, algorithm="HS256")


def router(stack: "DevStack") -> APIRouter:
    r = APIRouter()

    signup_docs = documented(Signup, errors.PayloadTooLarge, errors.InvalidRequest, status=201, user=False)
    signup_docs["responses"][200] = {"model": Signup, "description": "The email already had a user: a fresh token."}

    @r.post("/dev/signup", **signup_docs)
    def signup(body: SignupRequest):
        """Create a user as Supabase Auth would (the signup trigger grants 100 credits) and sign in.
        An email that already exists just gets a fresh token (200)."""
        with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
            row = conn.execute("select id, raw_app_meta_data from auth.users where email = %s", (body.email,)).fetchone()
            created = row is None
            if created:
                row = conn.execute("insert into auth.users (email) values (%s) on conflict (email) do update "
                                   "set email = excluded.email returning id, raw_app_meta_data", (body.email,)).fetchone()
            if body.admin:  # as `wan-api admin grant` does locally (shared/admin.py)
                row = conn.execute("update auth.users set raw_app_meta_data = raw_app_meta_data || "
                                   "'{\"role\": \"admin\"}' where id = %s returning id, raw_app_meta_data",
                                   (row[0],)).fetchone()
        user_id = str(row[0])
        answer = {"user_id": user_id, "access_token": access_token(user_id, body.email, stack.settings.supabase_jwt_secret,
                                                                   app_metadata=row[1])}
        return JSONResponse(answer, status_code=201 if created else 200)

    def emulator():
        if stack.emulator is None:
            raise InvalidState("This stack calls the real Replicate (REPLICATE_API_TOKEN is set): there is no emulator to fail.")
        return stack.emulator

    @r.post("/dev/emulator/next", include_in_schema=False)
    def arm_fault(body: FaultRequest):
        """The emulator's next create meets this fault (once); faults armed together are used in order."""
        if body.fault == "refuse":
            fault = Fault("refuse", status=body.status)
        elif body.fault == "hang":  # by default past the API's Replicate timeout, so the create gives up
            fault = Fault("hang", seconds=body.seconds or stack.settings.replicate_timeout_seconds + 2)
        else:
            fault = Fault(body.fault)
        return _armed(emulator().arm(fault))

    @r.get("/dev/emulator/next", include_in_schema=False)
    def armed_faults():
        return _armed(list(emulator().armed))

    @r.delete("/dev/emulator/next", include_in_schema=False)
    def disarm():
        emulator().armed.clear()
        return _armed([])

    @r.get("/files/{path:path}", include_in_schema=False)
    def files(path: str, expires: int, sig: str):
        target = stack.services.storage.open_signed(path, expires, sig)
        if target is None:
            raise NotFound("This link is unknown or has expired.")
        media = {"mp4": "video/mp4", "png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
        return FileResponse(target, media_type=media.get(target.suffix.lstrip("."), "application/octet-stream"))

    # The web client: plain files with relative links, so any static host can serve the folder too.
    @r.get("/", include_in_schema=False)
    def web_root(request: Request):
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/web/{query}", status_code=307)

    @r.get("/web/{name:path}", include_in_schema=False)
    def web(name: str):
        target = WEB_DIR / (name or "index.html")
        if target.parent != WEB_DIR or target.suffix not in WEB_TYPES or not target.is_file():
            raise NotFound("There is nothing at this path.")
        return FileResponse(target, media_type=WEB_TYPES[target.suffix], headers={"Cache-Control": "no-cache"})

    return r
