"""The library's screens (issue 25) in a real browser: the favorite star, the filter bar and search box,
share / copy-link / unshare, the public share page with its unfurl tags, and the select mode's zip
download and multi-delete. Same browser, stack and screenshots as tests/test_browser.py."""

from __future__ import annotations

import io
import json
import re
import zipfile

import httpx

from tests.support import wait_for
from tests.test_browser import (generate, open_client, page, running, shoot, sign_up,  # noqa: F401
                                stack_settings, static_host, token_of, wait_until_played)


def _copied(stack, token: str, generation_id: str) -> bool:
    """Our stored copy exists (a share or a zip needs it; the copy runs in the background)."""
    gen = httpx.get(f"{stack.url}/status", params={"generation_id": generation_id},
                    headers={"Authorization": f"Bearer {token}"}).json()
    return "/files/videos/" in (gen.get("video_url") or "")


def test_favorites_filters_search_share_download_and_delete_in_the_browser(running, page, browser):
    from playwright.sync_api import expect

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=running.url)
    open_client(page, f"{running.url}/")
    email = sign_up(page)
    fox, _ = generate(page, "a red fox running through fresh snow")
    wait_until_played(page, fox)
    whale, _ = generate(page, "a blue whale under the ice")
    wait_until_played(page, whale)
    fox_id, whale_id = fox.get_attribute("data-id"), whale.get_attribute("data-id")
    token = token_of(running, email)
    wait_for(lambda: _copied(running, token, fox_id) and _copied(running, token, whale_id), timeout=30)

    # The star: a favorite, and the favorites filter shows only it.
    fox.locator(".star").click()
    expect(fox.locator(".star")).to_have_attribute("aria-pressed", "true")
    page.check("#history-favorites")
    expect(page.locator(".card")).to_have_count(1)
    expect(page.locator(".card").first).to_have_attribute("data-id", fox_id)
    page.uncheck("#history-favorites")
    expect(page.locator(".card")).to_have_count(2)

    # The search box: words of the prompt, any case.
    with page.expect_response(lambda r: "/generations?" in r.url and "q=WHALE" in r.url):
        page.fill("#history-q", "WHALE")
    expect(page.locator(".card")).to_have_count(1)
    expect(page.locator(".card").first).to_have_attribute("data-id", whale_id)
    page.select_option("#history-status", "failed")
    expect(page.locator(".card")).to_have_count(0)
    page.select_option("#history-status", "")
    page.fill("#history-q", "")
    expect(page.locator(".card")).to_have_count(2)
    shoot(page, "library_filters")

    # Share: the link appears, is copied, and its public page plays the video.
    fox = page.locator(f".card[data-id='{fox_id}']")
    fox.locator(".share").click()
    link = fox.locator(".share-link")
    expect(link).to_have_value(re.compile(re.escape(f"{running.url}/s/") + "[A-Za-z0-9_-]{22}$"))
    expect(page.locator(".toast[data-code=link_copied]")).to_be_visible()
    url = link.input_value()
    assert url.startswith(f"{running.url}/s/") and page.evaluate("navigator.clipboard.readText()") == url
    shoot(page, "library_shared")

    public = browser.new_context(viewport={"width": 1000, "height": 800}).new_page()  # anyone, no sign-in
    public.goto(url)
    video = public.locator("video")
    expect(video).to_be_visible()
    video.evaluate("v => { v.muted = true; return v.play(); }")
    public.wait_for_function("v => v.readyState >= 2 && v.duration > 0", arg=video.element_handle())
    tags = public.evaluate("""() => Object.fromEntries([...document.querySelectorAll('meta[property], meta[name]')]
                                  .map(m => [m.getAttribute('property') || m.getAttribute('name'), m.content]))""")
    assert tags["og:type"] == "video.other" and tags["og:title"] == "a red fox running through fresh snow"
    assert "/files/shares/" in tags["og:video"] and tags["og:video:type"] == "video/mp4"
    assert tags["twitter:card"] == "player" and tags["twitter:player"] == url
    assert public.locator("script").count() == 0  # it plays without any script
    assert email not in public.content()
    shoot(public, "share_page")
    public.context.close()

    # Unshare: the link is dead at once.
    fox.locator(".unshare").click()
    expect(page.locator(".toast[data-code=link_revoked]")).to_be_visible()
    expect(fox.locator(".share")).to_be_visible()
    assert httpx.get(url).status_code == 404

    # Select mode: both into a zip, then delete one.
    page.click("#select-mode")
    for card_id in (fox_id, whale_id):
        page.check(f".card[data-id='{card_id}'] .pick input")
    expect(page.locator("#selection-count")).to_have_text("2 selected")
    shoot(page, "library_selecting")
    with page.expect_download() as download:
        page.click("#download-selected")
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
    assert sorted(archive.namelist()) == sorted([f"{fox_id}.mp4", f"{whale_id}.mp4", "manifest.json"])
    assert all(entry["included"] for entry in json.loads(archive.read("manifest.json")))
    page.uncheck(f".card[data-id='{fox_id}'] .pick input")
    page.click("#delete-selected")
    expect(page.locator(".toast[data-code=deleted]")).to_contain_text("1 deleted")
    expect(page.locator(".card")).to_have_count(1)
    expect(page.locator(".card").first).to_have_attribute("data-id", fox_id)
