"""Client and AsyncClient: the same methods, one blocking and one async, over httpx.

Each method builds a request (`_Call`), the transport sends it with bounded retries, and the answer is
parsed into its generated model. Retries (at most `max_retries`, each wait at most `max_retry_wait`):
- no answer (connection refused, reset, timeout), 429 and 503: try again after `Retry-After` when the
  API sends it, else a growing backoff;
- a create keeps its Idempotency-Key across its retries, so a create whose answer was lost is answered
  again, never charged twice; only after `503 provider_unavailable` (the API says that charge was
  already refunded) does the next attempt take a new key, since the old one would answer that failure again.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
from pydantic import BaseModel

from wan_video import models
from wan_video._errors import ApiError, retry_after_of
from wan_video._routes import API_VERSION, ROUTES

T = TypeVar("T", bound=BaseModel)
ImageInput = bytes | str | os.PathLike | IO[bytes]
RETRYABLE = {429, 503}
FRESH_KEY_AFTER = "provider_unavailable"
TERMINAL = {"succeeded", "failed", "canceled"}
USER_AGENT = f"wan-video-python/{API_VERSION}"


@dataclass
class _Call:
    method: str
    path: str  # the API's path as documented (a template), e.g. /generations/{generation_id}
    params: dict[str, Any] = field(default_factory=dict)
    path_params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    idempotent_create: bool = False  # carries an Idempotency-Key the retries keep


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _image(value: ImageInput, name: str) -> tuple[str, bytes, str]:
    """(filename, bytes, content type) of an image given as bytes, a path or an open binary file."""
    if isinstance(value, bytes):
        return f"{name}.png", value, "application/octet-stream"  # the API reads the type from the bytes
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        return path.name, path.read_bytes(), mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    data = value.read()
    filename = Path(getattr(value, "name", f"{name}.png")).name
    return filename, data, mimetypes.guess_type(filename)[0] or "application/octet-stream"


class _Base:
    def __init__(self, base_url: str | None = None, *, api_key: str | None = None, token: str | None = None,
                 endpoints: dict[str, str] | None = None, timeout: float = 30.0, max_retries: int = 3,
                 max_retry_wait: float = 30.0):
        if api_key and token:
            raise ValueError("give api_key or token, not both")
        if not base_url and not endpoints:
            raise ValueError("give base_url (e.g. http://127.0.0.1:8000) or endpoints (Modal function URLs)")
        self.base_url = base_url.rstrip("/") if base_url else None
        self.endpoints = {k: v.rstrip("/") for k, v in (endpoints or {}).items()}
        unknown = [k for k in self.endpoints if k not in ROUTES and k not in {fn for fn, _ in ROUTES.values()}]
        if unknown:
            raise ValueError(f"endpoints: {', '.join(unknown)} is neither a path nor a web function of the API")
        self.timeout, self.max_retries, self.max_retry_wait = timeout, max_retries, max_retry_wait
        self._headers = {"User-Agent": USER_AGENT}
        if api_key or token:
            self._headers["Authorization"] = f"Bearer {api_key or token}"

    # --- where a path is served ---------------------------------------------------------------------

    def url(self, path: str, **path_params: str) -> str:
        """The URL of one of the API's paths: below `base_url`, or below the Modal web function's URL
        that `endpoints` gives for the path (or for the function serving it)."""
        function, below = ROUTES.get(path, (None, path))
        root = self.endpoints.get(path) or (self.endpoints.get(function) if function else None)
        if root is None:
            if self.base_url is None:
                raise ValueError(f"no URL for {path}: add its function {function!r} to endpoints, or give base_url")
            root, below = self.base_url, path
        below = below.format(**{k: str(v) for k, v in path_params.items()})
        return root if below == "/" else root + below  # a card function answers at its URL's root

    # --- the requests -------------------------------------------------------------------------------

    def _create_call(self, path: str, idempotency_key: str | None, wait: int | None, **kw: Any) -> _Call:
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        if wait is not None:
            headers["Prefer"] = f"wait={int(wait)}"
        return _Call("POST", path, headers=headers, idempotent_create=True, **kw)

    def _text_to_video(self, prompt: str, *, model: str, resolution: str, negative_prompt: str | None = None,
                       seed: int | None = None, aspect_ratio: str | None = None, webhook_url: str | None = None,
                       webhook_events: Iterable[str] | None = None, idempotency_key: str | None = None,
                       wait: int | None = None, **extra: Any) -> _Call:
        body = _clean({"prompt": prompt, "model": model, "resolution": resolution, "negative_prompt": negative_prompt,
                       "seed": seed, "aspect_ratio": aspect_ratio, "webhook_url": webhook_url,
                       "webhook_events": list(webhook_events) if webhook_events is not None else None, **extra})
        return self._create_call("/text-to-video", idempotency_key, wait, json=body)

    def _image_to_video(self, image: ImageInput, prompt: str, *, model: str, resolution: str,
                        last_image: ImageInput | None = None, negative_prompt: str | None = None,
                        seed: int | None = None, aspect_ratio: str | None = None, webhook_url: str | None = None,
                        webhook_events: Iterable[str] | None = None, idempotency_key: str | None = None,
                        wait: int | None = None, **extra: Any) -> _Call:
        form = _clean({"prompt": prompt, "model": model, "resolution": resolution, "negative_prompt": negative_prompt,
                       "seed": None if seed is None else str(seed), "aspect_ratio": aspect_ratio,
                       "webhook_url": webhook_url,
                       "webhook_events": ",".join(webhook_events) if webhook_events is not None else None,
                       **{k: str(v) for k, v in extra.items()}})
        files = {"image": _image(image, "image")}
        if last_image is not None:
            files["last_image"] = _image(last_image, "last_image")
        return self._create_call("/image-to-video", idempotency_key, wait, data=form, files=files)

    def _retry(self, generation_id: str, idempotency_key: str | None) -> _Call:
        return self._create_call("/retry", idempotency_key, None, json={"generation_id": str(generation_id)})

    @staticmethod
    def _prepared(call: _Call, key_override: str | None) -> dict[str, str]:
        headers = dict(call.headers)
        if key_override:
            headers["Idempotency-Key"] = key_override
        return headers

    def _request_args(self, call: _Call, key: str | None) -> dict[str, Any]:
        return {"method": call.method, "url": self.url(call.path, **call.path_params),
                "params": _clean(call.params) or None, "json": call.json, "data": call.data, "files": call.files,
                "headers": self._headers | self._prepared(call, key)}

    def _after(self, call: _Call, response: httpx.Response | None, attempt: int, key: str | None):
        """After one attempt: ("done", response) or ("again", wait seconds, next key), or raise."""
        if response is not None and response.status_code not in RETRYABLE:
            if response.is_success or response.status_code == 304:
                return ("done", response)
            raise ApiError.from_response(response)
        if attempt >= self.max_retries:
            if response is None:
                return ("raise", None)
            raise ApiError.from_response(response)
        backoff = min(self.max_retry_wait, 0.5 * 2 ** attempt)
        wait = retry_after_of(response) if response is not None else None
        wait = backoff if wait is None else min(wait, self.max_retry_wait)
        if call.idempotent_create and response is not None and response.status_code == 503:
            if ApiError.from_response(response).code == FRESH_KEY_AFTER:
                key = str(uuid.uuid4())  # that charge was refunded; its key would answer that failure again
        return ("again", wait, key)


def _parse(model: type[T]) -> Callable[[httpx.Response], T]:
    return lambda response: model.model_validate(response.json())


class _EventStream:
    """Server-sent events, one line at a time (https://html.spec.whatwg.org/#event-stream-interpretation):
    `feed` answers (id, event, data) when a line ends an event, else None."""

    def __init__(self) -> None:
        self.last_id: str | None = None
        self._event, self._data = "message", []

    def feed(self, line: str) -> tuple[str | None, str, str] | None:
        if line == "":
            event, data = self._event, self._data
            self._event, self._data = "message", []
            return (self.last_id, event, "\n".join(data)) if data else None
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self.last_id = value
        return None


def _terminal_event(parsed: tuple[str | None, str, str] | None) -> models.Generation | None:
    if parsed is None or parsed[1] != "generation":
        return None
    generation = models.Generation.model_validate(json.loads(parsed[2]))
    return generation if generation.terminal else None


class Client(_Base):
    """A blocking client. `base_url` is the local stack's or any deployment's single URL; on Modal,
    where each web function has its own URL, give `endpoints={"account": URL, "text_to_video": URL, ...}`
    (keys: the functions of GET docs/openapi.json's `x-wan-function`, or paths). Authenticate with an
    API key (`api_key="wan_live_..."`) or a Supabase access token (`token=`)."""

    def __init__(self, base_url: str | None = None, *, http_client: httpx.Client | None = None, **options: Any):
        super().__init__(base_url, **options)
        self._http = http_client or httpx.Client(timeout=self.timeout, follow_redirects=False)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: _Call) -> httpx.Response:
        key = call.headers.get("Idempotency-Key")
        attempt = 0
        while True:
            try:
                response, failure = self._http.request(**self._request_args(call, key)), None
            except httpx.TransportError as exc:
                response, failure = None, exc
            outcome = self._after(call, response, attempt, key)
            if outcome[0] == "done":
                return outcome[1]
            if outcome[0] == "raise":
                raise failure
            _, wait, key = outcome
            time.sleep(wait)
            attempt += 1

    def _call(self, call: _Call, parse: Callable[[httpx.Response], T]) -> T:
        return parse(self._send(call))

    # --- the API ------------------------------------------------------------------------------------

    def text_to_video(self, prompt: str, *, model: str, resolution: str, **options: Any) -> models.Accepted:
        """POST /text-to-video: charged and started (202). Options: negative_prompt, seed, aspect_ratio,
        webhook_url, webhook_events, idempotency_key (else one is made and kept across retries), wait
        (seconds: `Prefer: wait`, the answer then also holds the generation's fields)."""
        return self._call(self._text_to_video(prompt, model=model, resolution=resolution, **options),
                          _parse(models.Accepted))

    def image_to_video(self, image: ImageInput, prompt: str, *, model: str, resolution: str,
                       **options: Any) -> models.Accepted:
        """POST /image-to-video: `image` (and `last_image` where the model takes one) as bytes, a path or
        a binary file; the other options as text_to_video's."""
        return self._call(self._image_to_video(image, prompt, model=model, resolution=resolution, **options),
                          _parse(models.Accepted))

    def status(self, generation_id: str) -> models.Generation:
        return self._call(_Call("GET", "/status", params={"generation_id": str(generation_id)}),
                          _parse(models.Generation))

    def wait(self, generation_id: str, timeout: float = 600.0, poll_interval: float = 1.0) -> models.Generation:
        """The generation once it is terminal (succeeded, failed or canceled), read from the status
        stream where the API has one, else by polling with a growing interval. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        if "/status/stream" in ROUTES:
            found = self._wait_streaming(generation_id, deadline)
            if found is not None:
                return found
        interval = poll_interval
        while True:
            generation = self.status(generation_id)
            if generation.terminal:
                return generation
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"generation {generation_id} is still {generation.status} after {timeout} s")
            time.sleep(min(interval, left))
            interval = min(interval * 1.5, 10.0)

    def _wait_streaming(self, generation_id: str, deadline: float) -> models.Generation | None:
        """Follows GET /status/stream (reconnecting with Last-Event-ID) until a terminal event; None
        when the stream cannot be used, so that wait() polls instead."""
        events = _EventStream()
        while time.monotonic() < deadline:
            headers = self._headers | {"Accept": "text/event-stream"} | (
                {"Last-Event-ID": events.last_id} if events.last_id else {})
            try:
                with self._http.stream("GET", self.url("/status/stream"), params={"generation_id": str(generation_id)},
                                       headers=headers, timeout=httpx.Timeout(self.timeout, read=150.0)) as response:
                    if response.status_code != 200:
                        if response.status_code in (404, 405, 501):
                            return None
                        response.read()
                        if response.status_code not in RETRYABLE:
                            raise ApiError.from_response(response)
                        time.sleep(min(retry_after_of(response) or 1.0, self.max_retry_wait))
                        continue
                    for line in response.iter_lines():
                        if (generation := _terminal_event(events.feed(line))) is not None:
                            return generation
                        if time.monotonic() >= deadline:
                            break
            except httpx.TransportError:
                return None
        raise TimeoutError(f"generation {generation_id} did not finish in time")

    def credits(self) -> models.Credits:
        return self._call(_Call("GET", "/credits"), _parse(models.Credits))

    def generations(self, *, limit: int | None = None, before: str | None = None, **filters: Any) -> models.GenerationPage:
        """GET /generations: newest first; pass the page's next_cursor as `before` for the next one."""
        return self._call(_Call("GET", "/generations", params={"limit": limit, "before": before, **filters}),
                          _parse(models.GenerationPage))

    def cancel(self, generation_id: str) -> models.Generation:
        return self._call(_Call("POST", "/cancel", json={"generation_id": str(generation_id)}),
                          _parse(models.Generation))

    def retry(self, generation_id: str, *, idempotency_key: str | None = None) -> models.RetryAccepted:
        """POST /retry: a failed or canceled generation again, as a new charged generation."""
        return self._call(self._retry(generation_id, idempotency_key), _parse(models.RetryAccepted))

    def delete(self, generation_id: str) -> models.Deleted:
        return self._call(_Call("DELETE", "/generations/{generation_id}", path_params={"generation_id": str(generation_id)}),
                          _parse(models.Deleted))

    def pricing(self) -> models.Pricing:
        return self._call(_Call("GET", "/pricing"), _parse(models.Pricing))


class AsyncClient(_Base):
    """Client's methods as coroutines (`await wan.text_to_video(...)`), over httpx.AsyncClient."""

    def __init__(self, base_url: str | None = None, *, http_client: httpx.AsyncClient | None = None,
                 **options: Any):
        super().__init__(base_url, **options)
        self._http = http_client or httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: _Call) -> httpx.Response:
        key = call.headers.get("Idempotency-Key")
        attempt = 0
        while True:
            try:
                response, failure = await self._http.request(**self._request_args(call, key)), None
            except httpx.TransportError as exc:
                response, failure = None, exc
            outcome = self._after(call, response, attempt, key)
            if outcome[0] == "done":
                return outcome[1]
            if outcome[0] == "raise":
                raise failure
            _, wait, key = outcome
            await asyncio.sleep(wait)
            attempt += 1

    async def _call(self, call: _Call, parse: Callable[[httpx.Response], T]) -> T:
        return parse(await self._send(call))

    async def text_to_video(self, prompt: str, *, model: str, resolution: str, **options: Any) -> models.Accepted:
        return await self._call(self._text_to_video(prompt, model=model, resolution=resolution, **options),
                                _parse(models.Accepted))

    async def image_to_video(self, image: ImageInput, prompt: str, *, model: str, resolution: str,
                             **options: Any) -> models.Accepted:
        return await self._call(self._image_to_video(image, prompt, model=model, resolution=resolution, **options),
                                _parse(models.Accepted))

    async def status(self, generation_id: str) -> models.Generation:
        return await self._call(_Call("GET", "/status", params={"generation_id": str(generation_id)}),
                                _parse(models.Generation))

    async def wait(self, generation_id: str, timeout: float = 600.0, poll_interval: float = 1.0) -> models.Generation:
        """As Client.wait: the stream where there is one, else polling with a growing interval."""
        deadline = time.monotonic() + timeout
        if "/status/stream" in ROUTES:
            found = await self._wait_streaming(generation_id, deadline)
            if found is not None:
                return found
        interval = poll_interval
        while True:
            generation = await self.status(generation_id)
            if generation.terminal:
                return generation
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"generation {generation_id} is still {generation.status} after {timeout} s")
            await asyncio.sleep(min(interval, left))
            interval = min(interval * 1.5, 10.0)

    async def _wait_streaming(self, generation_id: str, deadline: float) -> models.Generation | None:
        events = _EventStream()
        while time.monotonic() < deadline:
            headers = self._headers | {"Accept": "text/event-stream"} | (
                {"Last-Event-ID": events.last_id} if events.last_id else {})
            try:
                async with self._http.stream("GET", self.url("/status/stream"),
                                             params={"generation_id": str(generation_id)}, headers=headers,
                                             timeout=httpx.Timeout(self.timeout, read=150.0)) as response:
                    if response.status_code != 200:
                        if response.status_code in (404, 405, 501):
                            return None
                        await response.aread()
                        if response.status_code not in RETRYABLE:
                            raise ApiError.from_response(response)
                        await asyncio.sleep(min(retry_after_of(response) or 1.0, self.max_retry_wait))
                        continue
                    async for line in response.aiter_lines():
                        if (generation := _terminal_event(events.feed(line))) is not None:
                            return generation
                        if time.monotonic() >= deadline:
                            break
            except httpx.TransportError:
                return None
        raise TimeoutError(f"generation {generation_id} did not finish in time")

    async def credits(self) -> models.Credits:
        return await self._call(_Call("GET", "/credits"), _parse(models.Credits))

    async def generations(self, *, limit: int | None = None, before: str | None = None,
                          **filters: Any) -> models.GenerationPage:
        return await self._call(_Call("GET", "/generations", params={"limit": limit, "before": before, **filters}),
                                _parse(models.GenerationPage))

    async def cancel(self, generation_id: str) -> models.Generation:
        return await self._call(_Call("POST", "/cancel", json={"generation_id": str(generation_id)}),
                                _parse(models.Generation))

    async def retry(self, generation_id: str, *, idempotency_key: str | None = None) -> models.RetryAccepted:
        return await self._call(self._retry(generation_id, idempotency_key), _parse(models.RetryAccepted))

    async def delete(self, generation_id: str) -> models.Deleted:
        return await self._call(_Call("DELETE", "/generations/{generation_id}",
                                      path_params={"generation_id": str(generation_id)}), _parse(models.Deleted))

    async def pricing(self) -> models.Pricing:
        return await self._call(_Call("GET", "/pricing"), _parse(models.Pricing))
