"""The library (issue 25): favorites, and the filters of GET /generations (favorite, status, kind,
q: words of the prompt). The filtered history is search_generations (migrations/0016), each filter
on an index of its own; the page and its cursor are the history's (shared/generations.py)."""

from __future__ import annotations

import uuid

from shared import errors
from shared.services import Services

MAX_QUERY_WORDS = 20


def set_favorite(svc: Services, user_id: uuid.UUID, generation_id: uuid.UUID, favorite: bool) -> dict:
    """Mark or unmark one of the caller's generations; the same answer however often it is asked."""
    return svc.backend.call("set_favorite", p_user_id=user_id, p_gen_id=generation_id, p_favorite=favorite)


def filters(*, favorite: bool | None, status: str | None, kind: str | None, q: str | None) -> dict:
    """The filters asked for, checked: `q` must hold a word (letters or digits), at most MAX_QUERY_WORDS."""
    if q is not None:
        q = q.strip()
        if "\x00" in q:
            raise _bad_q("must not contain a NUL character (U+0000)")
        words = [w for w in q.split() if any(c.isalnum() for c in w)]
        if not q:
            q = None
        elif not words:
            raise _bad_q("must contain a word (letters or digits)")
        elif len(words) > MAX_QUERY_WORDS:
            raise _bad_q(f"may have at most {MAX_QUERY_WORDS} words")
    return {"favorite": favorite, "status": status, "kind": kind, "q": q}


def _bad_q(message: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(errors=[{"field": "q", "message": f"q: {message}"}])
