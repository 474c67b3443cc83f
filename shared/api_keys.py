"""Personal API keys (issue 13): `wan_live_<8 hex prefix>_<secret>`, the secret 32 random bytes.

Stored: the prefix (to find the row), the last 4 characters (to show), and a salted scrypt hash of
the secret (`hashlib.scrypt`, OpenSSL's; N=2^14, r=8, p=1, the interactive-login cost). A key has 256
bits of entropy, so a fast keyed hash would resist guessing as well; scrypt is kept because it costs
nothing where it matters: a container checks a key once, then trusts it for API_KEY_CACHE_SECONDS
(memory only, keyed by the key's SHA-256), so a create made with a key costs no database round trip
more than one made with a session token. Revoking drops the key from this container's cache at once;
other containers stop trusting it within API_KEY_CACHE_SECONDS.
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
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32}
_CACHE_MAX = 10_000

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


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)


def cached(token: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(user, key) of a key this container verified within API_KEY_CACHE_SECONDS; no I/O."""
    trusted = _cache.get(hashlib.sha256(token.encode()).digest())
    if trusted is not None and trusted.until > time.monotonic():
        return trusted.user_id, trusted.key_id
    return None


def verify(token: str, svc) -> tuple[uuid.UUID, uuid.UUID]:
    """(user, key) of a valid, unrevoked key; Unauthorized saying why otherwise. Blocking (database
    and scrypt): the request guard runs it in a thread, and only when the cache did not answer."""
    found = cached(token)
    if found:
        return found
    match = _KEY.match(token)
    if not match:
        raise errors.Unauthorized(MALFORMED)
    prefix, secret = match.groups()
    row = svc.backend.call("api_key_by_prefix", p_prefix=prefix)
    if not row or not hmac.compare_digest(_hash(secret, base64.b64decode(row["salt"])),
                                          base64.b64decode(row["secret_hash"])):
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
        p_secret_hash=base64.b64encode(_hash(secret, salt)).decode(), p_salt=base64.b64encode(salt).decode(),
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
