"""What the executor sends for an alert (JSON or Slack body, headers) and the events its answer becomes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from chronohook.outbound.sender import SendResult
from chronohook.outbound.signing import SigningKeys, new_secret, signed
from schemas.events import Alert, AlertDelivered, AlertDeliveryFailed, AlertDue
from services.executor.alerts import (
    ALERT_ID_HEADER,
    alert_headers,
    alert_request,
    alert_result_event,
    no_destination_event,
)

NOW = datetime(2026, 4, 10, 14, 6, 0, tzinfo=UTC)
ALERT = Alert(
    kind="failure",
    job_id="rc_5",
    cron_id=5,
    name="nightly",
    consecutive_failures=2,
    alert_threshold=2,
    run_id="rc_5:1:1",
    response_status=503,
    failure_reason="http_server_error",
    error_message="HTTP 503",
    raised_at=NOW,
)
DUE = AlertDue(
    event_id="evt_d", job_id="rc_5", tenant="t1", occurred_at=NOW, alert_id="alert:rc_5:1:1", alert=ALERT, due_at=NOW
)


@dataclass(frozen=True)
class Dest:
    url: str
    format: Literal["json", "slack"]


def test_the_json_body_is_the_documented_document() -> None:
    # When the alert is sent to a JSON destination
    request = alert_request(DUE, Dest("https://alerts.example.com/h", "json"), 30)

    # Then it POSTs the versioned document naming the cron, the counts and the run
    body = json.loads(request.body or "")
    assert request.method == "POST" and request.url == "https://alerts.example.com/h"
    assert body["type"] == "alert.failure" and body["version"] == 1 and body["alert_id"] == DUE.alert_id
    assert (body["cron_id"], body["consecutive_failures"], body["alert_threshold"]) == (5, 2, 2)
    assert body["run"] == {
        "run_id": "rc_5:1:1",
        "status_code": 503,
        "failure_reason": "http_server_error",
        "error_message": "HTTP 503",
    }


def test_the_slack_body_is_one_line_of_text() -> None:
    # When the alert is sent to a Slack destination
    request = alert_request(DUE, Dest("https://hooks.example.com/s", "slack"), 30)

    # Then the body is {"text": ...} naming the cron and the failures in a row
    body = json.loads(request.body or "")
    assert list(body) == ["text"]
    assert '"nightly"' in body["text"] and "2 time(s) in a row" in body["text"] and "HTTP 503" in body["text"]


def test_headers_sign_with_the_alert_id_as_webhook_id() -> None:
    # Given the tenant's keys
    keys = SigningKeys(new_secret(), NOW)
    request = alert_request(DUE, Dest("https://alerts.example.com/h", "json"), 30)

    # When the headers are signed as the executor signs them
    headers = signed(alert_headers(DUE), keys, DUE.alert_id, request.body, NOW)

    # Then the webhook-id is the alert id and the alert id header is set
    assert headers["webhook-id"] == DUE.alert_id == headers[ALERT_ID_HEADER]
    assert headers["webhook-signature"].startswith("v1,")


def test_answers_become_delivered_or_failed_and_no_destination_is_marked() -> None:
    # Given / When: a 2xx answer, a 503, and no destination
    ok = alert_result_event(DUE, SendResult(0.0, 3.0, status=204), NOW, "json")
    bad = alert_result_event(
        DUE,
        SendResult(0.0, 3.0, status=503, failure_reason="http_server_error", error_message="HTTP 503"),
        NOW,
        "json",
    )
    none = no_destination_event(DUE, NOW)

    # Then each is the event the timer decides on, for this attempt
    assert isinstance(ok, AlertDelivered) and ok.response_status == 204 and ok.attempt == 1
    assert isinstance(bad, AlertDeliveryFailed) and bad.failure_reason == "http_server_error" and not bad.no_destination
    assert none.no_destination and none.alert_id == DUE.alert_id


QUEUE_ALERT = Alert(
    kind="failure",
    job_id="rj_7",
    queue="emails",
    queue_id=42,
    consecutive_failures=1,
    alert_threshold=1,
    run_id="rj_7:1:3",
    response_status=500,
    failure_reason="http_server_error",
    error_message="HTTP 500",
    raised_at=NOW,
)
QUEUE_DUE = AlertDue(
    event_id="evt_qd",
    job_id="queue:t1:42",
    tenant="t1",
    occurred_at=NOW,
    alert_id="alert:rj_7:1:3",
    alert=QUEUE_ALERT,
    due_at=NOW,
)


def test_a_queues_alert_names_the_queue_and_no_cron() -> None:
    # When a queue's failure alert is sent to a JSON destination and to a Slack one
    body = json.loads(alert_request(QUEUE_DUE, Dest("https://alerts.example.com/h", "json"), 30).body or "")
    text = json.loads(alert_request(QUEUE_DUE, Dest("https://hooks.example.com/s", "slack"), 30).body or "")["text"]

    # Then the document names the queue and the job whose chain failed, with no cron
    assert (body["type"], body["queue"], body["queue_id"], body["cron_id"]) == ("alert.failure", "emails", 42, None)
    assert (body["job_id"], body["alert_threshold"], body["run"]["status_code"]) == ("rj_7", 1, 500)
    # And the Slack line names the queue and the job
    assert '"emails"' in text and "rj_7" in text and "HTTP 500" in text and "cron" not in text
    # And its recovery reads as the queue's
    recovery = QUEUE_DUE.model_copy(update={"alert": QUEUE_ALERT.model_copy(update={"kind": "recovery"})})
    line = json.loads(alert_request(recovery, Dest("https://hooks.example.com/s", "slack"), 30).body or "")["text"]
    assert line == ':white_check_mark: Recovered: queue "emails" succeeded again.'
