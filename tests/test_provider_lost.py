"""A prediction we created that Replicate no longer knows (its 404) is final: the status poll and the
sweep fail the generation and refund it, once, whoever gets there first. Before this rule such a
generation held one of the user's slots until the 45-minute deadline (issue 16, item 3)."""

from __future__ import annotations

import json

from shared.db import PostgresBackend
from shared.services import Services
from shared.sweep import sweep
from tests.support import run_at_once
from tests.test_sweep_cancel_retry import age, row


def lost_generation(api, db, *, minutes: int = 1) -> tuple[str, str, str]:
    """A running generation whose prediction the emulator forgot (a restart without its state),
    quiet for `minutes` so the status poll and (past 10 minutes) the sweep ask Replicate."""
    token, gen_id, pid = api.start_generation()
    del api.stack.emulator.predictions[pid]
    age(db, gen_id, minutes)
    return token, gen_id, pid


def refunds(db, gen_id) -> int:
    return db.execute("select count(*) from public.credit_transactions where generation_id = %s "
                      "and type = 'refund'", (gen_id,)).fetchone()[0]


def test_a_404_on_the_status_poll_fails_and_refunds_the_generation(api, db):
    token, gen_id, pid = lost_generation(api, db)
    body = api.status(token, gen_id).json()
    assert api.stack.emulator.gets == [pid]  # asked once, got 404
    assert (body["status"], body["refunded"], body["terminal"]) == ("failed", True, True)
    assert "no longer knows" in body["error"]
    assert (row(db, gen_id)["error_code"], row(db, gen_id)["settled_by"]) == ("provider_lost", "status_poll")
    assert api.balance(token) == 100  # 100 - 10 + 10
    # Its slot is free again: three more can start at once.
    assert all(api.text_to_video(token).status_code == 202 for _ in range(3))


def test_a_404_in_the_sweep_fails_and_refunds_and_counts_provider_lost(api, stack, db):
    token, gen_id, _ = lost_generation(api, db, minutes=11)
    counts = sweep(stack.services)
    assert (counts["provider_lost"], counts["refunded"]) == (1, 1)
    assert counts["replicate_unreachable"] == 0
    assert [row(db, gen_id)[k] for k in ("status", "error_code", "settled_by")] == ["failed", "provider_lost", "sweep"]
    assert api.balance(token) == 100
    assert sweep(stack.services)["provider_lost"] == 0  # settled: nothing left to do


def test_other_provider_errors_are_not_final(api, stack, db):
    token, gen_id, _ = lost_generation(api, db, minutes=11)
    stack.emulator.behaviour.get_status = 500  # Replicate broken, not "no such prediction"
    assert api.status(token, gen_id).json()["status"] == "processing"
    assert sweep(stack.services)["replicate_unreachable"] == 1
    assert (row(db, gen_id)["status"], refunds(db, gen_id)) == ("processing", 0)


def test_poll_sweep_and_webhook_at_once_refund_a_lost_generation_exactly_once(api, stack, db, db_url):
    """Five rounds of a status poll, two sweeps and a `failed` webhook racing for one lost generation."""
    for _ in range(5):
        token, gen_id, pid = lost_generation(api, db, minutes=11)
        raw = json.dumps({"id": pid, "status": "failed", "error": "gone", "logs": "", "output": None})

        def race(i):
            if i == 0:
                return api.status(token, gen_id).json()["status"]
            if i == 1:
                return api.http.post("/webhooks/replicate", params={"generation_id": gen_id}, content=raw,
                                     headers=stack.emulator.signed_headers(raw)).status_code
            services = Services(stack.settings, PostgresBackend(db_url), stack.services.provider,
                                stack.services.storage)
            try:
                return sweep(services)
            finally:
                services.close()

        results = run_at_once(4, race)
        assert not [r for r in results if isinstance(r, Exception)], results
        assert results[0] == "failed" and results[1] == 200
        assert row(db, gen_id)["status"] == "failed"
        assert refunds(db, gen_id) == 1
        assert api.balance(token) == 100
