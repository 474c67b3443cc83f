"""Text-to-video, image-to-video and status, through HTTP on the local stack: real Postgres, the real
`replicate` client, and the Replicate emulator."""

from __future__ import annotations

import io
import time
import uuid

import httpx
import jwt
import pytest
from PIL import Image

from tests.support import assert_error, run_at_once, wait_for


def png(width: int = 320, height: int = 240) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


# --- the happy path --------------------------------------------------------------------------------

def test_text_to_video_charges_and_starts_the_right_replicate_model(api):
    token = api.token()
    r = api.text_to_video(token, resolution="720p", seed=7, aspect_ratio="9:16", negative_prompt="blur")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "processing"
    assert (body["cost"], body["credits_remaining"]) == (20, 80)  # 720p costs 20: 100 - 20
    create = api.stack.emulator.creates[-1]
    assert create["input"] == {"prompt": "a red fox running through snow", "negative_prompt": "blur",
                               "seed": 7, "aspect_ratio": "9:16"}
    assert create["webhook"] == f"{api.stack.settings.webhook_url}?generation_id={body['generation_id']}"
    assert create["webhook_events_filter"] == ["start", "logs", "completed"]
    pred = api.stack.emulator.predictions[api.prediction_of(body["generation_id"])]
    assert pred.data["model"] == "wavespeedai/wan-2.1-t2v-720p"
    assert api.balance(token) == 80


def test_a_generation_reaches_succeeded_with_a_video_the_browser_can_play(api):
    api.stack.emulator.behaviour.auto_run = True
    api.stack.emulator.behaviour.run_seconds = 0.25
    token = api.token()
    gen_id = api.text_to_video(token).json()["generation_id"]
    final = wait_for(lambda: (s := api.status(token, gen_id).json())["terminal"] and s)
    assert final["status"] == "succeeded" and final["progress"] == 100 and final["refunded"] is False
    video = wait_for(lambda: (s := api.status(token, gen_id).json())["video_url"].startswith(api.stack.url) and s)
    download = httpx.get(video["video_url"], timeout=30)
    assert download.status_code == 200
    assert download.headers["content-type"] == "video/mp4"
    assert download.content[4:8] == b"ftyp"  # an MP4 container
    assert api.balance(token) == 90


def test_status_reports_the_contract_fields(api):
    token = api.token()
    gen_id = api.text_to_video(token, model="t2v-1.3B").json()["generation_id"]
    body = api.status(token, gen_id).json()
    assert set(body) >= {"generation_id", "kind", "model", "resolution", "prompt", "status", "terminal",
                         "progress", "video_url", "error", "cost", "refunded", "created_at", "updated_at",
                         "completed_at"}
    assert (body["kind"], body["model"], body["status"], body["terminal"]) == (
        "text-to-video", "t2v-1.3B", "processing", False)
    assert body["created_at"].endswith("Z") and body["completed_at"] is None


# --- auth -------------------------------------------------------------------------------------------

def _token(secret: str, **claims) -> str:
    now = int(time.time())
    base = {"sub": str(uuid.uuid4()), "aud": "authenticated", "exp": now + 60, "iat": now}
    return jwt.encode({**base, **claims}, secret, algorithm="HS256")


@pytest.mark.parametrize("make_header", [
    pytest.param(lambda s: None, id="missing"),
    pytest.param(lambda s: "Bearer", id="empty_bearer"),
    pytest.param(lambda s: "Basic dXNlcjpwYXNz", id="not_bearer"),
    pytest.param(lambda s: "Bearer not-a-jwt", id="malformed"),
    pytest.param(lambda s: "Bearer " + _token(s, exp=int(time.time()) - 60), id="expired"),  # past the 30 s leeway
    pytest.param(lambda s: "Bearer " + _token("another-secret-of-enough-length-0123456789"), id="wrong_signature"),
    pytest.param(lambda s: "Bearer " + _token(s, aud="anon"), id="wrong_audience"),
    pytest.param(lambda s: "Bearer " + _token(s, sub="not-a-uuid"), id="sub_not_a_user"),
])
@pytest.mark.parametrize("call", ["text", "image", "status", "credits", "generations"])
def test_every_user_endpoint_refuses_a_bad_token(api, make_header, call):
    header = make_header(api.stack.settings.supabase_jwt_secret)
    headers = {"Authorization": header} if header else {}
    requests = {
        "text": lambda: api.http.post("/text-to-video", json={}, headers=headers),
        "image": lambda: api.http.post("/image-to-video", headers=headers, data={"prompt": "p"},
                                       files={"image": ("a.png", png(), "image/png")}),
        "status": lambda: api.http.get("/status", params={"generation_id": str(uuid.uuid4())}, headers=headers),
        "credits": lambda: api.http.get("/credits", headers=headers),
        "generations": lambda: api.http.get("/generations", headers=headers),
    }
    assert_error(requests[call](), 401, "unauthorized")
    assert api.stack.emulator.creates == []


# --- validation -------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes,field", [
    pytest.param({"prompt": "   "}, "prompt", id="blank_prompt"),
    pytest.param({"prompt": "x" * 2001}, "prompt", id="prompt_too_long"),
    pytest.param({"model": "sora"}, "model", id="unknown_model"),
    pytest.param({"model": "i2v-14B"}, "model", id="image_model_on_text_endpoint"),
    pytest.param({"model": "t2v-1.3B", "resolution": "720p"}, "resolution", id="small_model_at_720p"),
    pytest.param({"aspect_ratio": "1:1"}, "aspect_ratio", id="square_no_wan_model_takes"),
    pytest.param({"model": "t2v-1.3B", "aspect_ratio": "1:1"}, "aspect_ratio", id="square_on_the_small_model"),
    pytest.param({"model": "t2v-2.2-fast", "negative_prompt": "blur"}, "negative_prompt",
                 id="negative_prompt_on_a_model_without_one"),
    pytest.param({"model": "t2v-1.3B", "negative_prompt": "blur"}, "negative_prompt",
                 id="negative_prompt_on_the_small_model"),
    pytest.param({"resolution": "1080p"}, "resolution", id="unknown_resolution"),
    pytest.param({"seed": -1}, "seed", id="negative_seed"),
    pytest.param({"seed": "soon"}, "seed", id="seed_not_a_number"),
    pytest.param({"aspect_ratio": "4:3"}, "aspect_ratio", id="unknown_aspect_ratio"),
    pytest.param({"negative_prompt": "n" * 2001}, "negative_prompt", id="negative_prompt_too_long"),
    pytest.param({"duration": 10}, "duration", id="unknown_field"),
])
def test_invalid_text_requests_are_422_and_charge_nothing(api, changes, field):
    token = api.token()
    body = assert_error(api.text_to_video(token, **changes), 422, "invalid_request")
    assert body["errors"] and body["detail"] == body["errors"][0]["message"]
    assert body["errors"][0]["field"] == field
    assert api.balance(token) == 100
    assert api.stack.emulator.creates == []


def test_a_body_that_is_not_json_is_422(api):
    r = api.http.post("/text-to-video", content=b"{not json", headers=api.auth(api.token(), **{"Content-Type": "application/json"}))
    body = assert_error(r, 422, "invalid_request")
    # Not a field: the whole body, with where it broke (FastAPI put the offset where a field goes).
    assert body["errors"] == [{"field": None, "message": "The body is not valid JSON at character 2: "
                                                         "expecting property name enclosed in double quotes."}]
    assert body["detail"] == body["errors"][0]["message"]


def test_status_of_a_malformed_id_is_422_and_of_an_unknown_one_404(api):
    token = api.token()
    assert_error(api.status(token, "nope"), 422, "invalid_request")
    assert_error(api.status(token, str(uuid.uuid4())), 404, "not_found")


def test_unknown_paths_answer_in_the_contract_shape(api):
    assert_error(api.http.get("/nowhere"), 404, "not_found")


# --- money --------------------------------------------------------------------------------------------

def test_insufficient_credits_is_402_with_required_and_balance(api, db):
    user_id, token = api.signup()
    db.execute("select public.add_credits(%s, -95, 'adjustment', 'test')", (user_id,))  # 100 -> 5
    body = assert_error(api.text_to_video(token), 402, "insufficient_credits")
    assert (body["required"], body["balance"]) == (10, 5)
    assert api.balance(token) == 5
    assert api.stack.emulator.creates == []


def test_the_same_idempotency_key_and_body_answer_the_first_answer_and_charge_once(api):
    token = api.token()
    first = api.text_to_video(token, key="order-1")
    again = api.text_to_video(token, key="order-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert api.balance(token) == 90
    assert len(api.stack.emulator.creates) == 1


def test_the_same_idempotency_key_with_another_body_is_409(api):
    token = api.token()
    api.text_to_video(token, key="order-1")
    assert_error(api.text_to_video(token, key="order-1", prompt="something else"), 409, "idempotency_key_reused")
    assert api.balance(token) == 90


def test_idempotency_keys_belong_to_one_user(api):
    a, b = api.token(), api.token()
    assert api.text_to_video(a, key="k").status_code == 202
    assert api.text_to_video(b, key="k", prompt="other").status_code == 202
    assert (api.balance(a), api.balance(b)) == (90, 90)


def test_ten_concurrent_retries_with_one_key_create_one_generation(api):
    token = api.token()
    answers = run_at_once(10, lambda i: api.text_to_video(token, key="same"))
    assert {r.status_code for r in answers} == {202}
    assert len({r.json()["generation_id"] for r in answers}) == 1
    assert api.balance(token) == 90


def test_twenty_parallel_requests_from_one_user_let_at_most_three_in(api, db):
    user_id, token = api.signup()
    db.execute("select public.add_credits(%s, 1000, 'purchase', 'test')", (user_id,))
    answers = run_at_once(20, lambda i: api.text_to_video(token, prompt=f"fox {i}"))
    accepted = [r for r in answers if r.status_code == 202]
    refused = [r for r in answers if r.status_code == 429]
    assert (len(accepted), len(refused)) == (3, 17)
    for r in refused:
        assert_error(r, 429, "too_many_active_generations")
        assert int(r.headers["Retry-After"]) > 0
    assert api.balance(token) == 1070  # 100 + 1000 - 3 * 10


def test_a_finished_generation_frees_its_slot(api):
    token = api.token()
    ids = [api.text_to_video(token).json()["generation_id"] for _ in range(3)]
    assert_error(api.text_to_video(token), 429, "too_many_active_generations")
    api.stack.emulator.finish(api.prediction_of(ids[0]), "succeeded")
    wait_for(lambda: api.status(token, ids[0]).json()["terminal"])
    assert api.text_to_video(token).status_code == 202


# --- Replicate failing --------------------------------------------------------------------------------

# (Every way Replicate can fail on create, get and cancel: tests/test_faults.py.)

def test_a_retried_key_after_a_provider_failure_answers_503_again_without_charging(api):
    api.stack.emulator.behaviour.create_status = 503
    token = api.token()
    assert_error(api.text_to_video(token, key="k"), 503, "provider_unavailable")
    api.stack.emulator.behaviour.create_status = None
    assert_error(api.text_to_video(token, key="k"), 503, "provider_unavailable")
    assert api.balance(token) == 100
    assert api.text_to_video(token, key="k2").status_code == 202


# --- who sees what ------------------------------------------------------------------------------------

def test_one_user_cannot_see_another_users_generation(api):
    alice, bob = api.token(), api.token()
    gen_id = api.text_to_video(alice).json()["generation_id"]
    assert_error(api.status(bob, gen_id), 404, "not_found")
    assert api.http.get("/generations", headers=api.auth(bob)).json()["items"] == []
    assert api.status(alice, gen_id).status_code == 200


# --- status falls back to asking Replicate --------------------------------------------------------

def test_status_asks_replicate_when_the_webhook_was_lost_at_most_once_per_10s(api, db):
    emulator = api.stack.emulator
    emulator.behaviour.deliver_webhooks = False
    token = api.token()
    gen_id = api.text_to_video(token).json()["generation_id"]
    prediction_id = api.prediction_of(gen_id)
    emulator.set_status(prediction_id, "succeeded", logs="100%\n")
    assert api.status(token, gen_id).json()["status"] == "processing"  # heard from it just now
    assert emulator.gets == []
    db.execute("update public.generations set created_at = created_at - interval '1 minute', "
               "last_event_at = null where id = %s", (gen_id,))
    answers = run_at_once(5, lambda i: api.status(token, gen_id).json()["status"])
    assert "succeeded" in answers
    assert emulator.gets == [prediction_id]  # five callers, one question to Replicate
    assert api.status(token, gen_id).json()["status"] == "succeeded"


def test_status_survives_replicate_being_down(api, db):
    api.stack.emulator.behaviour.get_status = 503
    token = api.token()
    gen_id = api.text_to_video(token).json()["generation_id"]
    db.execute("update public.generations set created_at = now() - interval '1 minute' where id = %s", (gen_id,))
    r = api.status(token, gen_id)
    assert r.status_code == 200 and r.json()["status"] == "processing"


# --- image to video -------------------------------------------------------------------------------

def test_image_to_video_stores_the_image_and_gives_replicate_a_url_it_can_fetch(api):
    token = api.token()
    r = api.image_to_video(token, png(), resolution="720p")
    assert r.status_code == 202, r.text
    assert (r.json()["cost"], r.json()["credits_remaining"]) == (20, 80)
    image_url = api.stack.emulator.creates[-1]["input"]["image"]
    fetched = httpx.get(image_url, timeout=30)
    assert fetched.status_code == 200 and fetched.content == png()
    pred = api.stack.emulator.predictions[api.prediction_of(r.json()["generation_id"])]
    assert pred.data["model"] == "wavespeedai/wan-2.1-i2v-720p"
    tampered = image_url.replace("sig=", "sig=0")
    assert httpx.get(tampered, timeout=30).status_code == 404


@pytest.mark.parametrize("image,status,code", [
    pytest.param(b"just some text, not an image\n" * 10, 415, "unsupported_image_type", id="text_named_png"),
    pytest.param(b"GIF89a" + b"\0" * 100, 415, "unsupported_image_type", id="gif"),
    pytest.param(png() + b"\0" * (11 * 1024 * 1024), 413, "image_too_large", id="eleven_megabytes"),
    pytest.param(png()[:200], 422, "invalid_request", id="truncated_png"),
    pytest.param(png(16, 16), 422, "invalid_request", id="too_small"),
    pytest.param(b"", 422, "invalid_request", id="empty"),
])
def test_bad_images_are_refused_and_charge_nothing(api, image, status, code):
    token = api.token()
    assert_error(api.image_to_video(token, image), status, code)
    assert api.balance(token) == 100
    assert api.stack.emulator.creates == []


def test_a_decompression_bomb_is_refused(api):
    buffer = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buffer, format="PNG")  # tiny file, 400 megapixels
    token = api.token()
    assert_error(api.image_to_video(token, buffer.getvalue()), 422, "invalid_request")


def test_image_to_video_requires_the_image_and_an_image_model(api):
    token = api.token()
    r = api.http.post("/image-to-video", data={"prompt": "p", "model": "i2v-14B", "resolution": "480p"},
                      headers=api.auth(token))
    assert assert_error(r, 422, "invalid_request")["errors"][0]["field"] == "image"
    assert_error(api.image_to_video(token, png(), model="t2v-14B"), 422, "invalid_request")


def test_image_to_video_idempotency_covers_the_image(api):
    token = api.token()
    assert api.image_to_video(token, png(), key="i").status_code == 202
    assert api.image_to_video(token, png(), key="i").status_code == 202
    assert_error(api.image_to_video(token, png(321, 240), key="i"), 409, "idempotency_key_reused")
    assert api.balance(token) == 90


# --- account reads ---------------------------------------------------------------------------------

def test_credits_lists_the_ledger_newest_first(api):
    token = api.token()
    api.text_to_video(token)
    body = api.credits(token)
    assert (body["balance"], body["low_balance"]) == (90, False)
    assert [(t["type"], t["amount"], t["balance_after"]) for t in body["transactions"]] == [
        ("deduction", -10, 90), ("signup_bonus", 100, 100)]


def test_history_pages_newest_first_with_a_cursor(api, db):
    user_id, token = api.signup()
    db.execute("select public.add_credits(%s, 1000, 'purchase', null)", (user_id,))
    ids = []
    for i in range(5):
        ids.append(api.text_to_video(token, prompt=f"fox {i}").json()["generation_id"])
        db.execute("update public.generations set status = 'succeeded', completed_at = now() where id = %s", (ids[-1],))
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"before": cursor} if cursor else {})
        page = api.http.get("/generations", params=params, headers=api.auth(token)).json()
        seen += [g["generation_id"] for g in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]
    assert_error(api.http.get("/generations", params={"before": "garbage"}, headers=api.auth(token)), 422, "invalid_request")
    assert_error(api.http.get("/generations", params={"limit": 0}, headers=api.auth(token)), 422, "invalid_request")


def test_pricing_needs_no_sign_in_and_lists_every_model(api):
    body = api.http.get("/pricing").json()
    by_model = {m["model"]: m for m in body["models"]}
    assert by_model["t2v-14B"]["costs"] == {"480p": 10, "720p": 20}
    assert by_model["t2v-1.3B"]["resolutions"] == ["480p"]
    assert by_model["i2v-14B"]["kind"] == "image-to-video"
    assert {m["model"]: m["aspect_ratios"] for m in body["models"]} == {
        m: ["16:9", "9:16"] for m in ("t2v-14B", "t2v-1.3B", "t2v-2.2-fast", "i2v-14B")} | {
        m: [] for m in ("i2v-2.2-fast", "i2v-2.5")}  # these have no aspect_ratio input: they follow the image
    assert by_model["t2v-2.2-fast"]["costs"] == {"480p": 10, "720p": 20}


@pytest.mark.parametrize("model,resolution,replicate_model,extra", [
    ("t2v-1.3B", "480p", "wan-video/wan-2.1-1.3b", {"resolution": "480p"}),
    ("t2v-2.2-fast", "720p", "wan-video/wan-2.2-t2v-fast", {"resolution": "720p"}),
])
def test_each_model_name_runs_the_model_it_names(api, model, resolution, replicate_model, extra):
    token = api.token()
    r = api.text_to_video(token, model=model, resolution=resolution, aspect_ratio="9:16")
    assert r.status_code == 202, r.text
    pred = api.stack.emulator.predictions[api.prediction_of(r.json()["generation_id"])]
    assert pred.data["model"] == replicate_model
    assert pred.data["input"] == {"prompt": "a red fox running through snow", "aspect_ratio": "9:16"} | extra


def test_the_create_carries_cancel_after_the_deadline(api):
    before = time.time()
    gen_id = api.text_to_video(api.token()).json()["generation_id"]
    pred = api.stack.emulator.predictions[api.prediction_of(gen_id)]
    deadline = api.stack.settings.deadline_seconds
    assert before + deadline <= pred.cancel_after <= time.time() + deadline


@pytest.mark.parametrize("size,ratio", [((300, 500), "9:16"), ((500, 300), "16:9"), ((400, 400), "16:9")])
def test_image_to_video_without_aspect_ratio_follows_the_image(api, size, ratio):
    token = api.token()
    r = api.image_to_video(token, png(*size))
    assert r.status_code == 202, r.text
    assert api.stack.emulator.creates[-1]["input"]["aspect_ratio"] == ratio
    assert api.status(token, r.json()["generation_id"]).status_code == 200


def test_image_to_video_keeps_an_explicit_aspect_ratio(api):
    r = api.image_to_video(api.token(), png(300, 500), aspect_ratio="16:9")
    assert r.status_code == 202, r.text
    assert api.stack.emulator.creates[-1]["input"]["aspect_ratio"] == "16:9"


def test_cors_allows_the_configured_origin_only(api):
    allowed = api.http.options("/text-to-video", headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"})
    assert allowed.headers.get("access-control-allow-origin") == "https://app.example.com"
    other = api.http.options("/text-to-video", headers={
        "Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in other.headers
