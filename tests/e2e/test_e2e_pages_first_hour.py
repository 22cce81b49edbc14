"""The pages as a newcomer meets them (issue 11): predicting before signing in, where the error
banner goes, a non-admin on /admin, and the per-arm table of the report. Real Chromium, real
clicks, bounded waits only."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from app.extensions import db
from tests.e2e.test_e2e_browser import assert_clean, draw_one, predict, sign_in

pytestmark = pytest.mark.e2e


def _canvas_top(page: Page) -> float:
    box = page.locator("#canvas").bounding_box()
    assert box is not None
    return box["y"]


def test_predict_before_signing_in_says_sign_in_and_the_banner_moves_nothing(
    web_app: Flask, serve, new_tab
) -> None:
    base = serve(web_app)
    tab = new_tab()
    page = tab.page
    page.goto(base + "/")
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    draw_one(page)
    top = _canvas_top(page)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/predict" in r.url else None)

    page.locator("#predict-btn").click()

    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Sign in to predict")
    text = error.inner_text()
    # Words a person uses, not the JWT library's.
    assert "Authorization" not in text and "header" not in text.lower(), text
    assert sent == [], sent  # nothing was sent without an account
    assert _canvas_top(page) == top  # the banner floats: the canvas stays under the pen
    expect(page.locator("#predict-btn")).to_be_enabled()
    assert_clean(tab)


def test_an_error_banner_after_signing_in_does_not_move_the_canvas(
    web_app: Flask, serve, new_tab, add_user
) -> None:
    base = serve(web_app)
    user = add_user(web_app)
    tab = new_tab()
    page = tab.page
    sign_in(page, base, "/", user)
    top = _canvas_top(page)
    status, body = predict(page, "/api/v2/predict")  # blank canvas: 422 and a message
    assert status == 422, body
    expect(page.locator("#error")).to_be_visible()
    assert _canvas_top(page) == top
    draw_one(page)
    status, _ = predict(page, "/api/v2/predict")
    assert status == 200
    expect(page.locator("#error")).to_be_hidden()
    assert _canvas_top(page) == top
    assert_clean(tab)


def test_a_non_admin_on_the_admin_page_sees_one_message_and_no_admin_controls(
    web_app: Flask, serve, new_tab, add_user
) -> None:
    base = serve(web_app)
    user = add_user(web_app)
    tab = new_tab()
    page = tab.page
    forbidden: list[str] = []
    page.on("response", lambda r: forbidden.append(r.url) if r.status == 403 else None)
    sign_in(page, base, "/admin", user)

    hint = page.locator("#admin-hint")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("not an administrator")
    expect(hint).to_contain_text(user["username"])
    expect(page.locator("#admin-content")).to_be_hidden()
    for control in ("#retrain-btn", "#ab-save", "#ab-add-arm", "#report-refresh"):
        expect(page.locator(control)).to_be_hidden()
    expect(page.locator(".error:visible")).to_have_count(0)
    expect(page.locator("text=Admins only")).to_have_count(0)
    assert forbidden == [], forbidden  # the page knew the role: it did not even ask

    # Signing out and in as an administrator brings the page back.
    page.locator("#logout-btn").click()
    expect(page.locator("#auth-form")).to_be_visible()
    expect(hint).not_to_contain_text("not an administrator")
    assert_clean(tab)


def test_an_admin_demoted_while_on_the_page_gets_the_same_single_message(
    web_app: Flask, serve, new_tab, add_user
) -> None:
    from app.auth.models import User

    base = serve(web_app)
    admin = add_user(web_app, role="admin")
    tab = new_tab()
    page = tab.page
    sign_in(page, base, "/admin", admin)
    expect(page.locator("body")).to_have_attribute("data-loaded", "1")
    expect(page.locator("#admin-content")).to_be_visible()
    with web_app.app_context():
        db.session.get(User, admin["id"]).role = "user"
        db.session.commit()
        db.session.remove()

    with page.expect_response(lambda r: r.url.endswith("/admin/report")) as info:
        page.locator("#report-refresh").click()
    assert info.value.status == 403
    expect(page.locator("#admin-content")).to_be_hidden()
    expect(page.locator("#admin-hint")).to_contain_text("not an administrator")
    expect(page.locator(".error:visible")).to_have_count(0)
    assert_clean(tab)


def test_per_arm_table_shows_the_model_version(web_app: Flask, serve, new_tab, add_user, models) -> None:
    base = serve(web_app)
    user, admin = add_user(web_app), add_user(web_app, role="admin")
    tab = new_tab()
    page = tab.page
    sign_in(page, base, "/", user)
    draw_one(page)
    status, body = predict(page, "/api/ab/predict")
    assert status == 200, body
    arm = body["ab_version"]
    with page.expect_response(lambda r: r.url.endswith("/feedback")) as info:
        page.locator("#feedback-right").click()
    assert info.value.status == 201

    admin_tab = new_tab()
    admin_page = admin_tab.page
    sign_in(admin_page, base, "/admin", admin)
    expect(admin_page.locator("body")).to_have_attribute("data-loaded", "1")
    row = admin_page.locator("#per-arm-table tbody tr")
    expect(row).to_have_count(1)
    cells = row.locator("td")
    expect(cells.nth(0)).to_have_text(arm)
    expect(cells.nth(1)).to_have_text(models["aliases"][arm])  # was "–"
    expect(cells.nth(3)).to_have_text("1")  # feedback
    assert_clean(tab, admin_tab)
