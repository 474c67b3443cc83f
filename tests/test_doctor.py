"""`wan-api doctor`: passes against the local stack, and each check fails, naming what and how to fix
it, when the emulated vendor, the database or the settings drift from what the code sells."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared import catalog, packs
from wan_local import doctor

ROOT = Path(__file__).resolve().parent.parent
T2V_720 = "wavespeedai/wan-2.1-t2v-720p"


def failures(checks, area=None):
    return [c for c in checks if c.status == "fail" and (area is None or c.area == area)]


def the_fail(checks, area: str) -> str:
    found = failures(checks, area)
    assert len(found) >= 1, [c.line() for c in checks if c.area == area]
    return " | ".join(c.detail for c in found)


def cli_env(settings) -> dict:
    """The environment an operator would export for these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPLICATE_", "STRIPE_", "SUPABASE_"))}
    for name in ("database_url", "replicate_api_token", "replicate_base_url", "replicate_webhook_secret", "webhook_url",
                 "stripe_secret_key", "stripe_webhook_secret", "stripe_api_base", "checkout_success_url",
                 "checkout_cancel_url", "allowed_origins", "wan_data_dir", "metrics_token", "credit_costs"):
        value = getattr(settings, name)
        if value:
            env[name.upper()] = str(value)
    return env


def run_cli(settings, tmp_path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wan_local.cli", "doctor", *args], cwd=tmp_path,
                          env=cli_env(settings) | {"PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=120)


def test_the_doctor_passes_against_the_local_stack(stack, tmp_path):
    checks = doctor.run(stack.settings)
    assert failures(checks) == [], [c.line() for c in failures(checks)]
    assert {c.area for c in checks} == {"replicate", "stripe", "database", "settings", "margin"}
    # Every catalog model was looked up at the emulator, every variant's margin judged.
    assert {c.name for c in checks if c.area == "replicate"} >= {f"model {m}" for m in catalog.REPLICATE_MODELS}
    assert len([c for c in checks if c.area == "margin"]) == len(catalog.VARIANTS)

    done = run_cli(stack.settings, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert all(line.split()[0] in ("ok", "warn", "fail") for line in lines[:-1])
    assert lines[-1].startswith("doctor passed:") and "0 fail" in lines[-1]

    as_json = json.loads(run_cli(stack.settings, tmp_path, "--json").stdout)
    assert as_json["summary"]["fail"] == 0 and as_json["summary"]["checks"] == len(as_json["checks"])
    assert {"area", "name", "status", "detail"} <= set(as_json["checks"][0])


def test_a_drifted_model_fails_the_command_with_exit_1(stack, tmp_path):
    stack.emulator.enum_schema(T2V_720, "aspect_ratio")["enum"] = ["16:9"]
    done = run_cli(stack.settings, tmp_path)
    assert done.returncode == 1
    line = next(line for line in done.stdout.splitlines() if line.startswith("fail"))
    assert T2V_720 in line and "'aspect_ratio'" in line and "'9:16'" in line and "t2v-14B 720p" in line
    assert "shared/catalog.py" in line  # how to refresh the catalog
    assert done.stdout.strip().splitlines()[-1].startswith("doctor FAILED:")


# --- Replicate ------------------------------------------------------------------------------------

@pytest.mark.parametrize("drift, says", [
    pytest.param(lambda e: e.enum_schema(T2V_720, "aspect_ratio").update(enum=["16:9", "1:1"]),
                 [T2V_720, "'aspect_ratio'", "'9:16'"], id="an_enum_lost_a_value_we_sell"),
    pytest.param(lambda e: e.enum_schema("wan-video/wan-2.1-1.3b", "resolution").update(enum=["720p"]),
                 ["wan-video/wan-2.1-1.3b", "'resolution'", "'480p'", "t2v-1.3B 480p"], id="a_fixed_input_lost_its_value"),
    pytest.param(lambda e: (e.input_schema(T2V_720)["required"].append("num_frames"),
                            e.input_schema(T2V_720)["properties"].update(num_frames={"type": "integer"})),
                 [T2V_720, "'num_frames'", "required", "never send"], id="a_new_required_input"),
    pytest.param(lambda e: e.input_schema(T2V_720)["properties"].pop("negative_prompt"),
                 [T2V_720, "'negative_prompt'", "no longer in its schema"], id="an_input_we_send_is_gone"),
    pytest.param(lambda e: e.input_schema(T2V_720)["properties"]["seed"].update(maximum=2**31 - 1),
                 [T2V_720, "'seed'", "2147483647", "4294967295"], id="a_narrower_maximum"),
    pytest.param(lambda e: e.input_schema(T2V_720)["properties"]["seed"].update(type="string"),
                 [T2V_720, "'seed'", "type string"], id="an_input_changed_type"),
    pytest.param(lambda e: e.input_schema(T2V_720)["properties"]["negative_prompt"].update(enum=["none"]),
                 [T2V_720, "'negative_prompt'", "now takes only"], id="free_text_became_an_enum"),
    pytest.param(lambda e: e.models.pop("wan-video/wan-2.2-t2v-fast"),
                 ["wan-video/wan-2.2-t2v-fast", "does not exist", "t2v-2.2-fast 480p, t2v-2.2-fast 720p"],
                 id="a_model_is_gone"),
    pytest.param(lambda e: setattr(e, "api_token", "r8_the_real_one"), ["refused the token"], id="a_refused_token"),
])
def test_each_replicate_drift_is_a_fail_naming_it(stack, drift, says):
    drift(stack.emulator)
    detail = the_fail(doctor.replicate_checks(stack.settings), "replicate")
    assert all(word in detail for word in says), detail


def test_a_webhook_secret_that_is_not_the_accounts_fails(stack):
    settings = stack.settings.model_copy(update={"replicate_webhook_secret": "whsec_" + "A" * 32})
    assert "differs from the account's" in the_fail(doctor.replicate_checks(settings), "replicate")


def test_the_published_schema_is_the_catalogs_own_data():
    """The emulator's schemas come from the catalog, so the doctor against it checks the catalog's
    reading of each model, and a schema in Cog's allOf/$ref shape resolves to the enum."""
    from wan_local.replicate_emulator import published_model

    for name, model in catalog.REPLICATE_MODELS.items():
        assert doctor.schema_problems(model, published_model(model)["latest_version"]["openapi_schema"]) == []


# --- Stripe ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("endpoints, says", [
    pytest.param(lambda s, url: [], ["none for", "checkout.session.completed"], id="no_endpoint"),
    pytest.param(lambda s, url: [s.endpoint("https://elsewhere.example/hook")], ["none for"], id="another_url_only"),
    pytest.param(lambda s, url: [s.endpoint(url, events=["checkout.session.completed"])],
                 ["lacks", "charge.refunded", "charge.dispute.closed"], id="missing_events"),
    pytest.param(lambda s, url: [s.endpoint(url, api_version="2024-06-20")],
                 ["2024-06-20", "pinned to", "STRIPE_API_VERSION"], id="another_api_version"),
    pytest.param(lambda s, url: [s.endpoint(url, status="disabled")], ["disabled"], id="disabled"),
])
def test_each_stripe_drift_is_a_fail_naming_it(stack, endpoints, says):
    url = doctor.stripe_webhook_url(stack.settings)
    stack.stripe.webhook_endpoints = endpoints(stack.stripe, url)
    detail = the_fail(doctor.stripe_checks(stack.settings), "stripe")
    assert all(word in detail for word in says), detail


def test_every_event_enabled_by_wildcard_passes(stack):
    stack.stripe.webhook_endpoints = [stack.stripe.endpoint(doctor.stripe_webhook_url(stack.settings), events=["*"])]
    assert failures(doctor.stripe_checks(stack.settings)) == []


def test_a_refused_stripe_key_fails(stack):
    settings = stack.settings.model_copy(update={"stripe_secret_key": "pk_test_not_a_secret_key"})
    assert "refused STRIPE_SECRET_KEY" in the_fail(doctor.stripe_checks(settings), "stripe")


def test_stripe_unconfigured_is_a_warning_not_a_failure(stack):
    checks = doctor.stripe_checks(stack.settings.model_copy(update={"stripe_secret_key": None}))
    assert [c.status for c in checks] == ["warn"]


@pytest.mark.parametrize("webhook_url, expected", [
    ("https://ws--wan-video-api-replicate-webhook.modal.run", "https://ws--wan-video-api-stripe-webhook.modal.run/"),
    ("https://ws-staging--wan-video-api-replicate-webhook.modal.run/",
     "https://ws-staging--wan-video-api-stripe-webhook.modal.run/"),
    ("http://127.0.0.1:8000/webhooks/replicate", "http://127.0.0.1:8000/webhooks/stripe"),
    ("https://api.example.com/hooks/r", None),
])
def test_our_stripe_url_follows_the_replicate_one(stack, webhook_url, expected):
    assert doctor.stripe_webhook_url(stack.settings.model_copy(update={"webhook_url": webhook_url})) == expected


# --- the database ---------------------------------------------------------------------------------

@pytest.mark.parametrize("sql, undo, says", [
    pytest.param("delete from wan_private.schema_migrations where filename = '0011_request_path.sql'", None,
                 ["1 not applied", "0011_request_path.sql", "wan-api migrate"], id="a_pending_migration"),
    pytest.param("update wan_private.schema_migrations set checksum = 'x' where filename = '0003_hardening.sql'"
                 .replace("0003_hardening", "0001_credit_ledger"), None,
                 ["0001_credit_ledger.sql changed after it was applied"], id="an_edited_migration"),
    pytest.param("revoke execute on function public.refund_credits(uuid) from service_role", None,
                 ["service_role may not execute refund_credits"], id="a_missing_grant"),
    pytest.param("grant execute on function public.refund_credits(uuid) to authenticated", None,
                 ["anon or authenticated may execute refund_credits"], id="a_function_open_to_users"),
    pytest.param("alter table public.profiles disable row level security", None,
                 ["row level security", "profiles"], id="rls_off"),
    pytest.param("update storage.buckets set public = true", None, ["'wan-media' is public"], id="a_public_bucket"),
    pytest.param("delete from storage.buckets", None, ["'wan-media' does not exist"], id="no_bucket"),
    pytest.param("update public.profiles set credits = credits + 5",
                 "update public.profiles set credits = credits - 5", ["broken money rules"], id="a_ledger_discrepancy"),
])
def test_each_database_drift_is_a_fail_naming_it(stack, db, sql, undo, says):
    from tests.support import make_user

    make_user(db)
    db.execute(sql)
    try:
        detail = the_fail(doctor.database_checks(stack.settings), "database")
    finally:
        if undo:
            db.execute(undo)
    assert all(word in detail for word in says), detail


def test_the_called_functions_are_read_from_the_code():
    names = doctor.called_functions()
    assert {"create_generation_pushed", "create_generation_edit", "record_prediction", "fulfil_purchase",
            "hit_request_rate"} <= set(names)
    assert all(n.isidentifier() for n in names)


# --- settings -------------------------------------------------------------------------------------

PRODUCTION = {"supabase_url": "https://ref.supabase.co", "supabase_service_role_key": "sb_secret_x"}


@pytest.mark.parametrize("changes, name, says", [
    pytest.param({**PRODUCTION, "allowed_origins": "*"}, "ALLOWED_ORIGINS", "is * in production",
                 id="open_cors_in_production"),
    pytest.param({**PRODUCTION, "replicate_webhook_secret": None}, "secret", "REPLICATE_WEBHOOK_SECRET",
                 id="a_missing_key"),
    pytest.param({"webhook_url": None}, "WEBHOOK_URL", "unset", id="no_webhook_url"),
    pytest.param({"webhook_url": "ftp://example.com/hook"}, "WEBHOOK_URL", "not an absolute http(s) URL",
                 id="not_http"),
    pytest.param({"webhook_url": "https://u:p@example.com/hook"}, "WEBHOOK_URL", "credentials", id="credentials"),
    pytest.param({**PRODUCTION, "webhook_url": "http://127.0.0.1:8000/webhooks/replicate"}, "WEBHOOK_URL",
                 "public https URL in production", id="loopback_in_production"),
    pytest.param({"webhook_url": "https://ws--wan-video-api-replicate-webhook.modal.run/webhooks/replicate"},
                 "WEBHOOK_URL", "answers at its root", id="a_path_on_modal"),
])
def test_each_bad_setting_is_a_fail_naming_it(stack, changes, name, says):
    checks = doctor.settings_checks(stack.settings.model_copy(update=changes))
    found = [c for c in failures(checks) if c.name == name]
    assert found and says in found[0].detail, [c.line() for c in checks]


def test_a_webhook_url_that_is_not_our_webhook_fails(stack):
    settings = stack.settings.model_copy(update={"webhook_url": f"{stack.url}/pricing"})
    detail = the_fail(doctor.settings_checks(settings), "settings")
    assert "not this service's replicate_webhook" in detail


def test_metrics_token_unset_is_a_warning(stack):
    checks = doctor.settings_checks(stack.settings.model_copy(update={"metrics_token": None}))
    assert [c.status for c in checks if c.name == "METRICS_TOKEN"] == ["warn"]
    checks = doctor.settings_checks(stack.settings.model_copy(update={"metrics_token": "m" * 32}))
    assert [c.status for c in checks if c.name == "METRICS_TOKEN"] == ["ok"]


# --- margin ---------------------------------------------------------------------------------------

def priced(usd: float, per: str = "second") -> list[catalog.Variant]:
    price = catalog.ProviderPrice(usd, per, "test", "2026-12-02")
    return [dataclasses.replace(v, price=price) for v in catalog.VARIANTS if v.model == "t2v-14B"]


def test_the_cheapest_credit_is_the_biggest_packs():
    per_credit, pack = doctor.cheapest_credit()
    assert pack.pack_id == "credits-1200" and per_credit == pytest.approx(40.00 / 1200)


@pytest.mark.parametrize("usd, per, statuses", [
    # 720p: 20 credits x $0.0333 = $0.667. $0.25/s x 81/16 s = $1.266 a run: a loss.
    pytest.param(0.25, "second", {"480p": "fail", "720p": "fail"}, id="a_sale_loses_money"),
    # $0.30 a run: 480p brings $0.333 (margin 10 %: warn), 720p $0.667 (55 %: ok).
    pytest.param(0.30, "run", {"480p": "warn", "720p": "ok"}, id="under_min_margin"),
    pytest.param(0.05, "run", {"480p": "ok", "720p": "ok"}, id="comfortable"),
])
def test_the_margin_of_each_variant(stack, usd, per, statuses):
    checks = doctor.margin_checks(stack.settings, priced(usd, per))
    assert {c.name.split()[-1]: c.status for c in checks} == statuses
    for c in checks:
        if c.status == "fail":
            assert "a sale loses" in c.detail and "CREDIT_COSTS=t2v-14B:" in c.detail


def test_the_margin_follows_credit_costs_and_min_margin(stack):
    loses = stack.settings.model_copy(update={"credit_costs": "720p=20"})
    assert {c.status for c in doctor.margin_checks(loses, priced(0.25)) if c.name.endswith("720p")} == {"fail"}
    # The fix the fail line suggests: 1.266 / 0.7 / 0.0333 = 54.3 -> 55 credits keeps 30 %.
    line = next(c.detail for c in doctor.margin_checks(loses, priced(0.25)) if c.name.endswith("720p"))
    assert "CREDIT_COSTS=t2v-14B:720p=55" in line
    fixed = stack.settings.model_copy(update={"credit_costs": "t2v-14B:720p=55"})
    assert {c.status for c in doctor.margin_checks(fixed, priced(0.25)) if c.name.endswith("720p")} == {"ok"}
    strict = fixed.model_copy(update={"min_margin": 0.5})
    assert {c.status for c in doctor.margin_checks(strict, priced(0.25)) if c.name.endswith("720p")} == {"warn"}


def test_an_unknown_price_is_a_warning_that_says_so(stack):
    checks = doctor.margin_checks(stack.settings)
    assert {c.status for c in checks} == {"warn"}  # no price could be read here (shared/catalog.py)
    assert all("price unknown" in c.detail for c in checks)
    t2v_720 = next(c.detail for c in checks if c.name == "t2v-14B 720p")
    assert "would lose" in t2v_720  # at the highest third-party figure


def test_no_usd_pack_means_no_margin(stack):
    checks = doctor.margin_checks(stack.settings, pack_list=[packs.Pack("eur-100", 100, 500, "eur")])
    assert [c.status for c in checks] == ["warn"]


def test_what_the_doctor_catches_is_what_replicate_would_refuse_after_the_charge(stack, api):
    """The emulator validates creates against the schema it publishes: after the drift the doctor
    reports, a create the API still accepts is refused by "Replicate" (and refunded at once)."""
    token = api.token()
    assert api.text_to_video(token, prompt="a fox", model="t2v-14B", resolution="720p",
                             aspect_ratio="9:16").status_code == 202
    stack.emulator.enum_schema(T2V_720, "aspect_ratio")["enum"] = ["16:9"]
    refused = api.text_to_video(token, prompt="a fox", model="t2v-14B", resolution="720p", aspect_ratio="9:16")
    assert refused.status_code == 503 and refused.json()["code"] == "provider_unavailable"
    assert api.balance(token) == 80  # 100 - 20 for the first; the refused one was refunded
    assert "'9:16'" in the_fail(doctor.replicate_checks(stack.settings), "replicate")


@pytest.mark.parametrize("public, discrepancies, statuses", [
    pytest.param(False, [], {"migrations": "warn", "storage bucket": "ok", "ledger": "ok"}, id="healthy"),
    pytest.param(True, [{"problem": "balance_mismatch"}], {"migrations": "warn", "storage bucket": "fail",
                                                           "ledger": "fail"}, id="public_bucket_and_broken_ledger"),
])
def test_through_supabase_only_the_bucket_and_the_ledger_are_checked(public, discrepancies, statuses):
    """Without DATABASE_URL: the Supabase client's RPC and Storage API (recorded answers on loopback),
    and a warning that migrations and grants need DATABASE_URL."""
    from shared.settings import Settings
    from tests.support import RecordedHttp

    fake = RecordedHttp()
    fake.answers[("POST", "/rest/v1/rpc/ledger_discrepancies")] = (200, discrepancies)
    fake.answers[("GET", "/storage/v1/bucket/wan-media")] = (200, {
        "id": "wan-media", "name": "wan-media", "owner": "", "public": public, "file_size_limit": None,
        "allowed_mime_types": None, "created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z"})
    try:
        settings = Settings(_env_file=None, database_url=None, supabase_url=fake.url,
                            supabase_service_role_key="sb_secret_test_key_0123456789")
        checks = doctor.database_checks(settings)
    finally:
        fake.close()
    assert {c.name: c.status for c in checks} == statuses
    bucket = next(c.detail for c in checks if c.name == "storage bucket")
    assert ("is public" if public else "exists and is private") in bucket
