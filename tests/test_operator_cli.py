"""The operator's commands (`wan-api user find`, `credits grant|deduct`, `refund`, `stats`): what they
print and the ledger rows they write, against the real database."""

from __future__ import annotations

import json

import pytest

from shared.credits import NewGeneration
from shared.settings import get_settings
from tests.support import balance, make_user
from wan_local import cli


@pytest.fixture
def wan(db_url, monkeypatch, capsys):
    """Run `wan-api ...` against the test's database: (exit code, stdout, stderr)."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()

    def run(*argv: str):
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # argparse refusing the arguments
            code = exc.code
        out = capsys.readouterr()
        return code, out.out, out.err

    yield run
    get_settings.cache_clear()


def _adjustments(db, user):
    return db.execute("select type, amount, balance_after, description, actor, generation_id::text "
                      "from public.credit_transactions where user_id = %s and type = 'adjustment' order by id",
                      (user,)).fetchall()


def test_credits_grant_writes_one_adjustment_with_who_and_why(db, wan):
    user = make_user(db, email="Ada@Example.com")
    code, out, _ = wan("credits", "grant", "ada@example.com", "25", "--reason", "support ticket 42", "--by", "lina")
    assert code == 0 and "granted 25 credits" in out and "balance 125" in out   # 100 bonus + 25
    assert _adjustments(db, user) == [("adjustment", 25, 125, "support ticket 42", "lina", None)]


def test_credits_deduct_defaults_to_the_os_user_and_never_goes_negative(db, wan, monkeypatch):
    user = make_user(db)
    monkeypatch.setattr("getpass.getuser", lambda: "oncall")
    code, out, _ = wan("credits", "deduct", str(user), "30", "--reason", "duplicate grant")
    assert code == 0 and "balance 70" in out                                     # 100 - 30
    code, _, err = wan("credits", "deduct", str(user), "71", "--reason", "too much")
    assert code == 1 and "71" in err and "70" in err                             # 70 - 71 < 0: refused
    assert balance(db, user) == 70
    assert [(a, b, r) for _, a, b, _, r, _ in _adjustments(db, user)] == [(-30, 70, "oncall")]


@pytest.mark.parametrize("argv", [
    pytest.param(["credits", "grant", "USER", "10"], id="no_reason"),
    pytest.param(["credits", "grant", "USER", "10", "--reason", "  "], id="blank_reason"),
    pytest.param(["credits", "grant", "USER", "0", "--reason", "x"], id="zero"),
    pytest.param(["credits", "grant", "USER", "-5", "--reason", "x"], id="negative"),
])
def test_credits_refuses_an_adjustment_without_reason_or_amount(db, wan, argv):
    user = make_user(db)
    code, _, err = wan(*[str(user) if a == "USER" else a for a in argv])
    assert code == 2 and err
    assert _adjustments(db, user) == []


def test_credits_for_an_unknown_user_says_so(wan):
    code, _, err = wan("credits", "grant", "nobody@example.com", "5", "--reason", "x")
    assert code == 1 and "nobody@example.com" in err


def _lost_video(db, credits, user) -> str:
    gen = credits.create_generation(NewGeneration(user_id=user, kind="text-to-video", model="t2v-14B",
                                                  resolution="720p", prompt="p", cost=20, max_active=3))["generation_id"]
    credits.backend.call("record_prediction", p_gen_id=gen, p_replicate_id="p1", p_status="succeeded")
    credits.backend.call("record_video_copy_failure", p_gen_id=gen, p_error="expired", p_give_up=True)
    return gen


def test_refund_gives_back_a_lost_video_once_as_a_goodwill_adjustment(db, credits, wan):
    user = make_user(db)
    gen = _lost_video(db, credits, user)                                         # 100 - 20 = 80
    code, out, _ = wan("refund", gen, "--reason", "video lost in copy", "--by", "lina")
    assert code == 0 and "refunded 20 credits" in out and "balance 100" in out   # 80 + 20
    code, _, err = wan("refund", gen, "--reason", "again")
    assert code == 1 and "already" in err
    assert _adjustments(db, user) == [
        ("adjustment", 20, 100, "goodwill refund (video lost): video lost in copy", "lina", gen)]
    # the user's own ledger shows it as such
    shown = credits.backend.call("get_credits", p_user_id=user)["transactions"][0]
    assert shown["type"] == "adjustment" and shown["description"].startswith("goodwill refund") and shown["generation_id"] == gen


def test_refund_refuses_a_success_whose_video_was_kept_and_a_failure(db, credits, wan):
    user = make_user(db)
    gen = credits.create_generation(NewGeneration(user_id=user, kind="text-to-video", model="t2v-14B",
                                                  resolution="480p", prompt="p", cost=10, max_active=3))["generation_id"]
    credits.backend.call("record_prediction", p_gen_id=gen, p_replicate_id="p1", p_status="succeeded")
    code, _, err = wan("refund", gen, "--reason", "asked nicely")
    assert code == 1 and "not lost" in err
    assert wan("refund", "not-a-uuid", "--reason", "x")[0] == 2
    assert _adjustments(db, user) == []


def test_the_database_allows_one_goodwill_refund_per_generation_even_at_once(db, credits):
    from tests.support import run_at_once

    user = make_user(db)
    gen = _lost_video(db, credits, user)
    results = run_at_once(6, lambda i: credits.backend.call("goodwill_refund", p_gen_id=gen, p_reason="r", p_actor="a"))
    assert sum(isinstance(r, dict) for r in results) == 1
    assert len(_adjustments(db, user)) == 1 and balance(db, user) == 100


def test_user_find_by_email_or_id_shows_profile_generations_and_ledger(db, credits, wan):
    user = make_user(db, email="grace@example.com")
    gen = _lost_video(db, credits, user)
    wan("refund", gen, "--reason", "lost", "--by", "lina")
    for query in ("GRACE@example.com", str(user)):
        code, out, _ = wan("user", "find", query)
        assert code == 0
        assert f"user     {user}" in out and "balance  100 credits" in out and "active   0 generations" in out
        assert gen in out and "video-lost" in out
        assert "adjustment" in out and "(by lina)" in out and "signup_bonus" in out
    code, _, err = wan("user", "find", "who@example.com")
    assert code == 1 and "who@example.com" in err


def test_stats_marks_misses_and_counts_only_the_window(db, credits, wan):
    user = make_user(db)
    call = credits.backend.call
    ids = [credits.create_generation(NewGeneration(user_id=user, kind="text-to-video", model="t2v-14B",
                                                   resolution="480p", prompt="p", cost=10, max_active=10))["generation_id"]
           for _ in range(3)]
    call("record_prediction", p_gen_id=ids[0], p_replicate_id="p0", p_status="succeeded", p_event_id="e0")
    call("record_prediction", p_gen_id=ids[1], p_replicate_id="p1", p_status="failed", p_error="NSFW", p_event_id="e1")
    call("record_prediction", p_gen_id=ids[2], p_replicate_id="p2", p_status="failed", p_error="old")
    db.execute("update public.generations set created_at = now() - interval '3 days', "
               "completed_at = now() - interval '3 days' where id = %s", (ids[2],))
    db.execute("update public.generations set completed_at = created_at + interval '90 seconds' where id = %s", (ids[0],))
    code, out, _ = wan("stats", "--since", "24h")
    assert code == 0
    lines = {line.split("  ")[1].strip(): line for line in out.splitlines() if line.startswith("  ") and ("%" in line or "min" in line)}
    # in the last 24 h: one success, one failure -> 50 %; the 3-day-old failure is outside
    assert "2 generations" in out
    assert "50.0 %" in lines["generation success rate"] and "MISSED" in lines["generation success rate"]
    assert "1.5 min" in lines["average completion time"] and lines["average completion time"].endswith("ok")
    assert "100.0 %" in lines["webhook delivery rate"]        # both settled by their webhook
    assert lines["credit deduction accuracy"].endswith("ok")
    assert "provider_failed" in out and "NSFW" in out
    code, out, _ = wan("stats", "--since", "7d", "--json")
    data = json.loads(out)
    assert data["generations"] == 3                           # the old failure is inside a week
    assert data["metrics"]["success_rate"]["value"] == pytest.approx(1 / 3)
    assert data["metrics"]["success_rate"]["met"] is False
    assert wan("stats", "--since", "yesterday")[0] == 2


@pytest.mark.parametrize("amount", ["2147483648", "99999999999999999999"])
def test_an_amount_out_of_the_ledgers_range_is_one_line_naming_the_range(db, wan, amount):
    """Issue 20: it said 'function does not exist, try again shortly'."""
    user = make_user(db)
    code, out, err = wan("credits", "grant", str(user), amount, "--reason", "x")
    assert code == 2
    assert "from 1 to 2147483647" in err.strip().splitlines()[-1]


def test_a_grant_that_would_pass_the_balances_range_is_refused_plainly(db, wan):
    user = make_user(db)
    code, out, err = wan("credits", "grant", str(user), "2147483647", "--reason", "x")
    assert code == 1 and "out of the range" in err and "try again" not in err
