"""Issue 20, the edges: a signed Replicate body with a lone surrogate, booleans as seeds, truncated
images, checkout without a profile, Replicate's Retry-After. Real stack, real Postgres."""

from __future__ import annotations

import pytest

from tests.support import assert_error
from tests.test_replicate_webhook import deliver, prediction, snapshot


@pytest.mark.parametrize("field", ["error", "id", "logs", "output"])
def test_a_signed_prediction_with_a_lone_surrogate_is_a_400_not_a_500(api, db, field):
    token, gen_id, pid = api.start_generation()
    before = snapshot(db, gen_id)
    body = prediction(pid, "failed", **{field: "bad \ud800 text"})
    raw = __import__("json").dumps(body)  # the surrogate goes out as the escape "\ud800", valid JSON
    assert "\\ud800" in raw
    assert_error(deliver(api, gen_id, raw), 400, "invalid_payload")
    assert snapshot(db, gen_id) == before
    r = deliver(api, gen_id, prediction(pid, "failed", error="a real error"))  # the good one still lands
    assert r.status_code == 200 and api.status(token, gen_id).json()["refunded"] is True
