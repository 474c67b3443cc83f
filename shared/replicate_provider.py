"""Replicate, through the official `replicate` client: create by model, get, cancel, and the outputs.

Every call is bounded in time (the 1.0.7 client sends create with no timeout at all), and every
failure becomes `ProviderError`, so callers can fail and refund without knowing httpx or Replicate.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from shared.catalog import Variant

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

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed", "canceled", "aborted")


def parse_prediction(data: Any) -> Prediction:
    """A prediction object (API answer or webhook body) -> Prediction; ValueError if it is not one."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        raise ValueError("not a prediction: no id")
    status = data.get("status")
    if status not in ("starting", "processing", "succeeded", "failed", "canceled", "aborted"):
        raise ValueError(f"not a prediction: status {status!r}")
    output = data.get("output")
    if isinstance(output, list):
        output = next((o for o in output if isinstance(o, str)), None)
    if not isinstance(output, str):
        output = None
    error = data.get("error")
    return Prediction(id=data["id"], status=status, output_url=output,
                      error=str(error) if error else None, progress=_progress(data.get("logs")))


def _progress(logs: Any) -> int | None:
    """The last percentage the model printed in its logs, if any."""
    if not isinstance(logs, str):
        return None
    found = _PERCENT.findall(logs[-4000:])
    return min(100, int(float(found[-1]))) if found else None


class _BoundedTransport(httpx.HTTPTransport):
    """Gives every request a timeout, also those the client sends with none."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {
            k: (v if v is not None else self.seconds) for k, v in
            {**{"connect": None, "read": None, "write": None, "pool": None}, **timeouts}.items()
        }
        return super().handle_request(request)


class ReplicateProvider:
    def __init__(self, api_token: str | None, base_url: str, *, timeout_seconds: float = 20.0):
        import replicate

        self.timeout_seconds = timeout_seconds
        self.client = replicate.Client(
            api_token=api_token, base_url=base_url,
            timeout=httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds)),
            transport=_BoundedTransport(timeout_seconds),
        )
        # The client retries GETs on 429/503 up to 10 times with backoff up to 60 s: far longer than a
        # status request may wait. A few quick tries; the sweeper comes back later anyway.
        retrying = self.client._client._transport
        retrying.max_attempts, retrying.max_backoff_wait = 3, 1.0

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

    def download(self, url: str, *, max_bytes: int = 512 * 1024 * 1024) -> tuple[bytes, str]:
        """Fetch an output file (Replicate deletes them an hour after the run)."""
        with _provider_errors("download"):
            with httpx.stream("GET", url, timeout=httpx.Timeout(60.0, connect=5.0), follow_redirects=True) as r:
                r.raise_for_status()
                chunks, size = [], 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise ProviderError(f"output larger than {max_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks), r.headers.get("content-type", "video/mp4").split(";")[0]


@contextmanager
def _provider_errors(operation: str):
    """Turns everything Replicate or the network can throw into ProviderError."""
    from replicate.exceptions import ReplicateError

    try:
        yield
    except ProviderError:
        raise
    except ReplicateError as exc:
        status = getattr(exc, "status", None)
        raise ProviderError(f"Replicate {operation} refused ({status}): {exc}", status=status,
                            retry_after=60 if status == 429 else 30) from exc
    except httpx.HTTPStatusError as exc:
        raise ProviderError(f"Replicate {operation} failed: {exc}", status=exc.response.status_code) from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderError(f"Replicate {operation} failed: {exc!r}") from exc
