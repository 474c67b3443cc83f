"""The web client's editing (wan_local/web/editing.js) in a real browser: Extend on a finished video and
the chain it makes in the history, the last-frame upload of the models that take one, and the
duration choice with its cost. Same fixtures and rules as tests/test_browser.py (screenshots in
artifacts/browser/)."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.support import Api, wait_for
from tests.test_browser import (  # noqa: F401 - fixtures are found by name
    generate, open_client, page, png, running, shoot, sign_up, stack_settings, static_host, token_of,
    wait_until_played)


def copied(db, gen_id: str) -> bool:
    return bool(db.execute("select video_path from public.generations where id = %s", (gen_id,)).fetchone()[0])


def test_extend_a_finished_video_and_see_the_chain(running, page, db):
    open_client(page, f"{running.url}/")
    sign_up(page)
    source, _ = generate(page, "a paper boat on a stream")
    wait_until_played(page, source)
    source_id = source.get_attribute("data-id")
    wait_for(lambda: copied(db, source_id), timeout=30)  # extend reads our stored copy
    expect(page.locator(".card")).to_have_count(1)

    source.locator("button.extend").click()
    source.locator("input[name=extend_prompt]").fill("the boat sails into the sea")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith(f"/generations/{source_id}/extend")) as sent:
        source.locator(".extend-form button[type=submit]").click()
    assert sent.value.post_data_json == {"prompt": "the boat sails into the sea"}
    assert sent.value.all_headers()["idempotency-key"]

    expect(page.locator(".card")).to_have_count(2)
    new_id = page.locator(".card").first.get_attribute("data-id")
    extension = page.locator(f".card[data-id='{new_id}']")
    expect(extension.locator(".chain")).to_contain_text("Continues “a paper boat on a stream”")
    expect(extension.locator(".meta")).to_contain_text("i2v-14B · 480p")
    wait_until_played(page, extension)
    expect(page.locator("#balance")).to_have_text("80 credits")
    with Api(running) as api:
        token = token_of(running, page.locator("#email").text_content())
        assert api.status(token, new_id).json()["extends"] == source_id
    shoot(page, "extend_chain")

    # After a reload the history shows the same chain, from GET /generations alone.
    page.reload()
    page.wait_for_selector("body[data-ready]")
    expect(page.locator(f".card[data-id='{new_id}'] .chain")).to_contain_text("Continues “a paper boat on a stream”")
    expect(page.locator(f".card[data-id='{source_id}'] .chain")).to_be_hidden()
    expect(page.locator(f".card[data-id='{source_id}'] button.extend")).to_be_visible()


def test_the_last_frame_upload_follows_the_model(running, page):
    open_client(page, f"{running.url}/")
    sign_up(page)
    page.check("input[name=kind][value=image-to-video]")
    last_field = page.locator("#last-image-field")
    expect(page.locator("select[name=model]")).to_have_value("i2v-14B")
    expect(last_field).to_be_hidden()  # i2v-14B has no last_image

    page.select_option("select[name=model]", "i2v-2.2-fast")
    expect(last_field).to_be_visible()
    expect(page.locator("select[name=aspect_ratio] option")).to_have_count(1)  # it follows the image
    first, last = png(320, 240), png(330, 250)
    page.set_input_files("#image-input", files=[{"name": "first.png", "mimeType": "image/png", "buffer": first}])
    page.set_input_files("#last-image-input", files=[{"name": "bad.png", "mimeType": "image/png", "buffer": png(20, 20)}])
    expect(page.locator("#last-image-note")).to_have_class("note error")
    page.set_input_files("#last-image-input", files=[{"name": "last.png", "mimeType": "image/png", "buffer": last}])
    expect(page.locator("#last-image-note")).to_contain_text("330×250")
    shoot(page, "last_frame_chosen")

    card, sent = generate(page, "from dawn to dusk")
    assert sent.all_headers()["content-type"].startswith("multipart/form-data; boundary=")
    wait_until_played(page, card)
    create = [c for c in running.emulator.creates if c["input"].get("prompt") == "from dawn to dusk"]
    assert len(create) == 1 and "aspect_ratio" not in create[0]["input"]
    # The exact bytes of both files reached Replicate (through our stored copies).
    assert httpx.get(create[0]["input"]["image"]).content == first
    assert httpx.get(create[0]["input"]["last_image"]).content == last
    expect(page.locator("#balance")).to_have_text("90 credits")

    page.select_option("select[name=model]", "i2v-14B")  # the field goes, and nothing of it is sent
    expect(last_field).to_be_hidden()


def test_the_duration_choice_shows_its_cost(running, page):
    open_client(page, f"{running.url}/")
    sign_up(page)
    page.check("input[name=kind][value=image-to-video]")
    expect(page.locator("#duration-field")).to_be_hidden()
    page.select_option("select[name=model]", "i2v-2.5")
    expect(page.locator("#duration-field")).to_be_visible()
    page.set_input_files("#image-input", files=[{"name": "f.png", "mimeType": "image/png", "buffer": png(320, 240)}])
    page.fill("textarea[name=prompt]", "rain on a window")
    expect(page.locator("#cost")).to_contain_text("Costs 40 credits")
    page.select_option("select[name=duration]", "10")
    expect(page.locator("#cost")).to_contain_text("Costs 80 credits")
    page.select_option("select[name=resolution]", "1080p")
    expect(page.locator("#cost")).to_contain_text("Costs 120 credits — you have 100, not enough.")
    page.select_option("select[name=duration]", "5")
    expect(page.locator("#cost")).to_contain_text("Costs 60 credits")
    shoot(page, "duration_cost")
    card, _ = generate(page, "rain on a window")
    wait_until_played(page, card)
    create = [c for c in running.emulator.creates if c["input"].get("prompt") == "rain on a window"]
    assert len(create) == 1 and (create[0]["input"]["duration"], create[0]["input"]["resolution"]) == (5, "1080p")
    expect(page.locator("#balance")).to_have_text("40 credits")
