"""The content policy (contract section 7, issue 27): what a create is checked against before any
money moves, and how the provider's own safety refusals are told apart afterwards.

Two checks, in order:

1. The local policy, always: blocked terms (the shipped DEFAULT_TERMS plus the operator's
   BLOCKED_TERMS) matched as whole words, case- and accent-insensitively, in the prompt and the
   negative prompt. Pure computation on one precompiled pattern (bench: well under 1 ms a create).
2. A hosted classifier when OPENAI_API_KEY is set: OpenAI's moderation endpoint (free, takes text and
   images) through the official `openai` client, the prompt and negative prompt in one call (one result
   per string) and the input image in a second, both within MODERATION_TIMEOUT_SECONDS in total.
   A classifier that fails or times out lets the create through when MODERATION_FAIL_OPEN (the
   default, see README "Content policy": the local policy and the model's own safety checker still
   stand behind it), or refuses it with a 503 that charges nothing.

A negative prompt says what the video must NOT show, so "nudity, gore" there is a good-faith request:
the classifier refuses a negative prompt only for NEGATIVE_PROMPT_CATEGORIES (no negative prompt
needs them). Blocked terms refuse it like any other field.

A refusal is recorded (user, field, category, time; the prompt only with MODERATION_STORE_PROMPTS),
counted in the user's per-minute create window, and answered 422 `content_policy` naming the field.
Past MODERATION_STRIKES refusals in 24 h the user's creates are blocked (migrations/0018).
"""

from __future__ import annotations

import base64
import io
import logging
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from shared import errors, ratelimit

log = logging.getLogger(__name__)

# Kept small on purpose (a long list refuses innocent prompts): terms that name content which is
# illegal almost everywhere and that no legitimate video prompt needs. Operators add theirs with
# BLOCKED_TERMS; the README lists these.
DEFAULT_TERMS = (
    "csam", "child porn", "child pornography", "lolicon", "shotacon", "jailbait",
    "underage nude", "underage sex", "preteen nude", "revenge porn",
)
# The classifier's categories that refuse a negative prompt too (see the module docstring).
NEGATIVE_PROMPT_CATEGORIES = frozenset({"sexual/minors"})
FIELDS = ("prompt", "negative_prompt", "image")
BLOCKED_TERM = "blocked_term"      # the local policy's category
# The image sent to the classifier: a thumbnail is enough to classify and keeps the call small.
CLASSIFIER_IMAGE_SIDE = 768


def normalize(text: str) -> str:
    """Case- and accent-folded text: NFKD, combining marks dropped, casefolded ('Crème' -> 'creme')."""
    if text.isascii():  # the common case: NFKD changes no ASCII character, and casefold is lower
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def parse_terms(value: str) -> tuple[str, ...]:
    """BLOCKED_TERMS: comma-separated terms; blanks dropped, inner whitespace collapsed."""
    return tuple(dict.fromkeys(" ".join(t.split()) for t in value.split(",") if t.strip()))


@dataclass(frozen=True)
class Refusal:
    field: str              # prompt, negative_prompt or image
    category: str           # blocked_term, or the classifier's category (e.g. sexual, violence/graphic)
    source: str             # local or classifier
    term: str | None = None  # the blocked term found (local policy only)


_WORD = re.compile(r"\w+")


class LocalPolicy:
    """Blocked terms as whole words over the normalized text: the text is split into words once and
    each word looked up (a set for one-word terms, the first word for phrases), so the cost follows
    the text's length, not the list's. 'kill' refuses 'Kill it!' but not 'skilled'; a phrase matches
    its words in a row whatever separates them ('severed head', 'severed-head')."""

    def __init__(self, terms: tuple[str, ...]):
        phrases = {tuple(_WORD.findall(normalize(t))) for t in terms}
        phrases.discard(())
        self.terms = tuple(sorted(" ".join(p) for p in phrases))
        self._words = {p[0] for p in phrases if len(p) == 1}
        self._phrases: dict[str, list[tuple[str, ...]]] = {}
        for p in sorted((p for p in phrases if len(p) > 1), key=len, reverse=True):
            self._phrases.setdefault(p[0], []).append(p)

    def find(self, text: str | None) -> str | None:
        if not text or not (self._words or self._phrases):
            return None
        words = _WORD.findall(normalize(text))
        for i, word in enumerate(words):
            if word in self._words:
                return word
            for phrase in self._phrases.get(word, ()):
                if tuple(words[i:i + len(phrase)]) == phrase:
                    return " ".join(phrase)
        return None

    def check(self, texts: dict[str, str | None]) -> Refusal | None:
        for field, text in texts.items():
            term = self.find(text)
            if term is not None:
                return Refusal(field, BLOCKED_TERM, "local", term)
        return None


class ClassifierUnavailable(Exception):
    """The hosted classifier did not answer in time, or answered with an error."""


class Classifier(Protocol):
    def check(self, texts: dict[str, str | None], image: str | None) -> Refusal | None: ...


class OpenAIClassifier:
    """OpenAI's moderation endpoint (POST /v1/moderations) through the official client. The request
    and answer shapes are the client's own types (openai-python src/openai/types/moderation*.py,
    resources/moderations.py: `input` is a string, a list of strings (one result each) or a list of
    multi-modal parts, `{"type": "image_url", "image_url": {"url": <URL or data: URL>}}`)."""

    def __init__(self, api_key: str, base_url: str, model: str, timeout_seconds: float):
        self.api_key, self.base_url, self.model, self.timeout = api_key, base_url, model, timeout_seconds

    @cached_property
    def client(self):
        import openai  # only where the classifier is configured: cold starts elsewhere skip it

        # No retries: the whole check has one time budget, and a retry would spend it twice.
        return openai.OpenAI(api_key=self.api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0)

    def check(self, texts: dict[str, str | None], image: str | None) -> Refusal | None:
        import openai

        deadline = time.monotonic() + self.timeout
        fields = [f for f, t in texts.items() if t]
        try:
            if fields:
                answer = self.client.moderations.create(model=self.model, input=[texts[f] for f in fields])
                for field, result in zip(fields, answer.results):
                    category = _flagged_category(result, NEGATIVE_PROMPT_CATEGORIES if field == "negative_prompt" else None)
                    if category:
                        return Refusal(field, category, "classifier")
            if image:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ClassifierUnavailable(f"no time left for the image within {self.timeout} s")
                answer = self.client.with_options(timeout=left).moderations.create(
                    model=self.model, input=[{"type": "image_url", "image_url": {"url": image}}])
                category = _flagged_category(answer.results[0]) if answer.results else None
                if category:
                    return Refusal("image", category, "classifier")
        except openai.OpenAIError as exc:  # timeouts, connection errors and error statuses alike
            raise ClassifierUnavailable(f"{type(exc).__name__}: {exc}") from None
        return None


def _flagged_category(result, only: frozenset[str] | None = None) -> str | None:
    """The highest-scoring flagged category of one result (names as the API spells them, e.g.
    'sexual/minors'), limited to `only` when given; None when nothing counts."""
    if not result.flagged:
        return None
    flags = result.categories.model_dump(by_alias=True)
    scores = result.category_scores.model_dump(by_alias=True)
    flagged = [c for c, on in flags.items() if on and (only is None or c in only)]
    return max(flagged, key=lambda c: scores.get(c) or 0.0) if flagged else None


class Moderator:
    """The content policy as configured: the local policy, and the classifier when there is one."""

    def __init__(self, settings, classifier: Classifier | None = None):
        self.settings = settings
        self.local = LocalPolicy(DEFAULT_TERMS + parse_terms(settings.blocked_terms))
        if classifier is None and settings.openai_api_key:
            classifier = OpenAIClassifier(settings.openai_api_key, settings.openai_base_url,
                                          settings.moderation_model, settings.moderation_timeout_seconds)
        self.classifier = classifier

    def check(self, texts: dict[str, str | None], image: str | None = None) -> Refusal | None:
        """The first refusal, or None. Raises ServiceUnavailable when the classifier cannot answer
        and MODERATION_FAIL_OPEN is off (nothing was charged)."""
        refusal = self.local.check(texts)
        if refusal is not None or self.classifier is None:
            return refusal
        started = time.perf_counter()
        try:
            return self.classifier.check(texts, image)
        except ClassifierUnavailable as exc:
            if self.settings.moderation_fail_open:
                log.warning("content classifier unavailable, letting the create through (fail open): %s", exc)
                return None
            log.warning("content classifier unavailable, refusing the create (fail closed): %s", exc)
            raise errors.ServiceUnavailable("The content check is unavailable right now; nothing was charged. "
                                            "Try again shortly.") from None
        finally:
            log.debug("content classifier took %.1f ms", (time.perf_counter() - started) * 1000)


def image_for_classifier(data: bytes) -> str:
    """An uploaded image as the data: URL the classifier takes, shrunk to a thumbnail (JPEG)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (CLASSIFIER_IMAGE_SIDE, CLASSIFIER_IMAGE_SIDE))  # JPEG: decode at a reduced scale
        img.thumbnail((CLASSIFIER_IMAGE_SIDE, CLASSIFIER_IMAGE_SIDE))
        out = io.BytesIO()
        img.convert("RGB").save(out, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def screen(svc, user_id: uuid.UUID, request, *, image: bytes | None = None, image_path: str | None = None) -> None:
    """The create path's check, before the charge (text-to-video, image-to-video, retry, extend: all
    pass through generations.create). A refusal is recorded and counted, then raised as 422."""
    texts = {"prompt": request.prompt, "negative_prompt": request.negative_prompt}
    moderator = svc.moderation
    image_ref = None
    if moderator.classifier is not None:
        if image is not None:
            image_ref = image_for_classifier(image)
        elif image_path:  # a retry's or an extend's stored image: the classifier fetches it
            image_ref = svc.storage.signed_url(image_path, 600)
    refusal = moderator.check(texts, image_ref)
    if refusal is None:
        return
    settings = svc.settings
    caller = ratelimit.current()
    recorded = svc.backend.call(
        "record_content_refusal", p_user_id=user_id, p_field=refusal.field, p_category=refusal.category,
        p_source=refusal.source, p_prompt=request.prompt if settings.moderation_store_prompts else None,
        p_rate_limit=settings.create_rate_per_minute, p_strikes=settings.moderation_strikes,
        p_block_seconds=settings.moderation_block_seconds,
        p_api_key_id=caller.api_key_id if caller else None)
    rate = recorded["rate"]
    if not rate["allowed"]:
        raise ratelimit.create_refused(f"You have made {rate['limit']} generations this minute, the most allowed.",
                                       rate)
    ratelimit.note_create(rate)
    raise errors.ContentPolicy(refusal.field, refusal.category, term=refusal.term,
                               blocked_until=recorded.get("blocked_until"))
