"""The admin page's label review queue in a real headless Chromium: flagged verdicts are listed
with their image; Accept and Reject decide them through the API."""

from __future__ import annotations

from flask import Flask
from playwright.sync_api import expect

from app.extensions import db
from app.feedback.models import Feedback
from tests.e2e.test_e2e_browser import assert_clean, sign_in
from tests.factories import bearer, give_verdict, holdout_digit, store_prediction
from tests.factories import sign_in as api_sign_in


def test_admin_accepts_and_rejects_flagged_labels(retrain_app: Flask, serve, new_tab, add_user) -> None:
    base = serve(retrain_app)
    user, admin = add_user(retrain_app), add_user(retrain_app, role="admin")
    client = retrain_app.test_client()
    headers = bearer(api_sign_in(client, user["username"], user["password"])["access_token"])
    flagged = []
    for index in range(2):  # two confident predictions the user says are wrong: both queued
        pixels, label = holdout_digit(index)
        pid = store_prediction(
            retrain_app, user["id"], predicted=(label + 1) % 10, probability=0.99, pixels=pixels
        )
        flagged.append(give_verdict(client, headers, pid, (label + 1) % 10, label)["id"])

    tab = new_tab()
    page = tab.page
    sign_in(page, base, "/admin", admin)
    expect(page.locator("body")).to_have_attribute("data-loaded", "1")
    rows = page.locator("#review-table tbody tr[data-review='pending']")
    expect(rows).to_have_count(2)
    first = page.locator(f"#review-table tbody tr[data-feedback-id='{flagged[0]}']")
    expect(first.locator("img.review-digit")).to_have_count(1)
    expect(first).to_contain_text("contradicts a confident prediction")

    first.locator("button.review-reject").click()
    expect(rows).to_have_count(1)
    page.locator(f"#review-table tbody tr[data-feedback-id='{flagged[1]}'] button.review-accept").click()
    expect(page.locator("#review-table tbody")).to_contain_text("Nothing to review.")
    page.locator("#review-status").select_option("rejected")
    expect(page.locator(f"#review-table tbody tr[data-feedback-id='{flagged[0]}']")).to_have_attribute(
        "data-review", "rejected"
    )
    expect(page.locator(".section-error:visible")).to_have_count(0)
    with retrain_app.app_context():
        assert [db.session.get(Feedback, i).review for i in flagged] == ["rejected", "accepted"]
    assert_clean(tab)
