"""Supabase access tokens, verified locally with PyJWT: signature, `exp` and `aud` always.

The token's own `alg` header picks the check, so both kinds work at once (after a project moves to
signing keys, its older HS256 tokens stay valid until they expire):
- HS256 with SUPABASE_JWT_SECRET, when it is set;
- ES256/RS256 against the project's JWKS (<SUPABASE_URL>/auth/v1/.well-known/jwks.json), when
  SUPABASE_URL is set. The key set is cached for JWKS_LIFESPAN_SECONDS only (a key removed from the
  JWKS stops being trusted within that time), and a token naming an unknown `kid` refetches it at most
  once per UNKNOWN_KID_REFETCH_SECONDS, so a stream of forged kids cannot hammer Supabase.
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


class _Jwks:
    """The project's signing keys: PyJWT's key-set cache (with a lifespan; no per-key cache, which
    would keep a rotated-out key forever) plus our own bound on refetches for unknown kids."""

    def __init__(self, url: str):
        import jwt

        self.client = jwt.PyJWKClient(url, cache_keys=False, cache_jwk_set=True, lifespan=JWKS_LIFESPAN_SECONDS,
                                      headers={"User-Agent": USER_AGENT}, timeout=5)
        self._lock = threading.Lock()
        self._last_forced = float("-inf")

    def key(self, kid: str | None) -> jwt.PyJWK:
        import jwt

        keys = {k.key_id: k for k in self.client.get_signing_keys()}  # refetched once the set expires
        if kid not in keys:
            with self._lock:
                if time.monotonic() - self._last_forced >= UNKNOWN_KID_REFETCH_SECONDS:
                    self._last_forced = time.monotonic()
                    keys = {k.key_id: k for k in self.client.get_signing_keys(refresh=True)}
        if kid not in keys:
            raise jwt.PyJWKClientError(f"no signing key {kid!r} in the project's JWKS")
        return keys[kid]


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

    options = {"require": ["exp", "sub", "aud"]}
    alg = _alg(token)
    try:
        if alg == "HS256" and settings.supabase_jwt_secret:
            key = settings.supabase_jwt_secret
        elif alg in ASYMMETRIC and settings.supabase_url:
            key = _jwks(settings.supabase_url).key(jwt.get_unverified_header(token).get("kid")).key
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
        return uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise Unauthorized("The access token does not name a user.") from None
