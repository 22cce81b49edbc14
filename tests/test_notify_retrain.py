"""End to end: a retrain finishing sends a signed webhook and an email to admins, through the
real retrain runner, a real HTTP receiver and a real SMTP server; a hanging receiver never delays
the job."""

from __future__ import annotations

import threading

import pytest

from app.notify.deliverer import stop_deliverer
from tests.conftest import TEMPLATE_LIMIT as LIMIT
from tests.factories import correct_mistakes
from tests.notify_receivers import FAST, SECRET, Receiver, add_webhook
from tests.polling import json_ok, poll


@pytest.fixture
def rt(make_app, store_uri, smtp):
    app = make_app(
        MLFLOW_TRACKING_URI=store_uri,
        RETRAIN_DATA_LIMIT=LIMIT,
        RETRAIN_PROMOTION_MARGIN=-0.05,
        PREDICT_V1_LIMIT="10000 per day",
        NOTIFY_DELIVERER=True,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp.port,
        MAIL_DEFAULT_SENDER="digitserve@example.com",
        **FAST,
    )
    from app.auth.services import create_user

    with app.app_context():
        create_user("mailadmin", "trainer-pass-1", role="admin", email="admin@example.com")
        create_user("quietadmin", "trainer-pass-1", role="admin")  # no address: no email
    client = app.test_client()
    tokens = client.post("/login", json={"username": "mailadmin", "password": "trainer-pass-1"}).get_json()
    yield app, client, {"Authorization": f"Bearer {tokens['access_token']}"}
    stop_deliverer(app)


def _run(client, headers, body: dict) -> dict:
    resp = client.post("/admin/retrain", headers=headers, json=body)
    assert resp.status_code == 202, resp.get_json()
    job_id = resp.get_json()["job_id"]
    return poll(
        lambda: json_ok(client.get(f"/admin/retrain/{job_id}", headers=headers)),
        lambda job: job["status"] in ("succeeded", "failed", "rejected"),
        timeout=180,
    )


def _subject(message: dict) -> str:
    return next(line for line in message["data"].splitlines() if line.startswith("Subject:"))


def test_promoted_retrain_sends_signed_webhooks_and_email(rt, smtp):
    _app, client, headers = rt
    receiver = Receiver(SECRET)
    try:
        add_webhook(client, headers, receiver.url, ["retrain.finished", "model.promoted"])
        correct_mistakes(client, headers, "v1")  # a retrain that learns them is promoted
        job = _run(client, headers, {"base": "v1"})
        assert job["status"] == "succeeded", job
        poll(receiver.events, lambda e: sorted(e) == ["model.promoted", "retrain.finished"], timeout=60)
        assert all(r["signed"] for r in receiver.requests)
        by_event = {r["body"]["event"]: r for r in receiver.requests}
        finished = by_event["retrain.finished"]
        assert finished["headers"]["X-Digitserve-Event"] == "retrain.finished"
        assert finished["body"]["data"]["id"] == job["id"] and finished["body"]["data"]["promoted"] is True
        assert by_event["model.promoted"]["body"]["data"] == {
            "alias": "v1",
            "version": job["registered_version"],
        }
        messages = poll(lambda: smtp.messages, lambda m: len(m) == 1, timeout=60)
        assert messages[0]["to"] == ["admin@example.com"]
        assert _subject(messages[0]) == f"Subject: [digitserve] retrain job {job['id']} succeeded"
        text = messages[0]["data"]
        assert f"new_accuracy: {job['new_accuracy']:.4f}" in text
        assert f"baseline_accuracy: {job['baseline_accuracy']:.4f}" in text
        assert f"registered_version: {job['registered_version']}" in text
    finally:
        receiver.close()


def test_hanging_receiver_never_delays_the_job_and_rejection_is_mailed(rt, smtp):
    _app, client, headers = rt
    hold = threading.Event()
    receiver = Receiver(SECRET, hold=hold)  # accepts the connection, then says nothing
    try:
        hook = add_webhook(client, headers, receiver.url, ["retrain.finished"])
        # Something already in flight to the hanging receiver before the job starts.
        assert client.post(f"/admin/webhooks/{hook['id']}/test", headers=headers).status_code == 202
        job = _run(client, headers, {"base": "v1", "shuffle_labels": True})
        assert job["status"] == "rejected", job
        assert receiver.requests == []  # the job finished while the receiver still hung
        messages = poll(lambda: smtp.messages, lambda m: len(m) == 1, timeout=60)
        assert _subject(messages[0]) == f"Subject: [digitserve] retrain job {job['id']} rejected"
        assert "promoted: False" in messages[0]["data"]
        hold.set()
        poll(receiver.events, lambda e: "retrain.finished" in e, timeout=60)
        assert all(r["signed"] for r in receiver.requests)
    finally:
        receiver.close()
