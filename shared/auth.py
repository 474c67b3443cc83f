"""Supabase access tokens, verified locally with PyJWT: signature, `exp` and `aud` always.

HS256 with SUPABASE_JWT_SECRET when it is set; otherwise ES256/RS256 against the project's JWKS
(<SUPABASE_URL>/auth/v1/.well-known/jwks.json), whose keys are cached per container.
"""

from __future__ import annotations

import uuid
from functools import lru_cache

import jwt

from shared.errors import Unauthorized
from shared.settings import Settings

AUDIENCE = "authenticated"


@lru_cache(maxsize=4)
def _jwks_client(supabase_url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(f"{supabase_url.rstrip('/')}/auth/v1/.well-known/jwks.json",
                           cache_keys=True, lifespan=600, timeout=5)


def user_id_from_header(authorization: str | None, settings: Settings) -> uuid.UUID:
    """The user id (`sub`) of a valid `Authorization: Bearer <token>`; Unauthorized otherwise."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Sign in first: send your access token as 'Authorization: Bearer <token>'.")
    return verify_token(token.strip(), settings)


def verify_token(token: str, settings: Settings) -> uuid.UUID:
    options = {"require": ["exp", "sub", "aud"]}
    try:
        if settings.supabase_jwt_secret:
            claims = jwt.decode(token, settings.supabase_jwt_secret, algorithms=["HS256"],
                                audience=AUDIENCE, options=options)
        elif settings.supabase_url:
            key = _jwks_client(settings.supabase_url).get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=["ES256", "RS256"], audience=AUDIENCE,
                                options=options)
        else:
            raise Unauthorized("The server cannot check access tokens: it has no JWT secret or Supabase URL.")
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
