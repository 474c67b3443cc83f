"""Replicate, through the official `replicate` client: create by model, get, cancel, and the outputs.

Every call is bounded in time (the 1.0.7 client sends create with no timeout at all), and every
failure becomes `ProviderError`, so callers can fail and refund without knowing httpx or Replicate.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, Callable

from shared.catalog import Variant

if TYPE_CHECKING:
    import httpx

MAX_OUTPUT_BYTES = 512 * 1024 * 1024
MAX_REDIRECTS = 5
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")


class ProviderError(Exception):
    """Replicate refused, failed, rate-limited or timed out."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: int = 30):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Prediction:
    id: str
    status: str                 # Replicate's own: starting, processing, succeeded, failed, canceled, aborted
    output_url: str | None = None
    error: str | None = None
    progress: int | None = None
    started_at: str | None = None     # when Replicate started running it (its queue ended), ISO 8601
    completed_at: str | None = None   # when Replicate finished it

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed", "canceled", "aborted")


# What a provider sends is bounded and cleaned before it reaches the database: Postgres text cannot
# hold U+0000 (one NUL made every delivery of a webhook, every poll and the sweep fail), and a 10 MB
# error string has no business in a row that every status call reads.
MAX_ERROR_CHARS = 2000
MAX_ID_CHARS = 128           # Replicate's ids are ~26 characters
MAX_URL_CHARS = 4096


def _clean(value: Any, limit: int) -> str:
    return str(value).replace("\x00", "")[:limit]


def parse_prediction(data: Any) -> Prediction:
    """A prediction object (API answer or webhook body) -> Prediction; ValueError if it is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise ValueError("not a prediction: no id")
    prediction_id = data["id"].replace("\x00", "")
    if not prediction_id or len(prediction_id) > MAX_ID_CHARS:
        raise ValueError("not a prediction: no usable id")
    status = data.get("status")
    if status not in ("starting", "processing", "succeeded", "failed", "canceled", "aborted"):
        raise ValueError(f"not a prediction: status {_clean(status, 40)!r}")
    output = data.get("output")
    if isinstance(output, list):
        output = next((o for o in output if isinstance(o, str)), None)
    if not isinstance(output, str) or "\x00" in output or len(output) > MAX_URL_CHARS:
        output = None  # no URL at all beats a mangled one
    error = data.get("error")
    return Prediction(id=prediction_id, status=status, output_url=output,
                      error=_clean(error, MAX_ERROR_CHARS) if error else None,
                      progress=_progress(data.get("logs")),
                      started_at=_timestamp(data.get("started_at")),
                      completed_at=_timestamp(data.get("completed_at")))


def _timestamp(value: Any) -> str | None:
    """An ISO 8601 time from a prediction (`started_at`, `completed_at`), or None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value


def _progress(logs: Any) -> int | None:
    """The last percentage the model printed in its logs, if any."""
    if not isinstance(logs, str):
        return None
    found = _PERCENT.findall(logs[-4000:])
    return min(100, int(float(found[-1]))) if found else None


class ReplicateProvider:
    def __init__(self, api_token: str | None, base_url: str, *, timeout_seconds: float = 20.0):
        # httpx (and the client) load here, not with the module: every web function imports this
        # module, and httpx is most of a cold import (docs/benchmarks.md, cold imports).
        import httpx
        import replicate

        from shared.replicate_transport import BoundedTransport

        self.timeout_seconds = timeout_seconds
        self.client = replicate.Client(
            api_token=api_token, base_url=base_url,
            timeout=httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds)),
            transport=BoundedTransport(timeout_seconds),
        )
        # The client retries GETs on 429/503 up to 10 times with backoff up to 60 s: far longer than a
        # status request may wait. A few quick tries; the sweeper comes back later anyway.
        retrying = self.client._client._transport
        retrying.max_attempts, retrying.max_backoff_wait = 3, 1.0
        # ...and its sleep honours a numeric Retry-After without a cap (replicate/client.py,
        # RetryTransport._calculate_sleep): a 429 saying 60 held a status request for minutes, outside
        # REPLICATE_TIMEOUT_SECONDS. Capped at the backoff cap; our 503 passes Replicate's figure on.
        uncapped = retrying._calculate_sleep
        retrying._calculate_sleep = lambda attempts, headers: min(uncapped(attempts, headers), retrying.max_backoff_wait)

    def create(self, variant: Variant, input: dict, webhook: str, *, cancel_after_seconds: int | None = None) -> Prediction:
        """Start a prediction whose webhook carries our generation id. It subscribes to `start`,
        `completed` and `logs`: the model prints its progress, Replicate sends a `logs` event at most
        every 500 ms (docs: topics/webhooks/setup-webhook), and each is one small transaction that
        moves the progress bar forward between the client's status polls. Not `output`: these models
        have one output, which the `completed` event carries.

        `Cancel-After` (Replicate, since 2025-10) makes Replicate itself abort a prediction not done by
        then; one never started ends `aborted` and is not billed. The 1.0.7 client's
        `models.predictions.create` takes no headers (it builds them from `wait` alone), so this is the
        same request made through the client's own `_request` (auth, User-Agent, transport) with the
        header added; the answer is read raw, as in get(), because the client's model rejects `aborted`."""
        body = {"input": input, "webhook": webhook, "webhook_events_filter": ["start", "logs", "completed"]}
        headers = {"Cancel-After": f"{cancel_after_seconds}s"} if cancel_after_seconds else {}
        with _provider_errors("create"):
            response = self.client._request("POST", f"/v1/models/{variant.replicate_model}/predictions",
                                            json=body, headers=headers)
            return parse_prediction(response.json())

    def get(self, prediction_id: str) -> Prediction:
        # Read raw: the client's Prediction model rejects Replicate's `aborted` status.
        with _provider_errors("get"):
            return parse_prediction(self.client._request("GET", f"/v1/predictions/{prediction_id}").json())

    def cancel(self, prediction_id: str) -> Prediction:
        with _provider_errors("cancel"):
            return parse_prediction(self.client._request("POST", f"/v1/predictions/{prediction_id}/cancel").json())

    def download(self, url: str, into: BinaryIO, check_url: Callable[[str], None], *,
                 max_bytes: int = MAX_OUTPUT_BYTES) -> None:
        """Stream an output video (Replicate deletes them an hour after the run) into a file.

        `check_url` vets the URL and every redirect target before we connect (it raises to refuse);
        the bytes must be an MP4 (an ISO media file: `ftyp` at offset 4), at most `max_bytes`."""
        import httpx

        with _provider_errors("download"), httpx.Client(timeout=httpx.Timeout(60.0, connect=5.0)) as http:
            for _ in range(MAX_REDIRECTS + 1):
                check_url(url)
                with http.stream("GET", url) as r:
                    if r.is_redirect and "location" in r.headers:
                        url = str(r.url.join(r.headers["location"]))
                        continue
                    r.raise_for_status()
                    _stream_mp4(r, into, max_bytes)
                    return
            raise ProviderError(f"output URL redirected more than {MAX_REDIRECTS} times")


def _stream_mp4(response: httpx.Response, into: BinaryIO, max_bytes: int) -> None:
    size, head = 0, b""
    for chunk in response.iter_bytes(1024 * 1024):
        if len(head) < 8:
            head += chunk[:8]
            if len(head) >= 8 and head[4:8] != b"ftyp":
                raise ProviderError("the output is not an MP4 video")
        size += len(chunk)
        if size > max_bytes:
            raise ProviderError(f"output larger than {max_bytes} bytes")
        into.write(chunk)
    if head[4:8] != b"ftyp":
        raise ProviderError("the output is not an MP4 video")


MAX_RETRY_AFTER = 300  # what our own 503 passes on at most, whatever Replicate asks


def _retry_after(status: int | None) -> int:
    """Seconds for our 503's Retry-After: Replicate's own (its 429 says when its limit resets),
    between 1 and MAX_RETRY_AFTER; without one, 60 for a 429 and 30 otherwise."""
    from shared.replicate_transport import last_retry_after

    given = last_retry_after() if status in (429, 503) else None
    if given is None:
        return 60 if status == 429 else 30
    return max(1, min(MAX_RETRY_AFTER, int(given + 0.999)))


@contextmanager
def _provider_errors(operation: str):
    """Turns everything Replicate or the network can throw into ProviderError."""
    import httpx
    from replicate.exceptions import ReplicateError

    try:
        yield
    except ProviderError:
        raise
    except ReplicateError as exc:
        status = getattr(exc, "status", None)
        raise ProviderError(f"Replicate {operation} refused ({status}): {exc}", status=status,
                            retry_after=_retry_after(status)) from exc
    except httpx.HTTPStatusError as exc:
        raise ProviderError(f"Replicate {operation} failed: {exc}", status=exc.response.status_code) from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderError(f"Replicate {operation} failed: {exc!r}") from exc
