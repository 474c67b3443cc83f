"""The one error the client raises for an API answer that is not a success."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    """An error answer: `.status` (HTTP), `.code` (the API's machine code, e.g. `insufficient_credits`),
    `.detail` (one sentence for a person), `.body` (the whole answer). A 402 also has `.required` and
    `.balance`; a 422 `.errors` (each field's problem); a 429 or 503 `.retry_after` (seconds, or None)."""

    def __init__(self, status: int, body: dict[str, Any], retry_after: float | None = None):
        self.status = status
        self.body = body
        self.code: str = str(body.get("code") or "http_error")
        self.detail: str = str(body.get("detail") or f"The API answered {status}.")
        self.required: int | None = body.get("required")
        self.balance: int | None = body.get("balance")
        self.errors: list[dict[str, Any]] = body.get("errors") or []
        self.retry_after = retry_after
        super().__init__(f"{status} {self.code}: {self.detail}")

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        return cls(response.status_code, body, retry_after_of(response))


class WebhookVerificationError(Exception):
    """A delivery whose signature, timestamp or body does not verify: answer it 400 and drop it."""


def retry_after_of(response: httpx.Response) -> float | None:
    """Retry-After in seconds (the API sends a number; an HTTP date is not used by it)."""
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
