"""Personal API keys (issue 13): `wan_live_<8 hex prefix>_<secret>`, the secret 32 random bytes.

Stored: the prefix (to find the row), the last 4 characters (to show), and a keyed hash of the secret:
`hmac-sha256$<base64 HMAC-SHA256(API_KEY_PEPPER, salt || secret)>` (issue 20). A secret of 256 random
bits cannot be guessed whatever the hash costs, so a slow hash bought nothing but a CPU amplifier (32
threads of wrong secrets on a real prefix, 125 ms of scrypt each, took /pricing's p50 from 80 to 544
ms) and a timing oracle (a real prefix answered slower than an unknown one). Now an unknown prefix, a
wrong secret and a right one cost the same: one database lookup and one HMAC (a dummy one when no row
is found). The pepper, a server-side secret outside the database, means a leaked table alone cannot
even confirm a stolen key.

Keys issued before (issue 13) hold a bare base64 scrypt hash (N=2^14, r=8, p=1). They keep working: the
first time one is used with its right secret, its row is rewritten to the HMAC form (compare-and-set,
`upgrade_api_key_hash`). Until then a wrong secret on such a prefix still costs a scrypt, so those checks
are bounded: at most LEGACY_CHECKS_PER_MINUTE failed ones per prefix per container, and one at a time
per container; past that the key answers "not known" without hashing.

A container checks a key once, then trusts it for API_KEY_CACHE_SECONDS (memory only, keyed by the
key's SHA-256). Revoking drops the key from this container's cache at once; other containers stop
trusting it within API_KEY_CACHE_SECONDS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass

from shared import errors

MAX_ACTIVE_KEYS = 10
PREFIX = "wan_live_"
_KEY = re.compile(r"^wan_live_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32}  # legacy rows only (issue 13's keys)
_SCHEME = "hmac-sha256$"
_CACHE_MAX = 10_000
LEGACY_CHECKS_PER_MINUTE = 5
_DUMMY_SALT = b"\x00" * 16

MALFORMED = "This API key is malformed: a key looks like wan_live_<8 characters>_<43 characters>."
UNKNOWN = "This API key is not known: check that it was copied whole, or create a new one."
REVOKED = "This API key was revoked; create a new one."


def is_api_key(token: str) -> bool:
    return token.startswith("wan_")


@dataclass(frozen=True)
class _Trusted:
    user_id: uuid.UUID
    key_id: uuid.UUID
    until: float


_cache: dict[bytes, _Trusted] = {}
_lock = threading.Lock()


def _hash(secret: str, salt: bytes, pepper: str | None) -> str:
    """The stored form of a secret: HMAC-SHA256 keyed with the pepper, over salt and secret."""
    digest = hmac.new((pepper or "").encode(), salt + secret.encode(), hashlib.sha256).digest()
    return _SCHEME + base64.b64encode(digest).decode()


_legacy_lock = threading.Lock()      # one scrypt at a time per container
_legacy_failures: dict[str, list[float]] = {}


def _legacy_matches(prefix: str, secret: str, row: dict) -> bool:
    """An issue-13 scrypt row, checked at most LEGACY_CHECKS_PER_MINUTE times per prefix per minute
    once wrong (a CPU bound on what a caller without the secret can make us do)."""
    now = time.monotonic()
    with _legacy_lock:
        recent = [t for t in _legacy_failures.get(prefix, []) if now - t < 60]
        if len(recent) >= LEGACY_CHECKS_PER_MINUTE:
            _legacy_failures[prefix] = recent
            return False
        computed = hashlib.scrypt(secret.encode(), salt=base64.b64decode(row["salt"]), **_SCRYPT)
        ok = hmac.compare_digest(computed, base64.b64decode(row["secret_hash"]))
        if not ok:
            if len(_legacy_failures) >= _CACHE_MAX:
                _legacy_failures.clear()
            _legacy_failures[prefix] = recent + [now]
        return ok


def _matches(prefix: str, secret: str, row: dict | None, svc) -> bool:
    pepper = svc.settings.api_key_pepper
    if row is None:  # the same HMAC and compare as for a real row: no timing tells the two apart
        hmac.compare_digest(_hash(secret, _DUMMY_SALT, pepper), _SCHEME)
        return False
    stored = row["secret_hash"]
    if stored.startswith(_SCHEME):
        return hmac.compare_digest(_hash(secret, base64.b64decode(row["salt"]), pepper), stored)
    if not _legacy_matches(prefix, secret, row):
        return False
    # Right secret on an issue-13 row: rewrite it to the HMAC form (only if nobody did meanwhile).
    svc.backend.call("upgrade_api_key_hash", p_key_id=row["id"], p_old_hash=stored,
                     p_new_hash=_hash(secret, base64.b64decode(row["salt"]), pepper))
    return True


def cached(token: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(user, key) of a key this container verified within API_KEY_CACHE_SECONDS; no I/O."""
    trusted = _cache.get(hashlib.sha256(token.encode()).digest())
    if trusted is not None and trusted.until > time.monotonic():
        return trusted.user_id, trusted.key_id
    return None


def verify(token: str, svc) -> tuple[uuid.UUID, uuid.UUID]:
    """(user, key) of a valid, unrevoked key; Unauthorized saying why otherwise. Blocking (database):
    the request guard runs it in a thread, and only when the cache did not answer."""
    found = cached(token)
    if found:
        return found
    match = _KEY.match(token)
    if not match:
        raise errors.Unauthorized(MALFORMED)
    prefix, secret = match.groups()
    row = svc.backend.call("api_key_by_prefix", p_prefix=prefix)
    if not _matches(prefix, secret, row or None, svc):
        raise errors.Unauthorized(UNKNOWN)  # a wrong secret for a real prefix says no more than that
    if row["revoked"]:
        raise errors.Unauthorized(REVOKED)
    user_id, key_id = uuid.UUID(row["user_id"]), uuid.UUID(row["id"])
    ttl = svc.settings.api_key_cache_seconds
    if ttl > 0:
        with _lock:
            if len(_cache) >= _CACHE_MAX:
                _cache.clear()
            _cache[hashlib.sha256(token.encode()).digest()] = _Trusted(user_id, key_id, time.monotonic() + ttl)
    return user_id, key_id


def create(svc, user_id: uuid.UUID, name: str) -> dict:
    """A new key: its row as listed, plus `key`, the whole key, shown this once."""
    prefix, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    row = svc.backend.call(
        "create_api_key", p_user_id=user_id, p_name=name, p_prefix=prefix, p_last_chars=secret[-4:],
        p_secret_hash=_hash(secret, salt, svc.settings.api_key_pepper), p_salt=base64.b64encode(salt).decode(),
        p_max_active=MAX_ACTIVE_KEYS)
    return {**row, "key": f"{PREFIX}{prefix}_{secret}"}


def listed(svc, user_id: uuid.UUID) -> dict:
    return {"items": svc.backend.call("list_api_keys", p_user_id=user_id)}


def revoke(svc, user_id: uuid.UUID, key_id: uuid.UUID) -> dict:
    row = svc.backend.call("revoke_api_key", p_user_id=user_id, p_key_id=key_id)
    with _lock:  # this container stops trusting it at once
        for digest in [d for d, t in _cache.items() if t.key_id == key_id]:
            del _cache[digest]
    return row
