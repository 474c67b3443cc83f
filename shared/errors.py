"""The one error shape of the API: {"detail": "<one sentence>", "code": "<machine code>", ...extras}.

Every module raises these; the app factory (shared/app.py) turns them into responses.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 500
    code = "internal_error"
    default_detail = "Something went wrong on our side."

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any):
        self.detail = detail or self.default_detail
        self.headers = headers or {}
        self.extra = extra
        super().__init__(self.detail)

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, **self.extra}


class InvalidPayload(ApiError):
    status, code, default_detail = 400, "invalid_payload", "The webhook body is not a prediction."


class Unauthorized(ApiError):
    status, code, default_detail = 401, "unauthorized", "A valid access token is required."


class InvalidSignature(ApiError):
    status, code, default_detail = 401, "invalid_signature", "The webhook signature is not valid."


class InsufficientCredits(ApiError):
    status, code, default_detail = 402, "insufficient_credits", "You do not have enough credits."

    def __init__(self, detail: str | None = None, *, required: int, balance: int):
        detail = detail or f"This needs {required} credits and you have {balance}."
        super().__init__(detail, required=required, balance=balance)


class NotFound(ApiError):
    status, code, default_detail = 404, "not_found", "No such generation."


class IdempotencyKeyReused(ApiError):
    status, code = 409, "idempotency_key_reused"
    default_detail = "This Idempotency-Key was already used with a different request."


class InvalidState(ApiError):
    status, code, default_detail = 409, "invalid_state", "The generation is not in a state that allows this."


class ImageTooLarge(ApiError):
    status, code, default_detail = 413, "image_too_large", "The image is larger than 10 MB."


class PayloadTooLarge(ApiError):
    status, code, default_detail = 413, "payload_too_large", "The request body is too large."


class UnsupportedImageType(ApiError):
    status, code = 415, "unsupported_image_type"
    default_detail = "The image must be a PNG, JPEG or WebP file."


class InvalidRequest(ApiError):
    status, code, default_detail = 422, "invalid_request", "The request is not valid."

    def __init__(self, detail: str | None = None, *, errors: list[dict[str, Any]] | None = None):
        errors = errors or [{"field": None, "message": detail or self.default_detail}]
        super().__init__(detail or errors[0]["message"], errors=errors)


_FIELD_NAMES = {"prompt": "prompt", "negative_prompt": "negative prompt", "image": "image"}


class ContentPolicy(ApiError):
    """A prompt, negative prompt or image the content policy refuses (contract section 7): nothing
    was charged. `field` names what was refused, `category` why (`blocked_term` or the classifier's)."""

    status, code, default_detail = 422, "content_policy", "The content policy refused this request."

    def __init__(self, field: str, category: str, *, term: str | None = None, blocked_until: str | None = None):
        what = _FIELD_NAMES.get(field, field)
        why = f'the blocked term "{term}"' if term else f"content classified as {category}"
        detail = f"The {what} was refused by the content policy ({why}); nothing was charged."
        if blocked_until:
            detail = detail[:-1] + f", and after repeated refusals new generations are paused until {blocked_until}."
        super().__init__(detail, field=field, category=category, blocked_until=blocked_until,
                         errors=[{"field": field, "message": f"{field}: refused by the content policy ({category})"}])


class TooManyActiveGenerations(ApiError):
    status, code = 429, "too_many_active_generations"
    default_detail = "You have too many generations in progress; wait for one to finish."

    def __init__(self, detail: str | None = None, *, retry_after: int = 30):
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class RateLimited(ApiError):
    status, code = 429, "rate_limited"
    default_detail = "You are making requests too quickly; slow down."

    def __init__(self, detail: str | None = None, *, retry_after: int, headers: dict[str, str] | None = None):
        super().__init__(detail, headers={**(headers or {}), "Retry-After": str(retry_after)},
                         retry_after=retry_after)


class Forbidden(ApiError):
    status, code, default_detail = 403, "forbidden", "This credential may not do this."


class AccountBlocked(ApiError):
    status, code = 403, "account_blocked"
    default_detail = "This account is blocked: it cannot start generations or buy credits; contact support."


class ProviderUnavailable(ApiError):
    status, code = 503, "provider_unavailable"
    default_detail = "The video provider is unavailable right now; your credits were refunded. Try again shortly."

    def __init__(self, detail: str | None = None, *, retry_after: int = 30):
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class ServiceUnavailable(ApiError):
    status, code = 503, "service_unavailable"
    default_detail = "The service could not complete the request; try again shortly."

    def __init__(self, detail: str | None = None, *, retry_after: int = 5):
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
