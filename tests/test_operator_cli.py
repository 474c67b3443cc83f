"""The operator's commands (`wan-api user find`, `credits grant|deduct`, `refund`, `stats`): what they
print and the ledger rows they write, against the real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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
    # 70 - 71 < 0: refused, said to the operator (issue 21: it said "you have 70")
    assert code == 1 and err == "wan-api credits deduct: Cannot deduct 71 credits: the balance is 70.\n"
    assert "you have" not in err
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


# --- with no DATABASE_URL: the running local stack of the data directory (issue 21 item 5) ----------

def _operator(*argv: str, data_dir) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "REPLICATE_API_TOKEN",
                        "REPLICATE_BASE_URL")}
    return subprocess.run([sys.executable, "-m", "wan_local.cli", *argv], env=env | {"WAN_DATA_DIR": str(data_dir)},
                          capture_output=True, text=True, timeout=120)


def test_without_database_url_the_commands_use_the_running_local_stack_and_say_so(stack, db):
    stack.emulator.behaviour.auto_run = False
    user = make_user(db, email="local@example.com")
    said = (f"no DATABASE_URL, so using the local stack of {stack.data_dir} (wan-api dev, pid {os.getpid()}, "
            f"{stack.url})\n")
    stats = _operator("stats", "--json", data_dir=stack.data_dir)
    assert stats.returncode == 0 and stats.stderr == f"wan-api stats: {said}", stats.stderr
    assert "since" in json.loads(stats.stdout)
    granted = _operator("credits", "grant", "local@example.com", "5", "--reason", "test", data_dir=stack.data_dir)
    assert granted.returncode == 0 and granted.stderr == f"wan-api credits grant: {said}"
    assert balance(db, user) == 105
    # The sweep reaches the stack's Replicate emulator: a generation stuck there is settled.
    gen = stack.services.credits.create_generation(NewGeneration(
        user_id=user, kind="text-to-video", model="t2v-14B", resolution="480p", prompt="p", cost=10, max_active=5))
    swept = _operator("sweep", data_dir=stack.data_dir)
    assert swept.returncode == 0 and swept.stderr.startswith(f"wan-api sweep: {said}"), swept.stderr
    assert json.loads(swept.stdout.splitlines()[-1])["examined"] == 0  # nothing old enough yet
    db.execute("update public.generations set created_at = now() - interval '11 minutes' where id = %s",
               (gen["generation_id"],))
    assert json.loads(_operator("sweep", data_dir=stack.data_dir).stdout.splitlines()[-1])["queued_failed"] == 1


def test_without_database_url_and_no_stack_running_they_say_how_to_start_one(stack, tmp_path):
    stack.stop()  # a stack that ran and stopped: its lock file stays, and says so
    for argv in (["stats"], ["sweep"], ["user", "find", "x@example.com"]):
        run = _operator(*argv, data_dir=stack.data_dir)
        assert run.returncode == 2 and run.stdout == "", run
        assert run.stderr == (f"wan-api {argv[0] if argv[0] != 'user' else 'user find'}: set DATABASE_URL (or "
                              "SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY), or start the local stack first "
                              "(scripts/dev, or wan-api dev)\n")
    assert _operator("stats", data_dir=tmp_path / "never-used").returncode == 2
