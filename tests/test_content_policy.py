"""The content policy (issue 27, contract section 7), through HTTP on the local stack: real Postgres,
the official `openai` client against the moderation emulator, the Replicate emulator.

Time is driven through the database (refusal and block times moved into the past), never by sleeping."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from shared.moderation import DEFAULT_TERMS, LocalPolicy, normalize
from tests.support import assert_error, wait_for
from wan_local.dev import ThreadedServer
from wan_local.openai_emulator import OpenAIModerationEmulator

E005 = "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"


def png(width: int = 320, height: int = 240) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (40, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def moderation_api():
    """OpenAI's moderation endpoint, emulated on loopback (one per module; each test resets it)."""
    emulator = OpenAIModerationEmulator()
    server = ThreadedServer(emulator.app, "127.0.0.1", 0).start()
    emulator.base_url = f"http://127.0.0.1:{server.port}/v1"
    yield emulator
    emulator.close()
    ThreadedServer.stop_all([server])


@pytest.fixture
def classifier(moderation_api):
    moderation_api.behaviour = type(moderation_api.behaviour)()
    moderation_api.requests.clear()
    return moderation_api


@pytest.fixture
def stack_settings(request, moderation_api) -> dict:
    """BLOCKED_TERMS for every test here; a test adds the classifier (or other settings) with
    `@pytest.mark.parametrize("stack_settings", [{...}], indirect=True)`."""
    extra = dict(getattr(request, "param", {}) or {})
    if extra.pop("hosted", False):
        extra |= {"openai_api_key": moderation_api.api_key, "openai_base_url": moderation_api.base_url}
    return {"blocked_terms": "gore, kill, crème brûlée, Café, severed head"} | extra


def _hosted(**settings) -> list:
    return [pytest.param({"hosted": True, **settings}, id="hosted")]


def refusals(db, user_id) -> list[tuple]:
    return db.execute("select field, category, source, prompt from public.content_refusals where user_id = %s "
                      "order by id", (user_id,)).fetchall()


def generations_of(db, user_id) -> int:
    return db.execute("select count(*) from public.generations where user_id = %s", (user_id,)).fetchone()[0]


def assert_refused(db, api, response, user_id, token, field: str, category: str) -> dict:
    body = assert_error(response, 422, "content_policy")
    assert (body["field"], body["category"]) == (field, category)
    assert body["errors"][0]["field"] == field
    assert api.balance(token) == 100 and generations_of(db, user_id) == 0   # nothing charged, nothing created
    return body


# --- the local policy ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,field", [("t2v", "prompt"), ("t2v", "negative_prompt"), ("i2v", "prompt"),
                                        ("i2v", "negative_prompt")])
def test_a_blocked_term_in_each_field_is_refused_uncharged_and_named(api, db, kind, field):
    user_id, token = api.signup()
    fields = {field: "a knight, then gore everywhere"}
    creates_before = len(api.stack.emulator.creates)
    r = (api.text_to_video(token, **fields) if kind == "t2v" else api.image_to_video(token, png(), **fields))
    body = assert_refused(db, api, r, user_id, token, field, "blocked_term")
    assert '"gore"' in body["detail"] and field.replace("_", " ") in body["detail"]
    assert len(api.stack.emulator.creates) == creates_before          # Replicate never heard of it
    assert refusals(db, user_id) == [(field, "blocked_term", "local", None)]   # the prompt is not kept


def test_the_shipped_terms_are_refused_without_any_setting(api, db):
    user_id, token = api.signup()
    r = api.text_to_video(token, prompt=f"a film about {DEFAULT_TERMS[0].upper()}")
    assert_refused(db, api, r, user_id, token, "prompt", "blocked_term")


@pytest.mark.parametrize("prompt", ["a skilled painter at work", "Gorey old house in the fog",
                                    "a severed-headline newspaper? no: a headline", "cafeteria at noon"])
def test_a_term_inside_another_word_is_accepted(api, prompt):
    token = api.token()
    r = api.text_to_video(token, prompt=prompt)
    assert r.status_code == 202, r.text
    assert api.balance(token) == 90


@pytest.mark.parametrize("prompt,term", [
    pytest.param("KILL the lights", "kill", id="upper_case"),
    pytest.param("a plate of CREME BRULEE", "creme brulee", id="accents_dropped_by_the_user"),
    pytest.param("a cafe at dawn", "cafe", id="accents_in_the_setting_only"),
    pytest.param("a Café, then a SEVERED\n  head", "cafe", id="first_match"),
    pytest.param("a SEVERED\n  head, then a café", "severed head", id="first_match_is_a_phrase"),
    pytest.param("the severed   head of a statue", "severed head", id="phrase_across_whitespace"),
    pytest.param("ｇｏｒｅ in full-width letters", "gore", id="compatibility_forms"),
])
def test_case_accents_and_spacing_do_not_hide_a_term(api, db, prompt, term):
    user_id, token = api.signup()
    body = assert_refused(db, api, api.text_to_video(token, prompt=prompt), user_id, token, "prompt", "blocked_term")
    assert f'"{term}"' in body["detail"]


def test_the_local_policy_matches_whole_normalized_words():
    policy = LocalPolicy(("Kill", "crème brûlée", "x-ray", " ", "severed head"))
    assert policy.terms == ("creme brulee", "kill", "severed head", "x ray")
    assert policy.find("Skillful killer") is None and policy.find("kill!") == "kill"
    assert policy.find("CRÈME   Brûlée") == "creme brulee" and policy.find("cremebrulee") is None
    assert policy.find("an X-RAY image") == "x ray" and policy.find("x-rays") is None
    assert policy.find("a severed, head") == "severed head" and policy.find("severed heads") is None
    assert policy.find("severed") is None
    assert LocalPolicy(()).find("anything") is None
    assert normalize("Ａ Crème") == "a creme"


# --- the hosted classifier ------------------------------------------------------------------------------

@pytest.mark.parametrize("stack_settings", _hosted(), indirect=True)
def test_the_classifier_refuses_a_prompt_with_its_category(api, db, classifier):
    classifier.behaviour.flag_words = {"blood": "violence/graphic"}
    user_id, token = api.signup()
    r = api.text_to_video(token, prompt="blood on the walls", negative_prompt="blur")
    body = assert_refused(db, api, r, user_id, token, "prompt", "violence/graphic")
    assert "violence/graphic" in body["detail"]
    assert classifier.requests[-1] == {"model": "omni-moderation-latest", "input": ["blood on the walls", "blur"]}
    assert refusals(db, user_id) == [("prompt", "violence/graphic", "classifier", None)]


@pytest.mark.parametrize("stack_settings", _hosted(), indirect=True)
def test_the_classifier_sees_the_image_and_refuses_it_by_name(api, db, classifier):
    classifier.behaviour.flag_images = "sexual"
    user_id, token = api.signup()
    r = api.image_to_video(token, png(2000, 1500))
    assert_refused(db, api, r, user_id, token, "image", "sexual")
    sent = classifier.requests[-1]["input"]
    assert sent[0]["type"] == "image_url" and sent[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    # a thumbnail, not the upload: bounded size whatever the user sent
    assert len(sent[0]["image_url"]["url"]) < 200_000


@pytest.mark.parametrize("stack_settings", _hosted(), indirect=True)
def test_a_negative_prompt_may_name_what_it_keeps_out_but_not_minors(api, db, classifier):
    classifier.behaviour.flag_words = {"nudity": "sexual", "child": "sexual/minors"}
    user_id, token = api.signup()
    ok = api.text_to_video(token, negative_prompt="nudity, blur")    # asks the model to avoid it
    assert ok.status_code == 202, ok.text
    refused = api.text_to_video(token, negative_prompt="nudity, child")
    body = assert_error(refused, 422, "content_policy")
    assert (body["field"], body["category"]) == ("negative_prompt", "sexual/minors")
    assert api.balance(token) == 90 and generations_of(db, user_id) == 1


@pytest.mark.parametrize("stack_settings", _hosted(moderation_timeout_seconds=0.5), indirect=True)
def test_a_hung_classifier_fails_open_by_default(api, db, classifier):
    classifier.behaviour.hang_seconds = 30          # released when the module's emulator closes
    user_id, token = api.signup()
    r = api.text_to_video(token)
    assert r.status_code == 202, r.text              # the local policy passed; the model's checker stays on
    assert api.balance(token) == 90 and refusals(db, user_id) == []


@pytest.mark.parametrize("stack_settings", _hosted(moderation_timeout_seconds=0.5, moderation_fail_open=False),
                         indirect=True)
def test_a_hung_classifier_fails_closed_when_told_to(api, db, classifier):
    classifier.behaviour.hang_seconds = 30
    user_id, token = api.signup()
    body = assert_error(api.text_to_video(token), 503, "service_unavailable")
    assert "nothing was charged" in body["detail"]
    assert api.balance(token) == 100 and generations_of(db, user_id) == 0 and refusals(db, user_id) == []


@pytest.mark.parametrize("stack_settings", _hosted(moderation_fail_open=False), indirect=True)
def test_a_classifier_error_fails_closed_too_and_a_blocked_term_never_asks_it(api, db, classifier):
    classifier.behaviour.error_status = 500
    user_id, token = api.signup()
    assert_error(api.text_to_video(token), 503, "service_unavailable")
    asked = len(classifier.requests)
    assert_refused(db, api, api.text_to_video(token, prompt="gore"), user_id, token, "prompt", "blocked_term")
    assert len(classifier.requests) == asked         # the local policy answered first


# --- after the provider -----------------------------------------------------------------------------------

def test_the_provider_safety_refusal_is_refunded_once_with_its_code(api, db):
    token, gen_id, pid = api.start_generation()
    api.stack.emulator.finish(pid, "failed", error=E005)
    final = wait_for(lambda: (s := api.status(token, gen_id).json())["terminal"] and s)
    assert (final["status"], final["error_code"], final["refunded"]) == ("failed", "content_policy", True)
    assert final["error"].startswith("The video provider's safety checker refused this video") and "(E005)" in final["error"]
    assert api.balance(token) == 100
    refunds = db.execute("select count(*) from public.credit_transactions where generation_id = %s and type = 'refund'",
                         (gen_id,)).fetchone()[0]
    assert refunds == 1
    # the same news again (a repeated webhook, a sweep) changes nothing
    api.stack.emulator.finish(pid, "failed", error=E005)
    assert api.balance(token) == 100
    listed = api.http.get("/generations", headers=api.auth(token)).json()["items"][0]
    assert (listed["error_code"], listed["refunded"]) == ("content_policy", True)


@pytest.mark.parametrize("error,code", [
    pytest.param("NSFW content detected. Try running it again, or try a different prompt.", "content_policy", id="cog_nsfw"),
    pytest.param("CUDA out of memory", "provider_failed", id="not_a_safety_text"),
])
def test_every_failure_carries_a_code(api, error, code):
    token, gen_id, pid = api.start_generation()
    assert api.status(token, gen_id).json()["error_code"] is None
    api.stack.emulator.finish(pid, "failed", error=error)
    final = wait_for(lambda: (s := api.status(token, gen_id).json())["terminal"] and s)
    assert (final["error_code"], final["refunded"]) == (code, True)


def test_canceled_and_unavailable_have_codes_too(api):
    token, gen_id, _ = api.start_generation()
    assert api.http.post("/cancel", json={"generation_id": gen_id}, headers=api.auth(token)).json()["error_code"] == \
        "canceled_by_user"
    api.stack.emulator.behaviour.create_status = 503
    assert api.text_to_video(token).status_code == 503
    latest = api.http.get("/generations", headers=api.auth(token)).json()["items"][0]
    assert (latest["status"], latest["error_code"]) == ("failed", "provider_unavailable")


def test_the_safety_checker_is_never_disabled(api):
    token = api.token()
    assert api.text_to_video(token).status_code == 202
    assert api.text_to_video(token, model="t2v-1.3B").status_code == 202
    assert api.image_to_video(token, png()).status_code == 202
    creates = api.stack.emulator.creates
    assert len(creates) == 3 and all("disable_safety_checker" not in c["input"] for c in creates)


# --- repeat offenders -------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack_settings", [{"moderation_strikes": 2, "moderation_block_seconds": 3600}],
                         indirect=True)
def test_more_strikes_than_allowed_block_creates_until_the_block_expires(api, db):
    user_id, token = api.signup()
    for _ in range(2):  # two strikes: at the limit, not past it
        assert assert_error(api.text_to_video(token, prompt="gore"), 422, "content_policy")["blocked_until"] is None
    third = assert_error(api.text_to_video(token, prompt="gore"), 422, "content_policy")
    assert third["blocked_until"] and third["blocked_until"] in third["detail"]
    blocked = assert_error(api.text_to_video(token), 403, "account_blocked")
    assert blocked["blocked_until"] == third["blocked_until"] and third["blocked_until"] in blocked["detail"]
    assert_error(api.image_to_video(token, png()), 403, "account_blocked")
    assert api.balance(token) == 100 and generations_of(db, user_id) == 0
    assert api.http.get("/credits", headers=api.auth(token)).status_code == 200   # reads still work
    # an hour later (moved in the database): the block is over, and it used up its strikes
    db.execute("update public.moderation_blocks set blocked_at = blocked_at - interval '61 minutes', "
               "blocked_until = blocked_until - interval '61 minutes' where user_id = %s", (user_id,))
    db.execute("update public.content_refusals set refused_at = refused_at - interval '61 minutes' where user_id = %s",
               (user_id,))
    assert api.text_to_video(token).status_code == 202
    assert assert_error(api.text_to_video(token, prompt="gore"), 422, "content_policy")["blocked_until"] is None
    assert api.balance(token) == 90


@pytest.mark.parametrize("stack_settings", [{"moderation_strikes": 2}], indirect=True)
def test_refusals_older_than_a_day_are_not_strikes(api, db):
    user_id, token = api.signup()
    for _ in range(2):
        assert_error(api.text_to_video(token, prompt="gore"), 422, "content_policy")
    db.execute("update public.content_refusals set refused_at = now() - interval '25 hours' where user_id = %s",
               (user_id,))
    assert assert_error(api.text_to_video(token, prompt="gore"), 422, "content_policy")["blocked_until"] is None
    assert api.text_to_video(token).status_code == 202


@pytest.mark.parametrize("stack_settings", [{"moderation_strikes": 1}], indirect=True)
def test_the_operator_lifts_a_block_and_the_retry_path_is_checked_too(api, db, backend):
    user_id, token = api.signup()
    _, gen_id, pid = api.start_generation(token)
    api.stack.emulator.finish(pid, "failed", error="CUDA out of memory")
    wait_for(lambda: api.status(token, gen_id).json()["terminal"])
    db.execute("update public.generations set prompt = 'gore at night' where id = %s", (gen_id,))
    retry = lambda: api.http.post("/retry", json={"generation_id": gen_id}, headers=api.auth(token))  # noqa: E731
    assert assert_error(retry(), 422, "content_policy")["field"] == "prompt"
    assert_error(retry(), 422, "content_policy")                  # the second strike blocks (more than 1)
    assert_error(api.text_to_video(token), 403, "account_blocked")
    assert backend.call("lift_moderation_block", p_user_id=user_id) is True
    assert backend.call("lift_moderation_block", p_user_id=user_id) is False
    assert api.text_to_video(token).status_code == 202


@pytest.mark.parametrize("stack_settings", [{"create_rate_per_minute": 2}], indirect=True)
def test_a_refusal_counts_against_the_per_minute_create_limit(api, db):
    # Fixed one-minute windows: two refusals, then a clean create in the same minute is one too many.
    user_id, token = api.signup()
    db.execute("select pg_sleep(greatest(0, 60.5 - extract(second from now())))"
               " where extract(second from now()) > 55")  # start inside a fresh window, not at its edge
    assert_error(api.text_to_video(token, prompt="gore"), 422, "content_policy")
    assert_error(api.text_to_video(token, prompt="gore"), 422, "content_policy")
    assert_error(api.text_to_video(token), 429, "rate_limited")
    assert_error(api.text_to_video(token, prompt="gore"), 429, "rate_limited")
    assert api.balance(token) == 100 and len(refusals(db, user_id)) == 3


@pytest.mark.parametrize("stack_settings", [{"metrics_token": "m3tr1cs-token", "moderation_strikes": 1,
                                             "moderation_store_prompts": True}], indirect=True)
def test_metrics_show_refusals_and_flagged_users(api, db):
    user_id, token = api.signup()
    assert_error(api.text_to_video(token, prompt="gore"), 422, "content_policy")
    assert_error(api.text_to_video(token, negative_prompt="kill"), 422, "content_policy")
    assert refusals(db, user_id)[0][3] == "gore"                   # kept: the operator turned it on
    text = api.http.get("/metrics", headers={"Authorization": "Bearer m3tr1cs-token"}).text
    assert 'wan_content_refusals_total{field="prompt",category="blocked_term",source="local"} 1' in text
    assert 'wan_content_refusals_total{field="negative_prompt",category="blocked_term",source="local"} 1' in text
    assert "wan_moderation_blocked_users 1" in text
    assert f'wan_moderation_flagged_user_refusals{{user_id="{user_id}",blocked="true"}} 2' in text


@pytest.mark.parametrize("stack_settings", _hosted(), indirect=True)
def test_a_retry_sends_its_stored_image_to_the_classifier(api, db, classifier):
    user_id, token = api.signup()
    first = api.image_to_video(token, png())
    assert first.status_code == 202, first.text
    gen_id = first.json()["generation_id"]
    api.stack.emulator.finish(api.prediction_of(gen_id), "failed", error="CUDA out of memory")
    wait_for(lambda: api.status(token, gen_id).json()["terminal"])
    classifier.behaviour.flag_images = "violence"
    r = api.http.post("/retry", json={"generation_id": gen_id}, headers=api.auth(token))
    body = assert_error(r, 422, "content_policy")
    assert (body["field"], body["category"]) == ("image", "violence")
    url = classifier.requests[-1]["input"][0]["image_url"]["url"]
    assert url.startswith(api.stack.url) and "uploads/" in url        # the stored upload's signed URL
    assert api.balance(token) == 100 and generations_of(db, user_id) == 1
