"""The production data path: the Supabase client's RPC calls, over real HTTP, against recorded
PostgREST answers served on loopback (no PostgREST server exists here).

The recorded error bodies are PostgREST's format for a RAISE: HTTP status from a `PTxxx` SQLSTATE
(else 400), and {"code": SQLSTATE, "message", "details", "hint"}. The same failures on the direct
path must raise the same exceptions with the same bodies.
"""

from __future__ import annotations

import uuid

import pytest

from shared import errors
from shared.credits import Credits, NewGeneration
from shared.db import SupabaseBackend
from tests.support import RecordedHttp, make_user

SERVICE_KEY = "sb_secret_test_key_0123456789"


class RecordedPostgrest(RecordedHttp):
    def answer(self, function: str, status: int, body: object) -> None:
        self.answers[("POST", f"/rest/v1/rpc/{function}")] = (status, body)


@pytest.fixture
def postgrest():
    fake = RecordedPostgrest()
    yield fake
    fake.close()


@pytest.fixture
def remote(postgrest):
    return Credits(SupabaseBackend.connect(postgrest.url, SERVICE_KEY))


def postgrest_error(sqlstate: str, message: str, details: str | None = None, hint: str | None = None):
    status = int(sqlstate[2:]) if sqlstate.startswith("PT") else 400
    return status, {"code": sqlstate, "message": message, "details": details, "hint": hint}


def test_rpc_requests_name_the_function_and_its_arguments_with_the_service_key(postgrest, remote):
    user, gen = uuid.uuid4(), uuid.uuid4()
    postgrest.answer("add_credits", 200, 150)
    postgrest.answer("refund_credits", 200, "already_refunded")
    assert remote.add_credits(user, 50, "purchase", "starter pack") == 150
    assert remote.refund_credits(gen) == "already_refunded"
    add, refund = postgrest.requests
    add["json"], refund["json"] = postgrest.json(0), postgrest.json(1)
    assert add["path"] == "/rest/v1/rpc/add_credits"
    assert add["json"] == {"p_user_id": str(user), "p_amount": 50, "p_type": "purchase",
                           "p_description": "starter pack"}
    assert add["headers"]["apikey"] == SERVICE_KEY
    assert add["headers"]["authorization"] == f"Bearer {SERVICE_KEY}"
    assert refund["json"] == {"p_gen_id": str(gen)}


def test_create_generation_sends_every_argument(postgrest, remote):
    user = uuid.uuid4()
    postgrest.answer("create_generation", 200, {"generation_id": "g1", "credits_remaining": 90})
    remote.create_generation(NewGeneration(user_id=user, kind="text-to-video", model="t2v-14B",
                                           resolution="480p", prompt="p", cost=10, max_active=3,
                                           idempotency_key="k1", request_hash="h1"))
    assert postgrest.json(0) == {
        "p_user_id": str(user), "p_kind": "text-to-video", "p_model": "t2v-14B", "p_resolution": "480p",
        "p_prompt": "p", "p_cost": 10, "p_max_active": 3, "p_negative_prompt": None, "p_seed": None,
        "p_aspect_ratio": None, "p_image_path": None, "p_idempotency_key": "k1", "p_request_hash": "h1",
        "p_retry_of": None,
    }


def test_insufficient_credits_is_the_same_error_on_both_paths(db, credits, postgrest, remote):
    user = make_user(db)
    with pytest.raises(errors.InsufficientCredits) as direct:
        credits.add_credits(user, -101, "adjustment")
    postgrest.answer("add_credits", *postgrest_error(
        "PT402", "insufficient credits: 101 required, 100 available",
        details='{"required" : 101, "balance" : 100}'))
    with pytest.raises(errors.InsufficientCredits) as via_supabase:
        remote.add_credits(user, -101, "adjustment")
    assert via_supabase.value.body() == direct.value.body() == {
        "detail": "This needs 101 credits and you have 100.", "code": "insufficient_credits",
        "required": 101, "balance": 100}


def test_idempotency_key_reuse_is_the_same_error_on_both_paths(db, credits, postgrest, remote):
    user = make_user(db)
    first = NewGeneration(user_id=user, kind="text-to-video", model="t2v-14B", resolution="480p",
                          prompt="p", cost=10, max_active=3, idempotency_key="k", request_hash="one")
    credits.create_generation(first)
    other = NewGeneration(**{**first.__dict__, "request_hash": "two"})
    with pytest.raises(errors.IdempotencyKeyReused) as direct:
        credits.create_generation(other)
    postgrest.answer("create_generation", *postgrest_error(
        "PT409", "this Idempotency-Key was already used with a different request",
        hint="idempotency_key_reused"))
    with pytest.raises(errors.IdempotencyKeyReused) as via_supabase:
        remote.create_generation(other)
    assert via_supabase.value.body() == direct.value.body()


@pytest.mark.parametrize("sqlstate,message,details,hint,expected", [
    pytest.param("PT404", "no profile for user x", None, None, errors.NotFound, id="not_found"),
    pytest.param("PT409", "generation g is already charged", None, None, errors.InvalidState, id="invalid_state"),
    pytest.param("PT429", "you already have 3 generations in progress (the limit is 3)",
                 '{"active" : 3, "limit" : 3}', None, errors.TooManyActiveGenerations, id="too_many_active"),
    pytest.param("22023", "amount must be positive, got -5", None, None, errors.InvalidRequest, id="invalid_argument"),
    pytest.param("XX000", "internal error", None, None, errors.ServiceUnavailable, id="unexpected"),
])
def test_postgrest_errors_map_by_sqlstate(postgrest, remote, sqlstate, message, details, hint, expected):
    postgrest.answer("deduct_credits", *postgrest_error(sqlstate, message, details, hint))
    with pytest.raises(expected) as caught:
        remote.deduct_credits(uuid.uuid4(), 5, uuid.uuid4())
    assert isinstance(caught.value.detail, str) and caught.value.detail


def test_unreachable_supabase_is_service_unavailable():
    remote = Credits(SupabaseBackend.connect("http://127.0.0.1:9", SERVICE_KEY))
    with pytest.raises(errors.ServiceUnavailable):
        remote.refund_credits(uuid.uuid4())
