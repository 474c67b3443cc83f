"""Fuzzing the HTTP surface from the service's own OpenAPI schema (schemathesis), valid and invalid
data, with a valid token and with bad ones: never a 5xx, and every error in the contract's shape
with a string detail.

(Driven through hypothesis directly: schemathesis' pytest plugin does not run on pytest 9.)
"""

from __future__ import annotations

import os

import httpx

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, response_schema_conformance, status_code_conformance

# A bound, not a speed: schemathesis' default 10 s read timeout failed once under two CPU hogs.
CALL_TIMEOUT = 30

EXAMPLES = int(os.environ.get("WAN_FUZZ_EXAMPLES", "15"))
BAD_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bm90LWEtc2lnbmF0dXJl"


# The typed schema (issue 14): every answer's status is one the route documents, and its body is valid
# against that status's model (required fields present, no undocumented ones, enums respected).
CONFORMS = [status_code_conformance, content_type_conformance, response_schema_conformance]


def check(response, case=None) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if case is not None:
        case.validate_response(response, checks=CONFORMS)
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("detail"), str) and body["detail"], body
        assert isinstance(body.get("code"), str) and body["code"], body


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("token", ["valid", "bad", "none"])
def test_fuzzed_requests_never_fail_and_always_answer_in_the_contract_shape(api, mode, token):
    schema = _schema(api)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/text-to-video", "/image-to-video", "/status",
                                              "/webhooks/replicate", "/credits", "/generations",
                                              "/cancel", "/retry", "/pricing"}
    header = {"valid": lambda: f"Bearer {api.token()}", "bad": lambda: f"Bearer {BAD_TOKEN}",
              "none": lambda: None}[token]()
    headers = {"Authorization": header} if header else {}

    fuzzed = []
    for operation in operations:
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def fuzz(case):
            check(case.call(base_url=api.stack.url, headers={**(case.headers or {}), **headers}, timeout=CALL_TIMEOUT), case)

        try:
            fuzz()
        except Unsatisfiable:  # nothing invalid to send (e.g. GET /pricing takes no input)
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        fuzzed.append(operation.label)
    assert len(fuzzed) >= 8, fuzzed


def _schema(api):
    schema = schemathesis.openapi.from_url(f"{api.stack.url}/openapi.json")
    # NUL characters and any UTF-8 in generated strings (issue 11: a NUL made 5xx answers).
    schema.config.generation.update(allow_x00=True, codec="utf-8")
    return schema


# Values that broke the service before (issue 11, items 2 and 4): NUL characters, and strings far
# beyond any field's limit (a few past the body limits too).
NASTY_STRINGS = st.sampled_from(["a\x00b", "\x00", "\x00" * 70_000, "x" * 100_000, "y" * 2_000_000])


# The choices a generation request must get right for the rest of it to reach the database.
VALID_CHOICES = {"/text-to-video": {"model": "t2v-14B", "resolution": "480p"},
                 "/image-to-video": {"model": "i2v-14B", "resolution": "480p"}}


def _poison(case, value: str, which: int) -> None:
    """One string of the body, or of the query when it fits a URL, becomes `value` (one, so that the
    others stay valid and the value reaches as far into the service as it can). A URL past the HTTP
    server's line limit is refused by the server itself, before the app (uvicorn resets the
    connection; on Modal its proxy answers)."""
    if isinstance(case.body, dict) and case.path in VALID_CHOICES:  # else validation stops it early
        case.body.update(VALID_CHOICES[case.path])
        for optional in ("seed", "aspect_ratio"):
            case.body.pop(optional, None)
    query = case.query if len(value) < 1000 else None
    fields = [(container, key) for container in (query, case.body if isinstance(case.body, dict) else None)
              for key in (container or {}) if isinstance(container[key], str)]
    candidates = [f for f in fields if f[1] not in ("model", "resolution")] or fields
    if candidates:
        container, key = candidates[which % len(candidates)]
        container[key] = value


def test_nul_and_huge_strings_in_every_field_never_fail(api):
    headers = {"Authorization": f"Bearer {api.token()}"}
    operations = [result.ok() for result in _schema(api).get_all_operations()]
    for operation in operations:
        @settings(max_examples=max(10, EXAMPLES), deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(), value=NASTY_STRINGS, which=st.integers(0, 20))
        def fuzz(case, value, which):
            _poison(case, value, which)
            check(case.call(base_url=api.stack.url, headers={**(case.headers or {}), **headers}, timeout=CALL_TIMEOUT), case)

        fuzz()


# Each route's body limit (shared/app.py); the upload's is above anything sent here.
LIMITS = {"/webhooks/replicate": 1024 * 1024, "/image-to-video": None}
SIZES = st.one_of(st.integers(0, 1_200_000),
                  st.sampled_from([65_535, 65_536, 65_537, 1_048_576, 1_048_577]))


@pytest.mark.parametrize("path", ["/text-to-video", "/image-to-video", "/webhooks/replicate", "/cancel", "/retry"])
def test_bodies_of_any_size_with_or_without_a_length_are_answered_in_the_contract_shape(api, path):
    """Bodies from empty to past the limits, declared (Content-Length) or streamed (chunked): never a
    5xx, and past the route's limit a 413."""
    headers = {"Authorization": f"Bearer {api.token()}"}
    limit = LIMITS.get(path, 64 * 1024)

    @settings(max_examples=max(6, EXAMPLES // 2), deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(size=SIZES, chunked=st.booleans(), fill=st.sampled_from([b"{", b"x", b"\x00", b"["]),
           content_type=st.sampled_from(["application/json", "multipart/form-data; boundary=b", "text/plain"]))
    def fuzz(size, chunked, fill, content_type):
        body = fill * size
        content = (body[i:i + 65536] for i in range(0, len(body), 65536)) if chunked else body
        try:
            r = api.http.post(path, content=content, headers={**headers, "Content-Type": content_type})
        except httpx.WriteError:  # refused before the client finished sending: the point of the limit
            assert limit is not None and size > limit
            return
        check(r)
        if limit is not None and size > limit:
            assert r.status_code == 413, (size, r.status_code, r.text)

    fuzz()


# Issue 20: signed bodies of any JSON. The signature only says who sent it; a signed body that is not
# what the route reads is a 400 invalid_payload (or a 200 for what it can ignore), never a 5xx, which
# would make Stripe and Replicate deliver it again for days. Strings include NUL and lone surrogates;
# numbers include floats, huge and negative integers; shapes are arbitrary, and every so often the
# body is a real event of a type the route acts on with one field replaced.
_TEXT = st.text(max_size=40) | st.sampled_from(
    ["\x00", "\ud800", "x" * 5000, "evt_1", "cs_test_1", "pi_1", "succeeded", "failed", "lost", "won"])
_SCALARS = st.none() | st.booleans() | st.integers(-(10 ** 20), 10 ** 20) | st.floats(allow_nan=False) | _TEXT
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(_TEXT, inner, max_size=5), max_leaves=20)
_STRIPE_TYPES = ["checkout.session.completed", "checkout.session.expired", "charge.refunded",
                 "charge.dispute.created", "charge.dispute.closed", "refund.failed", "charge.refund.updated"]
_STRIPE_FIELDS = ["id", "amount", "amount_refunded", "payment_intent", "status", "refunds", "metadata"]
_REPLICATE_FIELDS = ["id", "status", "error", "output", "logs", "started_at", "completed_at"]


def _dumps(value) -> str:
    import json

    return json.dumps(value, allow_nan=False)  # lone surrogates go out as \ud800 escapes, as JSON allows


@pytest.mark.parametrize("route", ["stripe", "replicate"])
def test_signed_bodies_of_arbitrary_json_are_never_a_5xx(api, route):
    stack = api.stack
    _, gen_id, pid = api.start_generation() if route == "replicate" else (None, None, None)

    @settings(max_examples=max(60, EXAMPLES * 4), deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(whole=_JSON, kind=st.sampled_from(_STRIPE_TYPES), field=st.integers(0, 6), value=_JSON,
           shape=st.sampled_from(["arbitrary", "event"]))
    def fuzz(whole, kind, field, value, shape):
        if route == "stripe":
            body = whole if shape == "arbitrary" else stack.stripe.event(
                kind, {"id": "x_1", "amount": 500, "amount_refunded": 0, "payment_intent": "pi_1",
                       "status": "needs_response", _STRIPE_FIELDS[field]: value})
            raw = _dumps(body)
            r = api.http.post("/webhooks/stripe", content=raw, headers=stack.stripe.signed(raw))
        else:
            body = whole if shape == "arbitrary" else {
                "id": pid, "status": ("failed", "processing")[field % 2], _REPLICATE_FIELDS[field]: value}
            raw = _dumps(body)
            r = api.http.post("/webhooks/replicate", params={"generation_id": gen_id}, content=raw,
                              headers={**stack.emulator.signed_headers(raw), "Content-Type": "application/json"})
        check(r)
        assert r.status_code in (200, 400), (r.status_code, r.text)

    fuzz()
