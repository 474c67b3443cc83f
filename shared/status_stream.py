"""GET /status/stream?generation_id=ID (contract section 3): server-sent events of one generation, at
once and on every change of its status or progress; the stream ends after the terminal event, or
after STREAM_SECONDS with a `retry:` line. `Last-Event-ID` resumes: an unchanged generation is not
sent again (and a finished one answers 204, which tells an EventSource to stop reconnecting).

How it learns of changes: one Watcher per process reads EVERY watched generation in one query a
second (watch_generations, migrations/0015), whatever the number of streams, through the pool like
any call (no connection is held between reads, nor while a stream waits). A stream whose generation
has been quiet for QUIET_SECONDS reads it once through the status path, which asks Replicate when its
webhook went missing (the polling fallback, rate-limited in SQL). So N streams cost about
60 + 4·N queries a minute against 60·N for N clients polling /status once a second (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Annotated, AsyncIterator

from fastapi import Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from shared import errors, generations, logs
from shared.app import CurrentUser, Svc, note
from shared.schemas import TERMINAL

TICK_SECONDS = 1.0
STREAM_SECONDS = 120
QUIET_SECONDS = 15
RETRY_MS = 1000
MAX_IDS_PER_READ = 500
_log = logging.getLogger("wan.stream")

def documented() -> dict:
    from shared.api_models import GENERATION_EXAMPLE
    from shared.api_models import documented as typed

    example = _event(GENERATION_EXAMPLE, version(GENERATION_EXAMPLE)).decode()  # a terminal event, as sent

    route = typed("`text/event-stream`: `event: generation` with the generation object as `data` (as GET "
                  "/status answers it) and an `id:`, at once and on every change of status or progress. Ends "
                  "after the terminal event, or after 120 s with a `retry:` line; send `Last-Event-ID` to resume.",
                  errors.NotFound, errors.InvalidRequest, errors.ServiceUnavailable, media_type="text/event-stream",
                  example=example)
    route["responses"][204] = {"description": "Last-Event-ID names the terminal event: nothing more will come."}
    return route


def version(gen: dict) -> str:
    """The event id: it changes with the status or the progress."""
    return f"{gen['status']}.{gen['progress']}"


class _Subscriber:
    def __init__(self):
        self.latest: dict | None = None
        self.gone = False
        self.changed = asyncio.Event()


class Watcher:
    """Every watched generation of this process, read together once a tick while any is watched."""

    def __init__(self, svc):
        self.svc = svc
        self.subscribers: dict[str, set[_Subscriber]] = {}
        self.task: asyncio.Task | None = None
        self.reads = 0  # database reads made (the benchmark counts them)

    def subscribe(self, generation_id: str) -> _Subscriber:
        sub = _Subscriber()
        self.subscribers.setdefault(generation_id, set()).add(sub)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        return sub

    def unsubscribe(self, generation_id: str, sub: _Subscriber) -> None:
        subs = self.subscribers.get(generation_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self.subscribers[generation_id]

    async def _run(self) -> None:
        while self.subscribers:
            await asyncio.sleep(TICK_SECONDS)
            ids = list(self.subscribers)
            for start in range(0, len(ids), MAX_IDS_PER_READ):
                chunk = ids[start:start + MAX_IDS_PER_READ]
                try:
                    rows = await run_in_threadpool(self.svc.backend.call, "watch_generations", p_ids=chunk)
                except errors.ApiError:
                    continue  # the database blinked: the next tick reads again
                finally:
                    self.reads += 1
                found = {row["generation_id"]: row for row in rows}
                for gen_id in chunk:
                    for sub in self.subscribers.get(gen_id, ()):
                        sub.latest, sub.gone = found.get(gen_id), gen_id not in found
                        sub.changed.set()


_watchers: dict[tuple[int, int], Watcher] = {}


def watcher(svc) -> Watcher:
    """The watcher of this event loop and these services (each server thread of the tests has its own)."""
    key = (id(asyncio.get_running_loop()), id(svc))
    if key not in _watchers:
        _watchers[key] = Watcher(svc)
    return _watchers[key]


def _event(data: dict, event_id: str) -> bytes:
    return f"id: {event_id}\nevent: generation\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def stream(request: Request, svc: Svc, user: CurrentUser, generation_id: Annotated[uuid.UUID, Query()],
                 last_event_id: Annotated[str | None, Header(max_length=100)] = None) -> Response:
    """Server-sent events of one of the caller's generations (see the module's docstring)."""
    note(request, generation_id=generation_id)
    gen = await run_in_threadpool(generations.current, svc, user, generation_id)  # 404 before streaming
    if last_event_id == version(gen) and gen["status"] in TERMINAL:
        return Response(status_code=204)
    return StreamingResponse(_events(svc, user, generation_id, gen, last_event_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _events(svc, user: uuid.UUID, generation_id: uuid.UUID, gen: dict, sent: str | None) -> AsyncIterator[bytes]:
    watch, key = watcher(svc), str(generation_id)
    sub = watch.subscribe(key)
    ends = time.monotonic() + STREAM_SECONDS
    quiet_since = time.monotonic()
    events = 0
    try:
        while True:
            if version(gen) != sent:
                sent = version(gen)
                events += 1
                quiet_since = time.monotonic()
                yield _event(await run_in_threadpool(generations.view, svc, gen), sent)
            if gen["status"] in TERMINAL:
                return
            left = ends - time.monotonic()
            if left <= 0:
                yield f"retry: {RETRY_MS}\n\n".encode()
                return
            try:
                await asyncio.wait_for(sub.changed.wait(), timeout=min(left, QUIET_SECONDS))
            except asyncio.TimeoutError:
                pass
            sub.changed.clear()
            if sub.gone:
                return  # deleted meanwhile
            if sub.latest is not None and sub.latest["user_id"] == str(user):
                gen = sub.latest
            if time.monotonic() - quiet_since >= QUIET_SECONDS and version(gen) == sent:
                quiet_since = time.monotonic()  # quiet: the status path's lost-webhook fallback, once
                try:
                    gen = await run_in_threadpool(generations.current, svc, user, generation_id)
                except errors.NotFound:
                    return
                except errors.ApiError:
                    pass
                if version(gen) == sent:
                    yield b": keep-alive\n\n"  # proxies close a connection that says nothing
    finally:
        watch.unsubscribe(key, sub)
        logs.event(_log, "status_stream", generation_id=key, events=events)

