"""Supabase access tokens, verified locally with PyJWT: signature, `exp` and `aud` always.

The token's own `alg` header picks the check, so both kinds work at once (after a project moves to
signing keys, its older HS256 tokens stay valid until they expire):
- HS256 with SUPABASE_JWT_SECRET, when it is set;
- ES256/RS256 against the project's JWKS (<SUPABASE_URL>/auth/v1/.well-known/jwks.json), when
  SUPABASE_URL is set. The key set is cached for JWKS_LIFESPAN_SECONDS only (a key removed from the
  JWKS stops being trusted within that time), and a token naming an unknown `kid` refetches it at most
  once per UNKNOWN_KID_REFETCH_SECONDS, so a stream of forged kids cannot hammer Supabase.

A token verified once is trusted by this container until it expires (a frontend polls with the same
token for its whole hour): a signing-key token no longer than the key set that verified it is fresh,
so a removed key still stops being trusted within JWKS_LIFESPAN_SECONDS. Verifying costs ~0.13 ms of
CPU per request on the hot status path (docs/benchmarks.md); a lookup costs a dict probe.
"""

from __future__ import annotations

import threading
import time
import uuid
from functools import lru_cache
from typing import TYPE_CHECKING

from shared.errors import Unauthorized
from shared.settings import Settings

if TYPE_CHECKING:
    import jwt

AUDIENCE = "authenticated"
LEEWAY_SECONDS = 30            # clock skew allowed on iat/nbf/exp
JWKS_LIFESPAN_SECONDS = 300.0
UNKNOWN_KID_REFETCH_SECONDS = 60.0
USER_AGENT = "wan-video-api (PyJWT JWKS client)"
ASYMMETRIC = ("ES256", "RS256")
TOKEN_CACHE_MAX = 10_000      # tokens remembered per container; the whole cache is dropped when full

_verified: dict[tuple[str, str | None, str | None], tuple[uuid.UUID, float]] = {}  # -> (user, until: monotonic)
_verified_lock = threading.Lock()


class _Jwks:
    """The project's signing keys, fetched by PyJWT's client and kept JWKS_LIFESPAN_SECONDS here (no
    per-key cache, which would keep a rotated-out key forever), with our own bound on refetches for
    unknown kids. The set and its fetch time are read together, so a key's answer says until when
    the very set it came from is fresh (a remembered token must not outlive it)."""

    def __init__(self, url: str):
        import jwt

        self.client = jwt.PyJWKClient(url, cache_keys=False, cache_jwk_set=False,
                                      headers={"User-Agent": USER_AGENT}, timeout=5)
        self._lock = threading.Lock()  # one fetch at a time; the others wait for its answer
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched = float("-inf")
        self._last_forced = float("-inf")

    def _fetch(self) -> None:
        self._keys = {k.key_id: k for k in self.client.get_signing_keys()}
        self._fetched = time.monotonic()

    def key(self, kid: str | None) -> tuple[jwt.PyJWK, float]:
        """The signing key `kid`, and until when (monotonic) the key set it came from is fresh."""
        import jwt

        with self._lock:
            if time.monotonic() - self._fetched >= JWKS_LIFESPAN_SECONDS:
                self._fetch()
            if kid not in self._keys and time.monotonic() - self._last_forced >= UNKNOWN_KID_REFETCH_SECONDS:
                self._last_forced = time.monotonic()
                self._fetch()
            keys, fresh_until = self._keys, self._fetched + JWKS_LIFESPAN_SECONDS
        if kid not in keys:
            raise jwt.PyJWKClientError(f"no signing key {kid!r} in the project's JWKS")
        return keys[kid], fresh_until


@lru_cache(maxsize=4)
def _jwks(supabase_url: str) -> _Jwks:
    return _Jwks(f"{supabase_url.rstrip('/')}/auth/v1/.well-known/jwks.json")


def user_id_from_header(authorization: str | None, settings: Settings) -> uuid.UUID:
    """The user id (`sub`) of a valid `Authorization: Bearer <token>`; Unauthorized otherwise."""
    return verify_token(bearer_token(authorization), settings)


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Sign in first: send your access token as 'Authorization: Bearer <token>'.")
    return token.strip()


def needs_network(token: str, settings: Settings) -> bool:
    """Whether checking this token may fetch the JWKS (the caller then runs it off the event loop)."""
    return bool(settings.supabase_url) and _alg(token) in ASYMMETRIC


def cached_user(token: str, settings: Settings) -> uuid.UUID | None:
    """The user of a token this container verified and still trusts (see the module's notes); no I/O."""
    hit = _verified.get((token, settings.supabase_jwt_secret, settings.supabase_url))
    if hit is not None and hit[1] > time.monotonic():
        return hit[0]
    return None


def _remember(token: str, settings: Settings, user_id: uuid.UUID, until: float) -> None:
    with _verified_lock:
        if len(_verified) >= TOKEN_CACHE_MAX:
            _verified.clear()
        _verified[(token, settings.supabase_jwt_secret, settings.supabase_url)] = (user_id, until)


def _alg(token: str) -> str | None:
    # PyJWT (and the cryptography it loads) is imported on the first token, not with the module:
    # it is a third of a web function's cold import (docs/benchmarks.md).
    import jwt

    try:
        return jwt.get_unverified_header(token).get("alg")
    except jwt.InvalidTokenError:
        return None


def verify_token(token: str, settings: Settings) -> uuid.UUID:
    import jwt

    known = cached_user(token, settings)
    if known is not None:
        return known
    options = {"require": ["exp", "sub", "aud"]}
    alg = _alg(token)
    key_fresh_until = float("inf")
    try:
        if alg == "HS256" and settings.supabase_jwt_secret:
            key = settings.supabase_jwt_secret
        elif alg in ASYMMETRIC and settings.supabase_url:
            signing_key, key_fresh_until = _jwks(settings.supabase_url).key(jwt.get_unverified_header(token).get("kid"))
            key = signing_key.key
        elif not settings.supabase_jwt_secret and not settings.supabase_url:
            raise Unauthorized("The server cannot check access tokens: it has no JWT secret or Supabase URL.")
        else:
            raise Unauthorized("The access token is not signed in a way this server accepts.")
        claims = jwt.decode(token, key, algorithms=[alg], audience=AUDIENCE, options=options,
                            leeway=LEEWAY_SECONDS)
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Your access token has expired; sign in again.") from None
    except jwt.InvalidAudienceError:
        raise Unauthorized("This access token is not for signed-in users.") from None
    except jwt.PyJWKClientError:
        raise Unauthorized("The access token's signing key is unknown.") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("The access token is not valid.") from None
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise Unauthorized("The access token does not name a user.") from None
    # Trusted until it expires (without the leeway: after that, it is checked again, leeway and all).
    _remember(token, settings, user_id, min(time.monotonic() + float(claims["exp"]) - time.time(), key_fresh_until))
    return user_id


def app_metadata_role(token: str, settings: Settings) -> str | None:
    """`app_metadata.role` of a valid token (Supabase's claims only the service key can set: the
    operator console's admin role). Verified first; the claims are then read from that same token."""
    import jwt

    verify_token(token, settings)
    meta = jwt.decode(token, options={"verify_signature": False}).get("app_metadata")
    role = meta.get("role") if isinstance(meta, dict) else None
    return role if isinstance(role, str) else None


def token_email(token: str) -> str | None:
    """The `email` claim of a token already verified (for the audit's "who")."""
    import jwt

    email = jwt.decode(token, options={"verify_signature": False}).get("email")
    return email if isinstance(email, str) else None
