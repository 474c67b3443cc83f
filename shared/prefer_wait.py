"""`Prefer: wait=N` on a create (contract section 3; RFC 7240): the answer comes when the generation
ends or after N seconds (1-60), whichever is first: 200 with the create's keys and the generation
object if it ended, 202 with the same keys if not.

The waiting happens on the event loop after the handler returned (an ASGI response that waits
before it starts), through the process's status watcher (shared/status_stream.py): no thread, no
database connection and no lock is held while it waits, and all waiters of a process share one
read a second.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid

from typing import Annotated

from fastapi import Header
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from shared import errors, generations
from shared.schemas import TERMINAL

MAX_SECONDS = 60
_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?([^\s,;\"]*)\"?", re.IGNORECASE)


Prefer = Annotated[str | None, Header(max_length=200, description=(
    "`wait=N` (1-60): answer when the generation ends or after N seconds (200 if it ended, 202 if not)."))]


def documented(route: dict) -> dict:
    """A create's documented answers, plus the 200 of a wait that saw the end."""
    from shared.api_models import GenerationAnswered

    route["responses"][200] = {"model": GenerationAnswered, "description": GenerationAnswered.__doc__}
    return route


def requested(prefer: str | None) -> int | None:
    """The seconds a Prefer header asks to wait, or None; a wait outside 1-60 is a 422 (before any charge)."""
    match = _WAIT.search(prefer or "")
    if match is None:
        return None
    value = match.group(1)
    if not value.isdigit() or not 1 <= int(value) <= MAX_SECONDS:
        raise errors.InvalidRequest(errors=[{"field": "Prefer", "message":
                                             f"Prefer: wait must be a whole number of seconds from 1 to {MAX_SECONDS}"}])
    return int(value)


class WaitingAnswer(Response):
    """The create's answer, sent once the generation ended or the wait is over."""

    def __init__(self, svc, user_id: uuid.UUID, answer: dict, seconds: int):
        super().__init__()
        self.svc, self.user_id, self.answer, self.seconds = svc, user_id, answer, seconds

    async def __call__(self, scope, receive, send) -> None:
        gen = await wait(self.svc, self.user_id, uuid.UUID(str(self.answer["generation_id"])), self.seconds)
        body = self.answer | await run_in_threadpool(generations.view, self.svc, gen)
        headers = {"Preference-Applied": f"wait={self.seconds}"}
        await JSONResponse(body, status_code=200 if gen["status"] in TERMINAL else 202, headers=headers)(
            scope, receive, send)


async def wait(svc, user_id: uuid.UUID, generation_id: uuid.UUID, seconds: float) -> dict:
    """The stored generation once it is terminal, or as it is after `seconds`."""
    from shared.status_stream import watcher

    gen = await run_in_threadpool(generations.current, svc, user_id, generation_id)
    if gen["status"] in TERMINAL:
        return gen
    watch, key = watcher(svc), str(generation_id)
    sub = watch.subscribe(key)
    ends = time.monotonic() + seconds
    try:
        while (left := ends - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(sub.changed.wait(), timeout=left)
            except asyncio.TimeoutError:
                break
            sub.changed.clear()
            if sub.latest is not None:
                gen = sub.latest
                if gen["status"] in TERMINAL:
                    break
    finally:
        watch.unsubscribe(key, sub)
    return gen
