"""Advanced editing (contract section 8) through HTTP on the local stack: extend a video from OUR copy
of its last frame, first-and-last-frame on wan-2.2-i2v-fast, and the Wan 2.5 variants with their
durations, against real Postgres, the real `replicate` client and the emulator's real videos."""

from __future__ import annotations

import io
import uuid

import av
import httpx
import pytest
from PIL import Image

from shared import catalog, costs
from tests.conftest import assert_books_balance
from tests.support import assert_error, ledger, wait_for


@pytest.fixture
def stack_settings() -> dict:
    return {"max_active_generations": 100}


def png(width: int = 320, height: int = 240, colour=(200, 80, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def frames_of(mp4: bytes) -> list[Image.Image]:
    """Every frame of a video, decoded by hand with PyAV (independent of shared/video_frames.py)."""
    with av.open(io.BytesIO(mp4)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def succeeded(api, db, token: str, **body) -> str:
    """A succeeded text-to-video generation whose video we copied: its id."""
    gen_id = api.text_to_video(token, **body).json()["generation_id"]
    api.stack.emulator.finish(api.prediction_of(gen_id), "succeeded")
    wait_for(lambda: db.execute("select video_path from public.generations where id = %s",
                                (gen_id,)).fetchone()[0])
    return gen_id


def extend(api, token: str, gen_id: str, key: str | None = None, **body):
    body = {"prompt": "the fox leaps over a log"} | body
    headers = api.auth(token, **({"Idempotency-Key": key} if key else {}))
    return api.http.post(f"/generations/{gen_id}/extend", json=body, headers=headers)


def fetched(url: str) -> bytes:
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 200, url
    return answer.content


def grant(db, user_id: str, amount: int) -> None:
    db.execute("select public.add_credits(%s, %s, 'purchase', 'test')", (user_id, amount))


# --- extend ----------------------------------------------------------------------------------------

def test_extend_starts_a_charged_generation_from_the_last_frame_of_our_copy(api, db):
    token = api.token()
    source = succeeded(api, db, token, aspect_ratio="9:16")
    source_pid = api.prediction_of(source)
    output = fetched(api.stack.emulator.predictions[source_pid].data["output"])
    del api.stack.emulator.predictions[source_pid]  # Replicate's hour is over: only our copy is left

    r = extend(api, token, source)
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["cost"], body["credits_remaining"], body["extends"]) == (10, 80, source)  # 100 - 10 - 10
    create = api.stack.emulator.creates[-1]
    assert api.stack.emulator.predictions[api.prediction_of(body["generation_id"])].data["model"] == \
        "wavespeedai/wan-2.1-i2v-480p"  # t2v-14B 480p source -> i2v-14B at 480p
    assert create["input"]["aspect_ratio"] == "9:16"  # the source's shape
    assert create["input"]["prompt"] == "the fox leaps over a log"
    # The pixel check: the first image sent is exactly the last frame of the emulator's video.
    first_image = Image.open(io.BytesIO(fetched(create["input"]["image"])))
    frames = frames_of(output)
    assert first_image.size == frames[-1].size == (180, 320)
    assert first_image.convert("RGB").tobytes() == frames[-1].tobytes()
    assert frames[0].tobytes() != frames[-1].tobytes()
    status = api.status(token, body["generation_id"]).json()
    assert (status["extends"], status["kind"], status["model"]) == (source, "image-to-video", "i2v-14B")
    assert api.status(token, source).json()["extends"] is None
    history = api.http.get("/generations", headers=api.auth(token)).json()["items"]
    assert [(g["generation_id"], g["extends"]) for g in history] == [(body["generation_id"], source), (source, None)]
    assert_books_balance(api.stack.settings.database_url)


def test_an_extension_of_an_extension_makes_a_chain_and_takes_model_and_resolution(api, db):
    user_id, token = api.signup()
    grant(db, user_id, 100)
    source = succeeded(api, db, token)
    first = extend(api, token, source, model="i2v-2.2-fast", resolution="720p").json()
    assert first["cost"] == 20
    create = api.stack.emulator.creates[-1]
    assert api.stack.emulator.predictions[api.prediction_of(first["generation_id"])].data["model"] == \
        "wan-video/wan-2.2-i2v-fast"
    assert "aspect_ratio" not in create["input"] and create["input"]["resolution"] == "720p"
    api.stack.emulator.finish(api.prediction_of(first["generation_id"]), "succeeded")
    wait_for(lambda: db.execute("select video_path from public.generations where id = %s",
                                (first["generation_id"],)).fetchone()[0])
    second = extend(api, token, first["generation_id"]).json()  # defaults: the source's i2v model and resolution
    assert (second["cost"], second["extends"]) == (20, first["generation_id"])
    assert api.status(token, second["generation_id"]).json()["model"] == "i2v-2.2-fast"


@pytest.mark.parametrize("outcome", ["processing", "failed", "canceled"])
def test_only_a_succeeded_generation_can_be_extended(api, outcome):
    token = api.token()
    gen_id = api.text_to_video(token).json()["generation_id"]
    if outcome == "failed":
        api.stack.emulator.finish(api.prediction_of(gen_id), "failed", error="boom")
        wait_for(lambda: api.status(token, gen_id).json()["terminal"])
    elif outcome == "canceled":
        api.http.post("/cancel", json={"generation_id": gen_id}, headers=api.auth(token))
    before = api.balance(token)
    assert_error(extend(api, token, gen_id), 409, "invalid_state")
    assert api.balance(token) == before  # nothing charged


def test_another_users_or_an_unknown_generation_is_not_found(api, db):
    alice, bob = api.token(), api.token()
    source = succeeded(api, db, alice)
    assert_error(extend(api, bob, source), 404, "not_found")
    assert_error(extend(api, bob, str(uuid.uuid4())), 404, "not_found")
    assert api.balance(bob) == 100
    assert_error(api.http.post(f"/generations/{source}/extend", json={"prompt": "x"}), 401, "unauthorized")


def test_a_video_no_longer_kept_cannot_be_extended(api, db):
    token = api.token()
    source = succeeded(api, db, token)
    db.execute("update public.generations set video_deleted_at = now() where id = %s", (source,))
    assert_error(extend(api, token, source), 409, "invalid_state")
    assert api.balance(token) == 90


def test_an_undecodable_video_fails_the_extension_and_refunds_it(api, db):
    token = api.token()
    source = succeeded(api, db, token)
    (path,) = db.execute("select video_path from public.generations where id = %s", (source,)).fetchone()
    api.stack.services.storage._file(path).write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 10)
    creates = len(api.stack.emulator.creates)

    body = assert_error(extend(api, token, source, key="ext-1"), 409, "invalid_state")
    assert "could not be decoded" in body["detail"] and "refunded" in body["detail"]
    assert api.balance(token) == 90  # charged 10 and refunded 10
    assert len(api.stack.emulator.creates) == creates  # nothing started at Replicate
    (gen_id, status, code) = db.execute(
        "select id, status, error_code from public.generations where extends = %s", (source,)).fetchone()
    assert (status, code) == ("failed", "source_undecodable")
    assert api.status(token, str(gen_id)).json()["refunded"] is True
    rows = [(t, a) for t, a, _, g in ledger(db, db.execute(
        "select user_id from public.generations where id = %s", (source,)).fetchone()[0]) if g == gen_id]
    assert rows == [("deduction", -10), ("refund", 10)]
    # The same key answers the same again, charging nothing more.
    assert_error(extend(api, token, source, key="ext-1"), 409, "invalid_state")
    assert api.balance(token) == 90
    # Its first image was never made: a retry has nothing to start from (and charges nothing).
    retried = api.http.post("/retry", json={"generation_id": str(gen_id)}, headers=api.auth(token))
    assert "never got its first frame" in assert_error(retried, 409, "invalid_state")["detail"]
    assert api.balance(token) == 90
    assert_books_balance(api.stack.settings.database_url)


def test_the_same_key_replays_an_extension_and_a_bad_field_is_a_422_before_any_charge(api, db):
    token = api.token()
    source = succeeded(api, db, token)
    first = extend(api, token, source, key="k").json()
    again = extend(api, token, source, key="k")
    assert again.status_code == 202 and again.json()["generation_id"] == first["generation_id"]
    assert_error(extend(api, token, source, key="k", prompt="something else"), 409, "idempotency_key_reused")
    assert api.balance(token) == 80
    bad = assert_error(extend(api, token, source, model="t2v-14B"), 422, "invalid_request")
    assert bad["errors"][0]["field"] == "model"
    bad = assert_error(extend(api, token, source, model="i2v-2.5", resolution="480p"), 422, "invalid_request")
    assert bad["errors"][0]["field"] == "resolution"
    assert_error(extend(api, token, source, prompt=""), 422, "invalid_request")
    assert api.balance(token) == 80


# --- first and last frame --------------------------------------------------------------------------

def test_last_image_goes_to_the_model_that_takes_it(api):
    token = api.token()
    first, last = png(320, 240, (10, 20, 30)), png(320, 240, (200, 210, 220))
    r = api.http.post("/image-to-video", headers=api.auth(token), data={
        "prompt": "from day to night", "model": "i2v-2.2-fast", "resolution": "480p"},
        files={"image": ("a.png", first, "image/png"), "last_image": ("b.png", last, "image/png")})
    assert r.status_code == 202, r.text
    create = api.stack.emulator.creates[-1]
    assert set(create["input"]) == {"prompt", "resolution", "image", "last_image"}
    assert fetched(create["input"]["image"]) == first and fetched(create["input"]["last_image"]) == last
    assert api.balance(token) == 90


def test_last_image_elsewhere_is_a_422_before_any_charge(api):
    token = api.token()
    for model, resolution in (("i2v-14B", "480p"), ("i2v-2.5", "720p")):
        r = api.http.post("/image-to-video", headers=api.auth(token), data={
            "prompt": "p", "model": model, "resolution": resolution},
            files={"image": ("a.png", png(), "image/png"), "last_image": ("b.png", png(), "image/png")})
        body = assert_error(r, 422, "invalid_request")
        assert body["errors"][0]["field"] == "last_image"
    assert api.balance(token) == 100


def test_a_bad_last_image_is_refused_like_a_bad_image(api):
    token = api.token()
    r = api.http.post("/image-to-video", headers=api.auth(token), data={
        "prompt": "p", "model": "i2v-2.2-fast", "resolution": "480p"},
        files={"image": ("a.png", png(), "image/png"), "last_image": ("b.png", png(16, 16), "image/png")})
    assert assert_error(r, 422, "invalid_request")["errors"][0]["field"] == "last_image"
    r = api.http.post("/image-to-video", headers=api.auth(token), data={
        "prompt": "p", "model": "i2v-2.2-fast", "resolution": "480p"},
        files={"image": ("a.png", png(), "image/png"), "last_image": ("b.txt", b"hello", "text/plain")})
    assert_error(r, 415, "unsupported_image_type")
    assert api.balance(token) == 100


def test_pricing_lists_each_models_optional_inputs_and_durations(api):
    models = {m["model"]: m for m in api.http.get("/pricing").json()["models"]}
    assert models["i2v-2.2-fast"]["inputs"] == ["last_image"]
    assert models["i2v-2.2-fast"]["aspect_ratios"] == []  # it follows the image
    assert all(m["inputs"] == [] for name, m in models.items() if name != "i2v-2.2-fast")
    assert models["i2v-2.5"]["durations"] == [5, 10]
    assert models["i2v-2.5"]["duration_costs"] == {"720p": {"5": 40, "10": 80}, "1080p": {"5": 60, "10": 120}}
    assert models["t2v-14B"]["costs"] == {"480p": 10, "720p": 20} and models["t2v-14B"]["durations"] == []


# --- every new variant, with every allowed option, through the emulator -----------------------------

NEW_VARIANTS = [v for v in catalog.VARIANTS if v.model in ("i2v-2.2-fast", "i2v-2.5")]


@pytest.mark.parametrize("variant", NEW_VARIANTS, ids=lambda v: f"{v.model}-{v.resolution}-{v.duration}")
@pytest.mark.parametrize("portrait", [False, True], ids=["landscape", "portrait"])
def test_every_new_variant_runs_with_every_allowed_option(api, db, variant, portrait):
    user_id, token = api.signup()
    grant(db, user_id, 200)
    fields = {"prompt": "waves", "model": variant.model, "resolution": variant.resolution, "seed": "42"}
    files = {"image": ("a.png", png(240, 320) if portrait else png(320, 240), "image/png")}
    if variant.duration:
        fields |= {"duration": str(variant.duration), "negative_prompt": "blur"}
    else:
        files["last_image"] = ("b.png", png(240, 320) if portrait else png(320, 240), "image/png")
    r = api.http.post("/image-to-video", headers=api.auth(token), data=fields, files=files)
    assert r.status_code == 202, r.text
    cost = costs.DEFAULT.of(variant)  # the catalog's default for the variant (no CREDIT_COSTS here)
    assert r.json()["cost"] == cost
    assert api.balance(token) == 300 - cost
    gen_id = r.json()["generation_id"]
    pid = api.prediction_of(gen_id)
    pred = api.stack.emulator.predictions[pid]
    assert pred.data["model"] == variant.replicate_model and pred.data["status"] == "starting"
    expected = {"prompt", "image", "resolution", "seed"} | (
        {"duration", "negative_prompt"} if variant.duration else {"last_image"})
    assert set(pred.data["input"]) == expected
    assert pred.data["input"]["resolution"] == variant.resolution
    wait_for(lambda: pred.image_shape)  # the emulator fetched the inputs, as Replicate does
    api.stack.emulator.finish(pid, "succeeded")
    wait_for(lambda: api.status(token, gen_id).json()["video_url"] and db.execute(
        "select video_path from public.generations where id = %s", (gen_id,)).fetchone()[0])
    status = api.status(token, gen_id).json()
    assert status["duration"] == variant.duration
    frames = frames_of(fetched(status["video_url"]))
    assert len(frames) == (variant.duration * 16 if variant.duration else 81)
    assert (frames[0].height > frames[0].width) == portrait  # the video follows the image


@pytest.mark.parametrize("fields, field", [
    ({"model": "i2v-2.5", "resolution": "720p", "duration": "7"}, "duration"),
    ({"model": "i2v-2.5", "resolution": "480p"}, "resolution"),
    ({"model": "i2v-14B", "resolution": "480p", "duration": "5"}, "duration"),
    ({"model": "i2v-2.2-fast", "resolution": "480p", "aspect_ratio": "16:9"}, "aspect_ratio"),
    ({"model": "i2v-2.2-fast", "resolution": "480p", "negative_prompt": "blur"}, "negative_prompt"),
    ({"model": "i2v-2.2-fast", "resolution": "1080p"}, "resolution"),
])
def test_a_value_the_model_cannot_take_is_a_422_before_any_charge(api, fields, field):
    token = api.token()
    r = api.image_to_video(token, png(), **fields)
    assert assert_error(r, 422, "invalid_request")["errors"][0]["field"] == field
    assert api.balance(token) == 100


def test_duration_on_text_to_video_is_a_422(api):
    token = api.token()
    r = api.text_to_video(token, duration=5)
    assert assert_error(r, 422, "invalid_request")["errors"][0]["field"] == "duration"


# --- money ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("resolution, duration, cost", [("720p", None, 40), ("720p", 10, 80),
                                                         ("1080p", 5, 60), ("1080p", 10, 120)])
def test_cost_by_duration_is_charged_and_refunded_exactly(api, db, resolution, duration, cost):
    user_id, token = api.signup()
    grant(db, user_id, 100)
    fields = {"model": "i2v-2.5", "resolution": resolution} | ({"duration": str(duration)} if duration else {})
    r = api.image_to_video(token, png(), **fields)
    assert r.status_code == 202, r.text
    gen_id = r.json()["generation_id"]
    assert (r.json()["cost"], api.balance(token)) == (cost, 200 - cost)
    assert api.stack.emulator.creates[-1]["input"]["duration"] == (duration or 5)  # 5 s when not asked
    api.stack.emulator.finish(api.prediction_of(gen_id), "failed", error="boom")
    wait_for(lambda: api.status(token, gen_id).json()["refunded"])
    assert api.balance(token) == 200
    rows = [(t, a) for t, a, _, g in ledger(db, user_id) if str(g) == gen_id]
    assert rows == [("deduction", -cost), ("refund", cost)]
    # A retry keeps the duration, and so the price.
    retried = api.http.post("/retry", json={"generation_id": gen_id}, headers=api.auth(token)).json()
    assert retried["cost"] == cost and api.stack.emulator.creates[-1]["input"]["duration"] == (duration or 5)
    assert_books_balance(api.stack.settings.database_url)


def test_the_cost_of_a_duration_needs_the_credits(api):
    token = api.token()  # 100 credits: 1080p for 10 s costs 120
    r = api.image_to_video(token, png(), model="i2v-2.5", resolution="1080p", duration="10")
    body = assert_error(r, 402, "insufficient_credits")
    assert (body["required"], body["balance"]) == (120, 100)


# --- the last frame's file goes with its generation --------------------------------------------------

def test_retention_deletes_an_uploaded_last_frame_unless_another_generation_holds_it(api, db):
    from shared.sweep import sweep

    token = api.token()
    first, last = png(320, 240, (1, 2, 3)), png(320, 240, (4, 5, 6))

    def make(image: bytes, last_image: bytes | None) -> str:
        files = {"image": ("a.png", image, "image/png")}
        if last_image:
            files["last_image"] = ("b.png", last_image, "image/png")
        r = api.http.post("/image-to-video", headers=api.auth(token), files=files,
                          data={"prompt": "p", "model": "i2v-2.2-fast", "resolution": "480p"})
        assert r.status_code == 202, r.text
        api.stack.emulator.finish(api.prediction_of(r.json()["generation_id"]), "failed", error="boom")
        return r.json()["generation_id"]

    def age(gen_id: str) -> None:
        db.execute("update public.generations set completed_at = now() - interval '40 days' where id = %s", (gen_id,))

    def last_of(gen_id: str) -> str:
        return db.execute("select last_image_path from public.generations where id = %s", (gen_id,)).fetchone()[0]

    storage = api.stack.services.storage
    old = make(first, last)
    wait_for(lambda: api.status(token, old).json()["terminal"])
    assert storage.exists(last_of(old))
    age(old)
    sweep(api.stack.services, batch=10)
    assert not storage.exists(last_of(old))  # its last frame went with it

    shared = png(320, 240, (7, 8, 9))
    holder = make(png(320, 240, (10, 11, 12)), shared)  # `shared` is its last frame...
    other = make(shared, None)                           # ...and this one's first image: one object
    wait_for(lambda: all(api.status(token, g).json()["terminal"] for g in (holder, other)))
    age(other)
    sweep(api.stack.services, batch=10)
    assert storage.exists(last_of(holder))  # still `holder`'s (which may still be retried)
    age(holder)
    sweep(api.stack.services, batch=10)
    assert not storage.exists(last_of(holder))
