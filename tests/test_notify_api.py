"""The webhooks API: validation, admin-only access, listing without secrets, delete, test delivery."""

from __future__ import annotations

import pytest

from app.notify.deliverer import stop_deliverer
from tests.notify_receivers import FAST, SECRET, Receiver, add_webhook
from tests.polling import json_ok, poll


@pytest.fixture
def napp(make_app):
    app = make_app(NOTIFY_DELIVERER=True, **FAST)
    yield app
    stop_deliverer(app)


@pytest.fixture
def receiver():
    r = Receiver(SECRET)
    yield r
    r.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x", "events": ["retrain.finished"], "secret": SECRET}, "url"),
        ({"url": "not a url", "events": ["retrain.finished"], "secret": SECRET}, "url"),
        ({"url": "https://example.com/x", "events": ["no.such.event"], "secret": SECRET}, "events"),
        ({"url": "https://example.com/x", "events": [], "secret": SECRET}, "events"),
        ({"url": "https://example.com/x", "events": ["srm.alarm"], "secret": "short"}, "secret"),
        ({"url": "https://example.com/x", "events": ["srm.alarm"]}, "secret"),
        ({"events": ["srm.alarm"], "secret": SECRET}, "url"),
    ],
)
def test_invalid_webhooks_are_422_json(client, admin_headers, body, field):
    resp = client.post("/admin/webhooks", headers=admin_headers, json=body)
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert field in str(error["details"])


def test_malformed_json_is_400_json(client, admin_headers):
    resp = client.post(
        "/admin/webhooks", headers={**admin_headers, "Content-Type": "application/json"}, data="{not json"
    )
    assert resp.status_code == 400
    assert resp.get_json()["error"]["status"] == 400


def test_non_admins_get_403_and_anonymous_401(client, user_headers):
    body = {"url": "https://example.com/x", "events": ["drift.alarm"], "secret": SECRET}
    for method, path in [
        ("post", "/admin/webhooks"),
        ("get", "/admin/webhooks"),
        ("delete", "/admin/webhooks/1"),
        ("post", "/admin/webhooks/1/test"),
        ("get", "/admin/webhooks/1/deliveries"),
    ]:
        resp = getattr(client, method)(path, headers=user_headers, json=body if method == "post" else None)
        assert resp.status_code == 403, (method, path)
        assert resp.get_json()["error"]["code"] == "forbidden"
        assert getattr(client, method)(path).status_code == 401


def test_list_never_returns_the_secret_and_delete(client, admin_headers):
    created = add_webhook(client, admin_headers, "https://example.com/a", ["drift.alarm", "srm.alarm"])
    assert "secret" not in created and created["events"] == ["drift.alarm", "srm.alarm"]
    add_webhook(client, admin_headers, "http://127.0.0.1:9/b", ["model.rolled_back"])
    page = client.get("/admin/webhooks?page_size=1", headers=admin_headers).get_json()
    assert page["total"] == 2 and page["pages"] == 2 and len(page["items"]) == 1
    listed = client.get("/admin/webhooks", headers=admin_headers)
    assert listed.status_code == 200 and SECRET not in listed.get_data(as_text=True)
    assert client.delete(f"/admin/webhooks/{created['id']}", headers=admin_headers).status_code == 204
    assert client.delete(f"/admin/webhooks/{created['id']}", headers=admin_headers).status_code == 404
    missing = client.get(f"/admin/webhooks/{created['id']}/deliveries", headers=admin_headers)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "webhook_not_found"
    assert client.get("/admin/webhooks", headers=admin_headers).get_json()["total"] == 1


def test_test_delivery_is_signed_and_recorded(napp, sign_in, receiver):
    client, headers = sign_in(napp, role="admin")
    hook = add_webhook(client, headers, receiver.url, ["retrain.finished"])
    queued = client.post(f"/admin/webhooks/{hook['id']}/test", headers=headers)
    assert queued.status_code == 202
    delivery_id = queued.get_json()["delivery_id"]
    poll(receiver.events, lambda events: events == ["webhook.test"], timeout=30)
    got = receiver.requests[0]
    assert got["signed"]
    assert got["headers"]["X-Digitserve-Event"] == "webhook.test"
    assert got["headers"]["X-Digitserve-Delivery"] == delivery_id == got["body"]["id"]
    assert got["headers"]["Content-Type"] == "application/json"
    page = poll(
        lambda: json_ok(client.get(f"/admin/webhooks/{hook['id']}/deliveries", headers=headers)),
        lambda p: p["items"] and p["items"][0]["status"] == "delivered",
        timeout=30,
    )
    row = page["items"][0]
    assert row["status_code"] == 200 and row["attempts"] == 1 and row["last_error"] is None
    assert row["delivered_at"] and row["created_at"] and row["delivery_id"] == delivery_id
