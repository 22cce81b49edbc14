"""The admin page's experiment section in a real headless Chromium: per-arm accuracy over time
with its confidence band, the verdict and the SRM status, from /admin/report."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.e2e.test_e2e_browser import assert_clean, sign_in
from tests.factories import add_users, seed_ab_predictions

pytestmark = pytest.mark.e2e


def test_admin_sees_accuracy_bands_and_srm_status(
    web_app: Flask, serve, new_tab, add_user, screenshots
) -> None:
    with web_app.app_context():
        users = add_users(40)
        for i, uid in enumerate(users):
            arm = "v1" if i % 2 else "v2"
            seed_ab_predictions(uid, arm, [True] * (6 if arm == "v1" else 3) + [False] * 2)
    admin = add_user(web_app, role="admin")
    base = serve(web_app)
    tab = new_tab()
    page = tab.page
    sign_in(page, base, "/admin", admin)
    expect(page.locator("#experiments")).to_have_attribute("data-loaded", "1")
    expect(page.locator("#experiments-srm")).to_have_attribute("data-status", "ok")
    expect(page.locator("#experiments-phase")).to_contain_text("phase 1 (sticky)")
    expect(page.locator("#experiments-table tbody tr")).to_have_count(2)
    expect(page.locator("#experiments-chart polygon")).to_have_count(2)  # one CS band per arm
    expect(page.locator("#experiments-chart polyline")).to_have_count(2)
    expect(page.locator("#experiments-verdict")).to_contain_text("No winner")
    page.locator("#experiments").screenshot(path=str(screenshots / "admin-experiment.png"))
    assert_clean(tab)
