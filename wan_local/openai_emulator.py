"""An emulator of OpenAI's moderation endpoint, `POST /v1/moderations`: a real HTTP server the
official `openai` client talks to in tests (as the Replicate and Stripe emulators stand in for theirs).

Its shapes are the published API's, as the official client types them (openai-python
src/openai/types/moderation_create_params.py, moderation_create_response.py, moderation.py,
moderation_text_input_param.py, moderation_image_url_input_param.py; the multi-modal input arrived
with omni-moderation, openai/openai-python#1750):

- request: `model` (optional; omni-moderation-latest by default) and `input`: a string, a list of
  strings (one result per string), or a list of parts `{"type": "text", "text"}` /
  `{"type": "image_url", "image_url": {"url"}}` (one result for them all);
- answer: `{"id": "modr-…", "model", "results": [{"flagged", "categories", "category_scores",
  "category_applied_input_types"}]}`, every one of the thirteen categories present in each map, and
  the image-capable ones (self-harm*, sexual, violence*) the only ones an image can set;
- errors as OpenAI answers them: `{"error": {"message", "type", "param", "code"}}`, 401 without a
  key, 400 for an input that is not one of the shapes above (or an image for a text-only model).

What it flags is the test's choice (`Behaviour`): words in a text, and any image. It never fetches an
image URL (the real endpoint does; here nothing outside loopback may be reached).
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
              "self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors",
              "violence", "violence/graphic")
# The categories whose applied input types may include "image" (moderation.py's CategoryAppliedInputTypes).
IMAGE_CATEGORIES = frozenset({"self-harm", "self-harm/instructions", "self-harm/intent", "sexual",
                              "violence", "violence/graphic"})
MODELS = ("omni-moderation-latest", "omni-moderation-2024-09-26", "text-moderation-latest", "text-moderation-stable")


@dataclass(slots=True)
class Behaviour:
    flag_words: dict[str, str] = field(default_factory=dict)  # a word in a text -> the category it flags
    flag_images: str | None = None     # flag every image with this category (one of IMAGE_CATEGORIES)
    hang_seconds: float = 0.0          # sleep this long before answering
    error_status: int | None = None    # answer every request with this error status


class OpenAIModerationEmulator:
    def __init__(self, api_key: str = "sk-test-emulator"):
        self.api_key = api_key
        self.behaviour = Behaviour()
        self.requests: list[dict] = []
        self._released = threading.Event()  # set on close(): a hanging answer stops hanging
        self.app = self._build_app()

    def close(self) -> None:
        self._released.set()

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/moderations")
        async def moderations(request: Request):
            import asyncio

            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return _error(401, "Incorrect API key provided.", "invalid_request_error", code="invalid_api_key")
            try:
                body = await request.json()
            except ValueError:
                return _error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
            self.requests.append(body)
            if self.behaviour.hang_seconds:
                await asyncio.to_thread(self._released.wait, self.behaviour.hang_seconds)
            if self.behaviour.error_status:
                return _error(self.behaviour.error_status, "The server had an error while processing your request.",
                              "server_error")
            return self._answer(body)

        return app

    def _answer(self, body: dict):
        model = body.get("model") or "omni-moderation-latest"
        if model not in MODELS:
            return _error(404, f"The model `{model}` does not exist or you do not have access to it.",
                          "invalid_request_error", param="model", code="model_not_found")
        given = body.get("input")
        if isinstance(given, str):
            items = [[("text", given)]]
        elif isinstance(given, list) and given and all(isinstance(i, str) for i in given):
            items = [[("text", i)] for i in given]
        elif isinstance(given, list) and given and all(isinstance(i, dict) for i in given):
            parts = [_part(p) for p in given]
            if None in parts:
                return _error(400, "Invalid value for 'input': each part must be a text or an image_url.",
                              "invalid_request_error", param="input")
            if any(kind == "image" for kind, _ in parts) and not model.startswith("omni-"):
                return _error(400, f"{model} does not support image inputs.", "invalid_request_error", param="input")
            items = [parts]
        else:
            return _error(400, "'input' must be a string, a list of strings or a list of input parts.",
                          "invalid_request_error", param="input")
        return {"id": f"modr-{uuid.uuid4().hex[:24]}", "model": model, "results": [self._result(p) for p in items]}

    def _result(self, parts: list[tuple[str, str]]) -> dict:
        hits: dict[str, set[str]] = {}
        for kind, value in parts:
            if kind == "text":
                for word, category in self.behaviour.flag_words.items():
                    if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", value, re.IGNORECASE):
                        hits.setdefault(category, set()).add("text")
            elif self.behaviour.flag_images:
                hits.setdefault(self.behaviour.flag_images, set()).add("image")
        kinds = {kind for kind, _ in parts}
        return {
            "flagged": bool(hits),
            "categories": {c: c in hits for c in CATEGORIES},
            "category_scores": {c: 0.91 if c in hits else 0.0004 for c in CATEGORIES},
            "category_applied_input_types": {
                c: sorted(k for k in kinds if k == "text" or c in IMAGE_CATEGORIES) for c in CATEGORIES},
        }


def _part(part: dict) -> tuple[str, str] | None:
    if part.get("type") == "text" and isinstance(part.get("text"), str):
        return ("text", part["text"])
    url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
    if part.get("type") == "image_url" and isinstance(url, str) and url:
        return ("image", url)
    return None


def _error(status: int, message: str, kind: str, *, param: str | None = None, code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status_code=status)

