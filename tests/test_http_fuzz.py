"""Fuzzing the HTTP surface from the service's own OpenAPI schema (schemathesis), valid and invalid
data, with a valid token and with bad ones: never a 5xx, and every error in the contract's shape
with a string detail.

(Driven through hypothesis directly: schemathesis' pytest plugin does not run on pytest 9.)
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

EXAMPLES = int(os.environ.get("WAN_FUZZ_EXAMPLES", "15"))
BAD_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bm90LWEtc2lnbmF0dXJl"


def check(response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("detail"), str) and body["detail"], body
        assert isinstance(body.get("code"), str) and body["code"], body


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("token", ["valid", "bad", "none"])
def test_fuzzed_requests_never_fail_and_always_answer_in_the_contract_shape(api, mode, token):
    schema = schemathesis.openapi.from_url(f"{api.stack.url}/openapi.json")
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
            check(case.call(base_url=api.stack.url, headers={**(case.headers or {}), **headers}))

        try:
            fuzz()
        except Unsatisfiable:  # nothing invalid to send (e.g. GET /pricing takes no input)
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        fuzzed.append(operation.label)
    assert len(fuzzed) >= 8, fuzzed
