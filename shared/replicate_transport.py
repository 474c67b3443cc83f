"""Replicate's HTTP transport: every request bounded as a whole by one deadline (connect, send,
headers and body together). Apart from shared/replicate_provider.py so that httpx and httpcore load
only when a provider is built, not with every web function's module.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpcore
import httpx

# The deadline of the request this thread is sending (sync httpx sends and reads a request in the
# caller's thread, so a thread-local reaches every socket read and write of that request).
_deadline = threading.local()


def _within_deadline(timeout: float | None, late: type[Exception]) -> float | None:
    at = getattr(_deadline, "at", None)
    if at is None:
        return timeout
    remaining = at - time.monotonic()
    if remaining <= 0:
        raise late("the call ran past its deadline")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write waits at most until the request's deadline: a server that
    drips one byte a second never trips a per-read timeout, but it does trip this."""

    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _within_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _within_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(
            ssl_context, server_hostname, _within_deadline(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.SyncBackend):
    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        timeout = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(super().connect_tcp(host, port, timeout, local_address, socket_options))


class _DeadlineBody(httpx.SyncByteStream):
    """The response body, read under the same deadline as the headers."""

    def __init__(self, stream: httpx.SyncByteStream, at: float):
        self._stream, self._at = stream, at

    def __iter__(self):
        previous, _deadline.at = getattr(_deadline, "at", None), self._at
        try:
            yield from self._stream
        finally:
            _deadline.at = previous

    def close(self) -> None:
        self._stream.close()


class BoundedTransport(httpx.HTTPTransport):
    """Bounds every request as a whole (connect, send, headers and body together) by `seconds`,
    also those the client sends with no timeout (REPLICATE_TIMEOUT_SECONDS is a total deadline)."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        # httpx.HTTPTransport takes no network backend; its pool reads this attribute for every new
        # connection (httpcore/_sync/connection_pool.py).
        self._pool._network_backend = _DeadlineBackend()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {
            k: (v if v is not None else self.seconds) for k, v in
            {**{"connect": None, "read": None, "write": None, "pool": None}, **timeouts}.items()
        }
        at = time.monotonic() + self.seconds
        previous, _deadline.at = getattr(_deadline, "at", None), at
        try:
            response = super().handle_request(request)
        finally:
            _deadline.at = previous
        response.stream = _DeadlineBody(response.stream, at)
        _last.retry_after = retry_after_seconds(response) if response.status_code in (429, 503) else None
        return response


# The Retry-After of the last refusal this thread received (the client's ReplicateError keeps no headers).
_last = threading.local()


def retry_after_seconds(response: httpx.Response) -> float | None:
    """A numeric Retry-After (the form Replicate sends), or None."""
    value = (response.headers.get("retry-after") or "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def last_retry_after() -> float | None:
    return getattr(_last, "retry_after", None)
