"""Access tokens: HS256 with the project's JWT secret, or ES256/RS256 against the project's JWKS
(served here on loopback, as Supabase Auth serves it); signature, expiry and audience always checked."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared import auth
from shared.auth import _jwks, user_id_from_header, verify_token
from shared.errors import Unauthorized
from shared.settings import Settings
from tests.support import RecordedHttp, wait_for


def claims(**extra) -> dict:
    now = int(time.time())
    return {"sub": str(uuid.uuid4()), "aud": "authenticated", "role": "authenticated", "iat": now,
            "exp": now + 300} | extra


@pytest.fixture
def supabase_auth():
    """A project's JWKS endpoint with one EC and one RSA signing key."""
    fake = RecordedHttp()
    keys = {"ec-key": ec.generate_private_key(ec.SECP256R1()), "rsa-key": rsa.generate_private_key(65537, 2048)}
    jwks = []
    for kid, key in keys.items():
        public = json.loads(jwt.algorithms.get_default_algorithms()["ES256" if kid == "ec-key" else "RS256"]
                            .to_jwk(key.public_key()))
        jwks.append(public | {"kid": kid, "use": "sig"})
    fake.answers[("GET", "/auth/v1/.well-known/jwks.json")] = (200, {"keys": jwks})
    _jwks.cache_clear()
    yield fake, keys
    fake.close()
    _jwks.cache_clear()


def test_jwks_tokens_are_verified_with_the_projects_keys(supabase_auth):
    fake, keys = supabase_auth
    settings = Settings(_env_file=None, supabase_url=fake.url, supabase_jwt_secret=None)
    for kid, alg in (("ec-key", "ES256"), ("rsa-key", "RS256")):
        body = claims()
        token = jwt.encode(body, keys[kid], algorithm=alg, headers={"kid": kid})
        assert verify_token(token, settings) == uuid.UUID(body["sub"])


@pytest.mark.parametrize("case", ["foreign_key", "unknown_kid", "expired", "anon_audience", "hs256_downgrade"])
def test_jwks_tokens_that_must_be_refused(supabase_auth, case):
    fake, keys = supabase_auth
    settings = Settings(_env_file=None, supabase_url=fake.url, supabase_jwt_secret=None)
    other = ec.generate_private_key(ec.SECP256R1())
    token = {
        "foreign_key": lambda: jwt.encode(claims(), other, algorithm="ES256", headers={"kid": "ec-key"}),
        "unknown_kid": lambda: jwt.encode(claims(), other, algorithm="ES256", headers={"kid": "nope"}),
        "expired": lambda: jwt.encode(claims(exp=int(time.time()) - 60), keys["ec-key"], algorithm="ES256",
                                      headers={"kid": "ec-key"}),
        "anon_audience": lambda: jwt.encode(claims(aud="anon"), keys["ec-key"], algorithm="ES256",
                                            headers={"kid": "ec-key"}),
        "hs256_downgrade": lambda: jwt.encode(claims(), "guessable-secret-but-long-enough-0123456789",
                                              algorithm="HS256", headers={"kid": "ec-key"}),
    }[case]()
    with pytest.raises(Unauthorized) as refused:
        verify_token(token, settings)
    assert refused.value.body()["code"] == "unauthorized" and refused.value.detail


def test_hs256_needs_the_secret_and_a_bearer_header():
    settings = Settings(_env_file=None, supabase_jwt_secret="s" * 40, supabase_url=None)
    body = claims()
    token = jwt.encode(body, "s" * 40, algorithm="HS256")
    assert user_id_from_header(f"Bearer {token}", settings) == uuid.UUID(body["sub"])
    for header in (None, "", token, f"Token {token}"):
        with pytest.raises(Unauthorized):
            user_id_from_header(header, settings)
    with pytest.raises(Unauthorized):  # a token without exp is refused too
        verify_token(jwt.encode({k: v for k, v in body.items() if k != "exp"}, "s" * 40, algorithm="HS256"), settings)


def test_no_secret_and_no_supabase_url_refuses_every_token():
    with pytest.raises(Unauthorized):
        verify_token(jwt.encode(claims(), "x" * 40, algorithm="HS256"),
                     Settings(_env_file=None, supabase_jwt_secret=None, supabase_url=None))


# --- both kinds at once, key rotation, and a bounded refetch --------------------------------------

SECRET = "legacy-hs256-secret-of-the-project-0123456789"


def jwks_fetches(fake) -> list[dict]:
    return [r for r in fake.requests if r["path"] == "/auth/v1/.well-known/jwks.json"]


def test_hs256_and_signing_key_tokens_are_both_valid_at_once(supabase_auth):
    fake, keys = supabase_auth
    settings = Settings(_env_file=None, supabase_url=fake.url, supabase_jwt_secret=SECRET)
    old, new = claims(), claims()
    assert verify_token(jwt.encode(old, SECRET, algorithm="HS256"), settings) == uuid.UUID(old["sub"])
    token = jwt.encode(new, keys["ec-key"], algorithm="ES256", headers={"kid": "ec-key"})
    assert verify_token(token, settings) == uuid.UUID(new["sub"])
    assert jwks_fetches(fake)[0]["headers"]["user-agent"] == auth.USER_AGENT
    with pytest.raises(Unauthorized):  # an HS256 token signed with anything else is still refused
        verify_token(jwt.encode(claims(), "x" * 48, algorithm="HS256"), settings)
    without_secret = Settings(_env_file=None, supabase_url=fake.url, supabase_jwt_secret=None)
    with pytest.raises(Unauthorized):  # no secret configured: HS256 is never accepted
        verify_token(jwt.encode(old, SECRET, algorithm="HS256"), without_secret)


def test_a_key_removed_from_the_jwks_stops_being_trusted(supabase_auth, monkeypatch):
    fake, keys = supabase_auth
    monkeypatch.setattr(auth, "JWKS_LIFESPAN_SECONDS", 0.2)
    settings = Settings(_env_file=None, supabase_url=fake.url, supabase_jwt_secret=None)
    token = jwt.encode(claims(), keys["ec-key"], algorithm="ES256", headers={"kid": "ec-key"})
    verify_token(token, settings)
    status, jwks = fake.answers[("GET", "/auth/v1/.well-known/jwks.json")]
    fake.answers[("GET", "/auth/v1/.well-known/jwks.json")] = (
        status, {"keys": [k for k in jwks["keys"] if k["kid"] != "ec-key"]})  # the project revoked it

    def refused() -> bool:
        try:
            verify_token(token, settings)
        except Unauthorized:
            return True
        return False

    assert wait_for(refused)  # within the key set's lifespan, not never
    rsa_token = jwt.encode(claims(), keys["rsa-key"], algorithm="RS256", headers={"kid": "rsa-key"})
    verify_token(rsa_token, settings)  # the key still listed still works


def test_an_unknown_kid_does_not_refetch_the_jwks_on_every_request(supabase_auth):
    fake, keys = supabase_auth
    settings = Settings(_env_file=None, supabase_url=fake.url, supabase_jwt_secret=None)
    forged = jwt.encode(claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                        headers={"kid": "not-a-key-of-ours"})
    for _ in range(20):
        with pytest.raises(Unauthorized):
            verify_token(forged, settings)
    assert len(jwks_fetches(fake)) == 2  # the first fetch, and one refetch for the unknown kid
    good = jwt.encode(claims(), keys["ec-key"], algorithm="ES256", headers={"kid": "ec-key"})
    verify_token(good, settings)
    assert len(jwks_fetches(fake)) == 2  # known keys come from the cached set


@pytest.mark.parametrize("offset,accepted", [(-10, True), (-60, False)])
def test_expiry_allows_a_small_clock_skew(offset, accepted):
    settings = Settings(_env_file=None, supabase_jwt_secret=SECRET, supabase_url=None)
    body = claims(exp=int(time.time()) + offset)
    token = jwt.encode(body, SECRET, algorithm="HS256")
    if accepted:
        assert verify_token(token, settings) == uuid.UUID(body["sub"])
    else:
        with pytest.raises(Unauthorized):
            verify_token(token, settings)


def test_a_token_issued_slightly_in_the_future_is_accepted():
    settings = Settings(_env_file=None, supabase_jwt_secret=SECRET, supabase_url=None)
    body = claims(iat=int(time.time()) + 20, nbf=int(time.time()) + 20)
    assert verify_token(jwt.encode(body, SECRET, algorithm="HS256"), settings) == uuid.UUID(body["sub"])


def test_a_token_is_verified_once_then_trusted_until_it_expires(monkeypatch):
    """The status path polls with one token for its whole life: its signature is checked once per
    container, and the remembered answer ends at the token's expiry (then the full check, leeway and
    all, decides again)."""
    settings = Settings(_env_file=None, supabase_jwt_secret=SECRET, supabase_url=None)
    decodes = []
    real_decode = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: (decodes.append(1), real_decode(*a, **k))[1])
    body = claims(exp=int(time.time()) + 2)
    token = jwt.encode(body, SECRET, algorithm="HS256")
    for _ in range(5):
        assert verify_token(token, settings) == uuid.UUID(body["sub"])
    assert len(decodes) == 1
    monkeypatch.setattr(auth, "LEEWAY_SECONDS", 0)
    assert wait_for(lambda: auth.cached_user(token, settings) is None)
    with pytest.raises(Unauthorized, match="expired"):
        verify_token(token, settings)


def test_a_remembered_token_is_not_trusted_by_a_server_with_other_keys():
    body = claims()
    token = jwt.encode(body, SECRET, algorithm="HS256")
    assert verify_token(token, Settings(_env_file=None, supabase_jwt_secret=SECRET, supabase_url=None))
    with pytest.raises(Unauthorized):
        verify_token(token, Settings(_env_file=None, supabase_jwt_secret="y" * 40, supabase_url=None))
