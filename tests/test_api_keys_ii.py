"""Issue 20, item 4: API keys checked with a keyed fast hash (HMAC-SHA256 with API_KEY_PEPPER): a wrong
secret on a real prefix costs what an unknown prefix costs (no scrypt, no timing oracle, no CPU
amplifier), and keys issued under issue 13's scrypt keep working and are rewritten on first use."""

from __future__ import annotations

import base64
import hashlib
import secrets

import pytest

from shared import api_keys
from tests.support import assert_error
from tests.test_api_keys import new_key

_SCRYPT = hashlib.scrypt  # the test's own, uncounted


@pytest.fixture
def stack_settings():
    return {"api_key_cache_seconds": 0, "api_key_pepper": "pepper-" + secrets.token_hex(16)}


@pytest.fixture
def scrypt_calls(monkeypatch):
    calls = []
    real = hashlib.scrypt

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(api_keys.hashlib, "scrypt", counting)
    return calls


def wrong_secret(key: str) -> str:
    prefix = key.split("_")[2]
    return f"wan_live_{prefix}_{'A' * 43}"


def test_new_keys_are_stored_as_a_peppered_hmac(api, db, stack):
    made = new_key(api, api.token())
    secret = made["key"].split("_", 3)[3]
    stored, salt = db.execute("select secret_hash, salt from public.api_keys where id = %s", (made["id"],)).fetchone()
    assert stored.startswith("hmac-sha256$")
    import hmac as hmac_
    expected = hmac_.new(stack.settings.api_key_pepper.encode(), base64.b64decode(salt) + secret.encode(),
                         hashlib.sha256).digest()
    assert stored == "hmac-sha256$" + base64.b64encode(expected).decode()
    assert api.http.get("/credits", headers=api.auth(made["key"])).status_code == 200


def test_a_wrong_secret_on_a_real_prefix_costs_no_scrypt_and_answers_as_an_unknown_prefix(api, scrypt_calls):
    made = new_key(api, api.token())
    wrong = assert_error(api.http.get("/credits", headers=api.auth(wrong_secret(made["key"]))), 401, "unauthorized")
    unknown = assert_error(api.http.get("/credits", headers=api.auth(f"wan_live_00000000_{'A' * 43}")),
                           401, "unauthorized")
    assert wrong["detail"] == unknown["detail"]
    assert scrypt_calls == []  # the same HMAC path for both: nothing slow for a caller to measure or pile up


def _legacy_key(db, user_id) -> str:
    """A key as issue 13 stored it: a bare base64 scrypt hash."""
    prefix, secret, salt = secrets.token_hex(4), secrets.token_urlsafe(32), secrets.token_bytes(16)
    digest = _SCRYPT(secret.encode(), salt=salt, n=2 ** 14, r=8, p=1, dklen=32)
    db.execute("insert into public.api_keys (user_id, name, prefix, last_chars, secret_hash, salt) "
               "values (%s, 'old', %s, %s, %s, %s)",
               (user_id, prefix, secret[-4:], base64.b64encode(digest).decode(), base64.b64encode(salt).decode()))
    return f"wan_live_{prefix}_{secret}"


def test_a_key_issued_under_scrypt_still_works_and_is_rewritten_on_first_use(api, db, scrypt_calls):
    user_id, token = api.signup()
    key = _legacy_key(db, user_id)
    prefix = key.split("_")[2]
    assert api.http.get("/credits", headers=api.auth(key)).status_code == 200
    stored = db.execute("select secret_hash from public.api_keys where prefix = %s", (prefix,)).fetchone()[0]
    assert stored.startswith("hmac-sha256$") and len(scrypt_calls) == 1
    assert api.http.get("/credits", headers=api.auth(key)).status_code == 200
    assert len(scrypt_calls) == 1  # from now on the fast path


def test_wrong_secrets_on_a_scrypt_key_are_bounded_per_prefix(api, db, scrypt_calls):
    user_id, token = api.signup()
    key = _legacy_key(db, user_id)
    for _ in range(api_keys.LEGACY_CHECKS_PER_MINUTE + 10):
        assert_error(api.http.get("/credits", headers=api.auth(wrong_secret(key))), 401, "unauthorized")
    assert len(scrypt_calls) == api_keys.LEGACY_CHECKS_PER_MINUTE  # the rest answered without hashing


def test_a_key_made_under_another_pepper_is_not_known(api, stack):
    made = new_key(api, api.token())
    services = stack.services
    configured = services.settings
    services.settings = configured.model_copy(update={"api_key_pepper": "another-" + secrets.token_hex(16)})
    try:
        assert_error(api.http.get("/credits", headers=api.auth(made["key"])), 401, "unauthorized")
    finally:
        services.settings = configured
    assert api.http.get("/credits", headers=api.auth(made["key"])).status_code == 200
