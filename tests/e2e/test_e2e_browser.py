"""End to end in a real headless Chromium: draw a digit, predict, give feedback, read the admin
report, retrain with live progress over Socket.IO (and with the polling fallback).

Everything goes through the browser: real mouse moves on the canvas, real clicks, the pages'
own JavaScript calling the JSON APIs and the Socket.IO server. Waits are Playwright's bounded
`expect`/`wait_for_*` (no sleeps). Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from app.extensions import socketio
from app.realtime import ADMINS_ROOM
from tests import factories
from tests.factories import bearer, correct_mistakes

pytestmark = pytest.mark.e2e

RETRAIN_TIMEOUT_MS = 90_000  # a retrain on 500 images takes seconds; generous for a loaded CI box


# --- helpers ----------------------------------------------------------------------------------


def sign_in(page: Page, base: str, path: str, user: dict) -> None:
    page.goto(base + path)
    # The scripts set data-ready once wired; the form stays disabled until then.
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    expect(page.locator("#auth-fields")).to_be_enabled()
    page.locator("#username").fill(user["username"])
    page.locator("#password").fill(user["password"])
    page.locator("#login-btn").click()
    expect(page.locator("#signed-in")).to_be_visible()
    expect(page.locator("#whoami")).to_have_text(user["username"])
    expect(page.locator("#whoami-role")).to_have_text(user["role"])
    expect(page.locator("#auth-form")).to_be_hidden()


def stroke(page: Page, points: list[tuple[float, float]], steps: int = 12) -> None:
    """One pen-down stroke through `points` (fractions of the canvas), with intermediate moves."""
    box = page.locator("#canvas").bounding_box()
    assert box is not None
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=steps)
    page.mouse.up()


def draw_one(page: Page) -> None:
    """A "1": a thick, slightly slanted vertical stroke right of centre (two side-by-side passes)."""
    page.locator("#canvas").scroll_into_view_if_needed()
    for dx in (0.0, 0.025):
        stroke(page, [(0.60 + dx, 0.18), (0.58 + dx, 0.50), (0.56 + dx, 0.84)])


def draw_seven(page: Page) -> None:
    page.locator("#canvas").scroll_into_view_if_needed()
    stroke(page, [(0.25, 0.22), (0.50, 0.21), (0.75, 0.22), (0.60, 0.50), (0.45, 0.84)])


def inked_fraction(page: Page) -> float:
    """Share of dark pixels on the canvas, read back from the page (the drawing really happened)."""
    return page.evaluate(
        """() => {
            const c = document.getElementById("canvas");
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let dark = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] < 128) dark++;
            return dark / (c.width * c.height);
        }"""
    )


def predict(page: Page, endpoint: str) -> tuple[int, dict]:
    """Choose the endpoint, press Predict; (HTTP status, JSON body) of the request the page made."""
    page.locator("#endpoint-select").select_option(endpoint)
    with page.expect_response(lambda r: r.url.endswith(endpoint) and r.request.method == "POST") as info:
        page.locator("#predict-btn").click()
    resp = info.value
    body = resp.json()
    expect(page.locator("#predict-btn")).to_have_text("Predict")  # the handler has finished
    return resp.status, body


def bar_probabilities(page: Page) -> list[float]:
    values = page.locator("#prob-bars .bar-row").evaluate_all(
        "rows => rows.map(r => [Number(r.dataset.digit), Number(r.dataset.probability)])"
    )
    assert [d for d, _ in values] == list(range(10))
    return [p for _, p in values]


def wait_for_live_socket(tab: object, timeout: float = 15.0) -> object:
    """Wait until the page's Socket.IO WebSocket delivers an event emitted now to the admins room.

    On the Redis pass the server subscribes to the message queue in a thread started at its first
    connection, and the client first connects by long-polling then upgrades: so emit a marker
    until it arrives over the WebSocket. Afterwards events to admins reach this page in order.
    """
    page = tab.page
    deadline = time.monotonic() + timeout
    if not tab.sockets:
        page.wait_for_event("websocket", timeout=timeout * 1000)
    while time.monotonic() < deadline:
        ws = tab.sockets[-1]
        marker = uuid.uuid4().hex
        try:
            with ws.expect_event("framereceived", predicate=lambda p, m=marker: m in str(p), timeout=500):
                socketio.emit("e2e_sync", {"marker": marker}, to=ADMINS_ROOM, namespace="/")
            return ws
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"no Socket.IO event reached the page within {timeout}s; frames: {tab.frames[-5:]}")


def socket_events(tab: object, name: str) -> list[dict]:
    """Payloads of the Socket.IO `name` events the page received over its WebSockets."""
    out = []
    for frame in tab.frames:
        if frame.startswith("42["):
            event = json.loads(frame[2:])
            if event[0] == name:
                out.append(event[1] if len(event) > 1 else None)
    return out


def record_progress(page: Page) -> None:
    """Keep every value the progress bar shows (data-progress) in window.__progress."""
    page.evaluate(
        """() => {
            const bar = document.getElementById("retrain-progress");
            window.__progress = [];
            new MutationObserver(() => window.__progress.push(Number(bar.dataset.progress)))
                .observe(bar, {attributes: true, attributeFilter: ["data-progress"]});
        }"""
    )


def start_retrain(page: Page) -> int:
    with page.expect_response(
        lambda r: r.url.endswith("/admin/retrain") and r.request.method == "POST"
    ) as info:
        page.locator("#retrain-btn").click()
    resp = info.value
    assert resp.status == 202, resp.text()
    job_id = resp.json()["job_id"]
    expect(page.locator("#retrain-progress")).to_have_attribute("data-job-id", str(job_id))
    expect(page.locator("#retrain-btn")).to_be_disabled()
    return job_id


def teach(app: Flask, admin: dict) -> None:
    """Feedback on v2's mistakes, so the page's retrain (of v2) is strictly better and promoted."""
    client = app.test_client()
    token = factories.sign_in(client, admin["username"], admin["password"])["access_token"]
    correct_mistakes(client, bearer(token), "v2")


def expect_retrain_done(page: Page, job_id: int) -> None:
    progress = page.locator("#retrain-progress")
    expect(progress).to_have_attribute("data-status", "succeeded", timeout=RETRAIN_TIMEOUT_MS)
    expect(progress).to_have_attribute("data-progress", "100")
    expect(progress).to_have_attribute("aria-valuenow", "100")
    expect(progress.locator(".progress-text")).to_have_text("100% · done")
    status = page.locator("#retrain-status")
    expect(status).to_have_text(
        re.compile(rf"^Job {job_id} succeeded · registered version \d+ · promoted · ")
    )
    expect(status).to_contain_text("promoted to v2")
    expect(page.locator("#retrain-btn")).to_be_enabled()
    # The jobs table (reloaded when the job finished) lists it as succeeded and promoted.
    row = page.locator(f'#jobs-table tbody tr[data-job-id="{job_id}"]')
    expect(row).to_have_attribute("data-status", "succeeded")
    expect(row.locator("td").nth(1)).to_have_text("succeeded")
    expect(row.locator("td").nth(4)).to_have_text("yes")
    expect(row.locator("td").nth(5)).to_contain_text("promoted to v2")
    version = re.search(r"registered version (\d+)", status.inner_text()).group(1)
    expect(row.locator("td").nth(3)).to_have_text(version)
    # The models table now shows the new version, carrying the v2 alias.
    model_row = page.locator(f'#models-table tbody tr[data-version="{version}"]')
    expect(model_row.locator(".badge", has_text=re.compile(r"^v2$"))).to_have_count(1)


def assert_clean(*tabs: object) -> None:
    problems = [p for tab in tabs for p in tab.problems()]
    assert not problems, problems


# --- tests ------------------------------------------------------------------------------------


def test_draw_a_one_and_predict(web_app: Flask, serve, new_tab, add_user, models, screenshots) -> None:
    base = serve(web_app)
    user = add_user(web_app)
    tab = new_tab()
    page = tab.page
    sign_in(page, base, "/", user)

    draw_one(page)
    assert 0.03 < inked_fraction(page) < 0.25
    status, body = predict(page, "/api/v2/predict")
    assert status == 200, body
    assert body["version"] == "v2" and body["model_version"] == models["aliases"]["v2"]
    expect(page.locator("#result-digit")).to_have_text("1")
    expect(page.locator("#result-digit")).not_to_have_class(re.compile("placeholder"))
    expect(page.locator("#prob-bars .bar-row")).to_have_count(10)
    probs = bar_probabilities(page)
    assert abs(sum(probs) - 1) < 0.01 and max(range(10), key=probs.__getitem__) == 1, probs
    expect(page.locator("#prob-bars .bar-row.best")).to_have_attribute("data-digit", "1")
    expect(page.locator("#result-version")).to_have_text(f"v2 · model {body['model_version']}")
    expect(page.locator("#result-probability")).to_have_text(f"{body['probability'] * 100:.1f}%")
    expect(page.locator("#result-arm")).to_have_text("– (not an A/B request)")
    expect(page.locator("#feedback")).to_be_visible()
    expect(page.locator("#result")).to_have_attribute("data-prediction-id", str(body["prediction_id"]))
    expect(page.locator("#error")).to_be_hidden()
    page.screenshot(path=str(screenshots / "index-prediction.png"), full_page=True)

    # The same drawing on the A/B endpoint: an arm is chosen and shown.
    status, body = predict(page, "/api/ab/predict")
    assert status == 200, body
    arm = body["ab_version"]
    assert arm in ("v1", "v2") and body["version"] == arm
    expect(page.locator("#result-arm")).to_have_text(f"{arm} ({body['experiment']})")
    expect(page.locator("#result-version")).to_have_text(f"{arm} · model {models['aliases'][arm]}")
    expect(page.locator("#result-digit")).to_have_text(str(body["prediction"]))
    assert body["prediction"] == 1, body
    expect(page.locator("#prob-bars .bar-row")).to_have_count(10)

    # A blank canvas: the API answers 422 and the page says why.
    page.locator("#clear-btn").click()
    expect(page.locator("#result-digit")).to_have_text("?")
    assert inked_fraction(page) == 0
    status, body = predict(page, "/api/v2/predict")
    assert status == 422 and body["error"]["code"] == "blank_image", body
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error")).to_have_text(body["error"]["message"])
    expect(page.locator("#result-digit")).to_have_text("?")
    expect(page.locator("#feedback")).to_be_hidden()
    assert_clean(tab)


def test_feedback_is_counted_in_the_admin_report(web_app: Flask, serve, new_tab, add_user, models) -> None:
    base = serve(web_app)
    user, admin = add_user(web_app), add_user(web_app, role="admin")
    v2 = models["aliases"]["v2"]
    tab = new_tab()
    page = tab.page
    sign_in(page, base, "/", user)

    # "Right" on a drawn 1.
    draw_one(page)
    status, first = predict(page, "/api/v2/predict")
    assert status == 200 and first["prediction"] == 1, first
    with page.expect_response(lambda r: r.url.endswith("/feedback")) as info:
        page.locator("#feedback-right").click()
    assert info.value.status == 201
    expect(page.locator("#feedback-status")).to_have_text("Thanks, recorded as correct.")
    expect(page.locator("#feedback-status")).to_have_attribute("data-state", "sent")
    expect(page.locator("#feedback-right")).to_be_disabled()

    # "Wrong" + the true label on another drawing.
    page.locator("#clear-btn").click()
    expect(page.locator("#feedback-status")).to_have_text("")
    draw_seven(page)
    status, second = predict(page, "/api/v2/predict")
    assert status == 200, second
    assert second["prediction_id"] != first["prediction_id"]
    label = 3 if second["prediction"] != 3 else 5
    page.locator("#feedback-wrong").click()
    expect(page.locator("#label-picker")).to_be_visible()
    predicted_button = page.locator(f'#label-picker button[data-label="{second["prediction"]}"]')
    expect(predicted_button).to_be_disabled()  # "wrong, it was what you said" is not offered
    with page.expect_response(lambda r: r.url.endswith("/feedback")) as info:
        page.locator(f'#label-picker button[data-label="{label}"]').click()
    assert info.value.status == 201
    expect(page.locator("#feedback-status")).to_have_text(f"Thanks, recorded: it was a {label}.")
    expect(page.locator("#label-picker")).to_be_hidden()

    # The admin, in another browser context, sees both counted.
    admin_tab = new_tab()
    admin_page = admin_tab.page
    sign_in(admin_page, base, "/admin", admin)
    expect(admin_page.locator("body")).to_have_attribute("data-loaded", "1")
    expect(admin_page.locator("#admin-content")).to_be_visible()
    expect(admin_page.locator("#report-total")).to_have_text("2")
    expect(admin_page.locator("#report-correct")).to_have_text("1")
    expect(admin_page.locator("#report-incorrect")).to_have_text("1")
    expect(admin_page.locator("#report-accuracy")).to_have_text("50.0%")
    row = admin_page.locator("#per-version-table tbody tr", has=admin_page.locator("td", has_text=v2))
    expect(row).to_have_count(1)
    cells = row.locator("td")
    expect(cells.nth(0)).to_have_text(v2)
    expect(cells.nth(1)).to_have_text("v2")
    expect(cells.nth(2)).to_have_text("2")  # requests
    expect(cells.nth(3)).to_have_text("2")  # feedback
    expect(cells.nth(4)).to_have_text("1")  # correct
    expect(cells.nth(5)).to_have_text("50.0%")
    expect(admin_page.locator(".section-error:visible")).to_have_count(0)

    # Live: more feedback while the admin page is open reaches it over Socket.IO, no reload.
    wait_for_live_socket(admin_tab)
    page.locator("#clear-btn").click()
    draw_one(page)
    status, third = predict(page, "/api/v2/predict")
    assert status == 200, third
    page.locator("#feedback-right").click()
    expect(page.locator("#feedback-status")).to_have_text("Thanks, recorded as correct.")
    expect(admin_page.locator("#event-log")).to_contain_text(
        f"Feedback on prediction {third['prediction_id']}"
    )
    expect(admin_page.locator("#report-total")).to_have_text("3")
    expect(admin_page.locator("#report-correct")).to_have_text("2")
    assert [e["prediction_id"] for e in socket_events(admin_tab, "feedback_received")] == [
        third["prediction_id"]
    ]
    assert_clean(tab, admin_tab)


def test_retrain_progress_over_socketio(retrain_app: Flask, serve, new_tab, add_user, screenshots) -> None:
    base = serve(retrain_app)
    admin = add_user(retrain_app, role="admin")
    teach(retrain_app, admin)
    tab = new_tab()
    page = tab.page
    sign_in(page, base, "/admin", admin)
    expect(page.locator("body")).to_have_attribute("data-loaded", "1")
    expect(page.locator("#retrain-status")).to_have_text("Idle.")
    expect(page.locator("#jobs-table tbody")).to_contain_text("No retrain jobs yet.")
    expect(page.locator("body")).to_have_attribute("data-socket", "connected")
    expect(page.locator("#event-log")).to_contain_text("Live updates connected.")
    wait_for_live_socket(tab)
    record_progress(page)

    job_id = start_retrain(page)
    expect_retrain_done(page, job_id)

    # The bar moved through intermediate values, pushed by retrain_progress events for this job.
    seen = page.evaluate("() => window.__progress")
    assert any(0 < p < 100 for p in seen), seen
    assert seen[-1] == 100, seen
    progress = [e for e in socket_events(tab, "retrain_progress") if e["job_id"] == job_id]
    assert progress and any(0 < e["progress"] < 100 for e in progress), tab.frames
    values = [e["progress"] for e in progress]
    assert values == sorted(values) and values[-1] == 100, progress  # never goes backwards
    finished = [e for e in socket_events(tab, "retrain_finished") if e["job_id"] == job_id]
    assert len(finished) == 1 and finished[0]["status"] == "succeeded", finished
    expect(page.locator("#event-log")).to_contain_text(f"Retrain job {job_id} succeeded.")
    # The fill is drawn full width (after its CSS transition), then the page is captured.
    page.wait_for_function(
        """() => {
            const bar = document.getElementById("retrain-progress");
            return bar.querySelector(".progress-fill").offsetWidth >= bar.clientWidth - 1;
        }"""
    )
    page.screenshot(path=str(screenshots / "admin-after-retrain.png"), full_page=True)
    assert_clean(tab)


def test_retrain_progress_by_polling_when_socketio_is_down(
    retrain_app: Flask, serve, new_tab, add_user
) -> None:
    """As behind a proxy that does not pass /socket.io/: both transports are refused (503)."""
    refused: list[str] = []

    def without_socketio(environ: dict, start_response: object) -> object:
        if environ.get("PATH_INFO", "").startswith("/socket.io"):
            refused.append(environ.get("QUERY_STRING", ""))
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"no Socket.IO here"]
        return retrain_app(environ, start_response)

    base = serve(without_socketio)
    admin = add_user(retrain_app, role="admin")
    teach(retrain_app, admin)
    tab = new_tab()
    page = tab.page
    sign_in(page, base, "/admin", admin)
    expect(page.locator("body")).to_have_attribute("data-loaded", "1")
    expect(page.locator("body")).to_have_attribute("data-socket", "error")

    job_id = start_retrain(page)
    expect_retrain_done(page, job_id)
    expect(page.locator("body")).not_to_have_attribute("data-socket", "connected")
    assert refused and not tab.frames, (refused, tab.frames)
    assert_clean(tab)
