"""The operator's console (/admin/) in a real browser: Playwright driving Debian's chromium against the
local stack, as tests/test_browser.py does for the reference client (skipped without chromium, failed
in CI). Screenshots land in artifacts/browser/. Every wait is Playwright's (a condition, not a time)."""

from __future__ import annotations

from tests.support import assert_error, wait_for
from tests.test_browser import page, shoot  # noqa: F401 - the browser and page fixtures


def sign_in_as_admin(page, stack, email: str = "ops@example.com") -> None:
    from playwright.sync_api import expect

    page.goto(f"{stack.url}/admin/")
    page.fill("#dev-form input[name=email]", email)
    page.click("#dev-form button")
    expect(page.locator("#console")).to_be_visible()


def test_the_overview_marks_missed_targets_in_red_and_analytics_draws_charts(page, api, stack):
    from playwright.sync_api import expect

    token = api.token()
    failed = api.text_to_video(token).json()["generation_id"]   # one failure and no success: 0 % success
    stack.emulator.finish(api.prediction_of(failed), "failed", error="the GPU fell over")
    wait_for(lambda: api.status(token, failed).json()["refunded"])
    api.text_to_video(token)                                     # one in flight
    sign_in_as_admin(page, stack)

    success = page.locator('.metric[data-metric="success_rate"]')
    expect(success).to_have_class("metric miss")
    expect(success.locator(".value")).to_have_text("0.0 %")
    expect(page.locator('.metric[data-metric="credit_accuracy"]')).to_have_class("metric met")
    assert page.locator(".metric.miss .value").evaluate("e => getComputedStyle(e).color") == "rgb(194, 53, 43)"
    expect(page.locator("#overview-extra")).to_contain_text("1 in flight now")
    shoot(page, "admin_overview")

    page.click('.tabs button[data-tab="analytics"]')
    bars = page.locator('#chart-generations svg rect[data-series="failed"]')
    expect(bars).to_have_count(1)                                # today's one failure
    expect(page.locator('#chart-generations svg rect[data-series="in flight"]')).to_have_count(1)
    expect(page.locator("#failures")).to_contain_text("the GPU fell over")
    shoot(page, "admin_analytics")


def test_an_admin_finds_a_user_grants_credits_with_a_reason_and_blocks_them(page, api, stack, db):
    from playwright.sync_api import expect

    user_id, token = api.signup("grace.hopper@example.com")
    api.signup("alan@example.com")
    sign_in_as_admin(page, stack)
    page.click('.tabs button[data-tab="users"]')
    page.fill("#user-search input[name=q]", "grace")
    page.click("#user-search button")
    rows = page.locator("#user-results tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("grace.hopper@example.com")
    shoot(page, "admin_user_search")
    rows.first.click()
    expect(page.locator("#user-summary")).to_contain_text("Balance 100 credits")

    page.fill("#grant-form input[name=amount]", "25")
    page.fill("#grant-form input[name=reason]", "sorry for the outage")
    page.click("#grant-form button")
    expect(page.locator("#user-summary")).to_contain_text("Balance 125 credits")   # 100 + 25
    expect(page.locator("#user-ledger tbody tr").first).to_contain_text("sorry for the outage")
    shoot(page, "admin_grant")
    assert db.execute("select amount, description, actor from public.credit_transactions "
                      "where user_id = %s and type = 'adjustment'", (user_id,)).fetchall() == [
        (25, "sorry for the outage", "ops@example.com")]

    page.fill("#block-form input[name=reason]", "chargeback fraud")
    page.click("#block-button")
    expect(page.locator("#user-summary .blocked")).to_contain_text("chargeback fraud")
    expect(page.locator("#block-button")).to_have_text("Unblock")
    shoot(page, "admin_block")
    assert_error(api.text_to_video(token), 403, "account_blocked")
    assert api.balance(token) == 125                                                # nothing charged

    page.click('.tabs button[data-tab="audit"]')
    expect(page.locator("#audit-table tbody tr")).to_have_count(2)
    expect(page.locator("#audit-table tbody tr").first).to_contain_text("user.block")
    with page.expect_download() as download:
        page.click("#audit-csv")
    assert download.value.suggested_filename == "admin-audit.csv"
    shoot(page, "admin_audit")


def test_the_console_page_refuses_to_show_data_to_a_non_admin(page, api, stack):
    from playwright.sync_api import expect

    page.goto(f"{stack.url}/admin/")
    page.fill("#token-form input[name=token]", api.token())
    page.click("#token-form button")
    expect(page.locator("#signin-note")).to_have_text("This account is not an admin.")
    expect(page.locator("#console")).to_be_hidden()
