"""Issue 13: personal API keys (made, used on every user endpoint, listed without their secret,
revoked, managed by their owner's session only) and the per-minute rate limits with their headers."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.support import Api, assert_error, run_at_once
from tests.test_generation_endpoints import png

KEY = re.compile(r"^wan_live_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$")
NEVER_CACHED = {"api_key_cache_seconds": 0}


@pytest.fixture
def stack_settings():
    return NEVER_CACHED  # a revoked key is refused at once; the limits' tests set their own below


def new_key(api: Api, token: str, name: str = "laptop") -> dict:
    response = api.http.post("/api-keys", json={"name": name}, headers=api.auth(token))
    assert response.status_code == 201, response.text
    return response.json()


def test_a_key_is_shown_once_and_listed_without_its_secret(api, db):
    token = api.token()
    made = new_key(api, token, "ci server")
    assert KEY.match(made["key"]) and made["status"] == "active" and made["name"] == "ci server"
    assert made["prefix"] == made["key"].split("_")[2] and made["key"].endswith(made["last_chars"])
    listed = api.http.get("/api-keys", headers=api.auth(token))
    assert listed.status_code == 200
    (item,) = listed.json()["items"]
    assert item["id"] == made["id"] and item["status"] == "active" and item["last_used_at"] is None
    assert set(item) == {"id", "name", "prefix", "last_chars", "created_at", "last_used_at", "revoked_at", "status"}
    secret = made["key"].split("_", 3)[3]  # wan_live_<prefix>_<secret>; the secret may hold "_" itself
    assert secret not in listed.text
    (stored,) = db.execute("select secret_hash, salt from public.api_keys where id = %s", (made["id"],)).fetchall()
    assert secret not in stored[0] and made["key"] not in str(stored)


def test_a_key_acts_as_its_owner_on_every_user_endpoint(api, stack):
    user_id, token = api.signup()
    key = new_key(api, token)["key"]
    created = api.text_to_video(key)
    assert created.status_code == 202, created.text
    gen_id = created.json()["generation_id"]
    assert api.status(key, gen_id).json()["generation_id"] == gen_id
    assert api.credits(key)["balance"] == 90
    assert api.http.get("/generations", headers=api.auth(key)).json()["items"][0]["generation_id"] == gen_id
    assert api.http.post("/cancel", json={"generation_id": gen_id}, headers=api.auth(key)).json()["status"] == "canceled"
    retried = api.http.post("/retry", json={"generation_id": gen_id}, headers=api.auth(key))
    assert retried.status_code == 202, retried.text
    assert api.image_to_video(key, png()).status_code == 202
    api.http.post("/cancel", json={"generation_id": retried.json()["generation_id"]}, headers=api.auth(key))
    assert api.http.delete(f"/generations/{gen_id}", headers=api.auth(key)).status_code == 200
    assert api.http.post("/generations/delete", json={"generation_ids": [gen_id]},
                         headers=api.auth(key)).status_code == 200
    assert api.http.get("/checkout/status", params={"session_id": "cs_none"},
                        headers=api.auth(key)).status_code == 404  # the caller's own (none): not a 401
    # The same user all along: the token sees what the key did.
    assert api.balance(token) == api.balance(key)
    (item,) = api.http.get("/api-keys", headers=api.auth(token)).json()["items"]
    assert item["last_used_at"] is not None


def test_a_revoked_key_is_refused_and_says_so(api):
    token = api.token()
    made = new_key(api, token)
    assert api.http.get("/credits", headers=api.auth(made["key"])).status_code == 200
    revoked = api.http.delete(f"/api-keys/{made['id']}", headers=api.auth(token))
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    body = assert_error(api.http.get("/credits", headers=api.auth(made["key"])), 401, "unauthorized")
    assert "revoked" in body["detail"]
    assert_error(api.text_to_video(made["key"]), 401, "unauthorized")


@pytest.mark.parametrize("key, word", [
    pytest.param("wan_live_nothex!!_abc", "malformed", id="malformed"),
    pytest.param("wan_" + "x" * 60, "malformed", id="no_prefix"),
    pytest.param("wan_live_0000aaaa_" + "A" * 43, "not known", id="unknown"),
])
def test_malformed_and_unknown_keys_are_401_saying_which(api, key, word):
    body = assert_error(api.http.get("/credits", headers=api.auth(key)), 401, "unauthorized")
    assert word in body["detail"]


def test_a_real_prefix_with_a_wrong_secret_is_unknown(api):
    made = new_key(api, api.token())
    forged = made["key"][:-43] + ("B" * 43 if not made["key"].endswith("B" * 43) else "C" * 43)
    body = assert_error(api.http.get("/credits", headers=api.auth(forged)), 401, "unauthorized")
    assert "not known" in body["detail"]


def test_a_key_cannot_manage_keys(api):
    token = api.token()
    made = new_key(api, token)
    key = made["key"]
    for response in (api.http.post("/api-keys", json={"name": "more"}, headers=api.auth(key)),
                     api.http.get("/api-keys", headers=api.auth(key)),
                     api.http.delete(f"/api-keys/{made['id']}", headers=api.auth(key))):
        assert "sign in" in assert_error(response, 403, "forbidden")["detail"]
    assert api.http.get("/credits", headers=api.auth(key)).status_code == 200  # still active


def test_another_users_session_cannot_revoke_or_see_my_keys(api):
    mine, theirs = api.token(), api.token()
    made = new_key(api, mine)
    assert_error(api.http.delete(f"/api-keys/{made['id']}", headers=api.auth(theirs)), 404, "not_found")
    assert api.http.get("/api-keys", headers=api.auth(theirs)).json()["items"] == []
    assert api.http.get("/credits", headers=api.auth(made["key"])).status_code == 200
    assert_error(api.http.delete(f"/api-keys/{uuid.uuid4()}", headers=api.auth(mine)), 404, "not_found")
    their_key = new_key(api, theirs)["key"]  # nor can their key (a key manages no keys)
    assert_error(api.http.delete(f"/api-keys/{made['id']}", headers=api.auth(their_key)), 403, "forbidden")
    assert api.http.get("/credits", headers=api.auth(made["key"])).status_code == 200


def test_at_most_ten_active_keys_even_when_twenty_are_asked_at_once(api, db):
    user_id, token = api.signup()
    answers = run_at_once(20, lambda i: api.http.post("/api-keys", json={"name": f"k{i}"}, headers=api.auth(token)))
    assert sorted(r.status_code for r in answers) == [201] * 10 + [409] * 10
    assert_error(next(r for r in answers if r.status_code == 409), 409, "invalid_state")
    assert db.execute("select count(*) from public.api_keys where user_id = %s and revoked_at is null",
                      (user_id,)).fetchone()[0] == 10
    first = next(r.json() for r in answers if r.status_code == 201)
    api.http.delete(f"/api-keys/{first['id']}", headers=api.auth(token))
    assert api.http.post("/api-keys", json={"name": "replacement"}, headers=api.auth(token)).status_code == 201


@pytest.mark.parametrize("body", [{}, {"name": "   "}, {"name": "x" * 101}, {"name": "a", "extra": 1},
                                  {"name": "a\x00b"}, {"name": 5}])
def test_a_bad_key_name_is_422(api, body):
    assert_error(api.http.post("/api-keys", json=body, headers=api.auth(api.token())), 422, "invalid_request")


def test_a_cached_key_needs_no_lookup_and_revoking_clears_this_containers_cache(api, stack, monkeypatch):
    """With a cache (the default 30 s) the second call of a key makes no lookup; the container that
    revokes a key stops trusting it at once."""
    monkeypatch.setattr(stack.services.settings, "api_key_cache_seconds", 30.0)
    token = api.token()
    made = new_key(api, token)
    lookups = []
    real_call = stack.services.backend.call

    def counting(function, **params):
        lookups.append(function)
        return real_call(function, **params)

    monkeypatch.setattr(stack.services.backend, "call", counting)
    for _ in range(3):
        assert api.http.get("/credits", headers=api.auth(made["key"])).status_code == 200
    assert lookups.count("api_key_by_prefix") == 1
    api.http.delete(f"/api-keys/{made['id']}", headers=api.auth(token))
    assert_error(api.http.get("/credits", headers=api.auth(made["key"])), 401, "unauthorized")


# ---- rate limits -------------------------------------------------------------------------------

LIMITS = {"create_rate_per_minute": 5, "request_rate_per_minute": 12, "max_active_generations": 100,
          "api_key_cache_seconds": 0}


def _minute_left(db) -> int:
    return int(db.execute("select extract(epoch from date_trunc('minute', now()) + interval '1 minute' - now())")
               .fetchone()[0])


@pytest.fixture
def limited_api(db_url, tmp_path, request):
    """A stack with small limits (the module's `stack` fixture keeps the generous ones)."""
    from shared.settings import Settings
    from wan_local.dev import DevStack

    settings = Settings(_env_file=None, database_url=db_url, wan_data_dir=str(tmp_path / "wan-data"),
                        replicate_api_token=None, replicate_webhook_secret=None, supabase_url=None,
                        supabase_service_role_key=None, supabase_jwt_secret=None, webhook_url=None,
                        public_base_url=None, allowed_origins="https://app.example.com",
                        replicate_timeout_seconds=30.0, stripe_secret_key=None, stripe_webhook_secret=None,
                        **(LIMITS | getattr(request, "param", {})))
    stack = DevStack(settings, port=0, sweep=False, db_role="service_role").start()
    stack.emulator.behaviour.auto_run = False
    with Api(stack) as client:
        yield client
    stack.stop()


def _settle_into_a_fresh_window(db):
    """The boundary tests need all their calls in one window: wait out a window with < 5 s left."""
    import time

    if _minute_left(db) < 5:
        time.sleep(_minute_left(db) + 1)


def test_creates_stop_exactly_at_the_limit_under_20_concurrent_requests(limited_api, db):
    api = limited_api
    user_id, token = api.signup()
    db.execute("select public.add_credits(%s, 1000, 'purchase', null)", (user_id,))
    key = new_key(api, token)["key"]
    _settle_into_a_fresh_window(db)
    answers = run_at_once(20, lambda i: api.text_to_video(key if i % 2 else token))
    assert sorted(r.status_code for r in answers) == [202] * 5 + [429] * 15
    refused = next(r for r in answers if r.status_code == 429)
    body = assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60 and body["retry_after"] == int(refused.headers["Retry-After"])
    assert refused.headers["RateLimit-Policy"] == '"create";q=5;w=60'
    assert re.fullmatch(r'"create";r=0;t=\d+', refused.headers["RateLimit"])
    remaining = sorted(int(re.search(r"r=(\d+)", r.headers["RateLimit"]).group(1))
                       for r in answers if r.status_code == 202)
    assert remaining == [0, 1, 2, 3, 4]
    # Refused creates charged nothing: 5 charges of 10 from 1100.
    assert api.balance(token) == 1100 - 50
    assert db.execute("select count(*) from public.generations where user_id = %s", (user_id,)).fetchone()[0] == 5


def test_other_calls_stop_exactly_at_their_limit_and_carry_the_headers(limited_api, db):
    api = limited_api
    token = api.token()
    _settle_into_a_fresh_window(db)
    answers = run_at_once(20, lambda i: api.http.get("/credits", headers=api.auth(token)))
    assert sorted(r.status_code for r in answers) == [200] * 12 + [429] * 8
    for r in answers:
        assert r.headers["RateLimit-Policy"] == '"request";q=12;w=60'
        assert re.fullmatch(r'"request";r=\d+;t=\d+', r.headers["RateLimit"])
    assert sorted(int(re.search(r"r=(\d+)", r.headers["RateLimit"]).group(1))
                  for r in answers if r.status_code == 200) == list(range(12))
    refused = next(r for r in answers if r.status_code == 429)
    assert_error(refused, 429, "rate_limited")
    assert "Retry-After" in refused.headers
    # Another user has their own window.
    assert api.http.get("/credits", headers=api.auth(api.token())).status_code == 200


def test_a_key_and_its_owners_session_share_one_window(limited_api, db):
    api = limited_api
    token = api.token()
    _settle_into_a_fresh_window(db)  # before the first counted call: all 12 must land in one window
    key = new_key(api, token)["key"]  # counts as one request
    for i in range(11):
        api.http.get("/credits", headers=api.auth(key if i % 2 else token))
    assert_error(api.http.get("/credits", headers=api.auth(token)), 429, "rate_limited")


def test_status_is_counted_in_the_request_window_by_its_own_one_round_trip(limited_api, db, monkeypatch):
    """GET /status (polled every few seconds) counts in the same window as every other call, unknown
    ids included (probing ids is limited too), yet costs one database round trip, not two."""
    api = limited_api
    token, gen_id, _ = api.start_generation()  # counted in the create window; its start webhook is in
    _settle_into_a_fresh_window(db)
    db.execute("update public.generations set last_event_at = clock_timestamp() where id = %s",
               (gen_id,))  # heard from just now: no poll of Replicate
    calls: list[str] = []
    real_call = api.stack.services.backend.call
    monkeypatch.setattr(api.stack.services.backend, "call",
                        lambda function, **params: (calls.append(function), real_call(function, **params))[1])
    answers = [api.status(token, gen_id if i % 2 else str(uuid.uuid4())) for i in range(12)]
    assert [r.status_code for r in answers] == [404, 200] * 6
    assert calls == ["get_generation_counted"] * 12
    assert [int(re.search(r"r=(\d+)", r.headers["RateLimit"]).group(1)) for r in answers] == list(range(11, -1, -1))
    assert all(r.headers["RateLimit-Policy"] == '"request";q=12;w=60' for r in answers)
    refused = api.status(token, gen_id)
    assert_error(refused, 429, "rate_limited")
    assert re.fullmatch(r'"request";r=0;t=\d+', refused.headers["RateLimit"]) and "Retry-After" in refused.headers
    assert_error(api.http.get("/credits", headers=api.auth(token)), 429, "rate_limited")  # one window for both


def test_the_rate_headers_are_exposed_to_the_browser(limited_api):
    api = limited_api
    response = api.http.get("/credits", headers=api.auth(api.token(), Origin="https://app.example.com"))
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"ratelimit", "ratelimit-policy", "retry-after"} <= exposed


@pytest.mark.parametrize("limited_api", [{"max_creates_per_minute": 3}], indirect=True)
def test_the_service_wide_valve_stops_every_user(limited_api, db):
    api = limited_api
    _settle_into_a_fresh_window(db)
    tokens = [api.token() for _ in range(5)]
    answers = run_at_once(5, lambda i: api.text_to_video(tokens[i]))
    assert sorted(r.status_code for r in answers) == [202] * 3 + [429] * 2
    body = assert_error(next(r for r in answers if r.status_code == 429), 429, "rate_limited")
    assert "service" in body["detail"]
    # The refused users were not charged.
    assert sorted(api.balance(t) for t in tokens) == [90, 90, 90, 100, 100]
