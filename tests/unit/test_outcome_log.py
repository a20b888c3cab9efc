"""The executor's line per delivery outcome and per refusal (decision 0043)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from chronohook.outbound.sender import SendResult
from chronohook.settings import Settings
from schemas.events import Alert, AlertDue, HttpRequestSpec, JobDue
from services.executor.outcome_log import delivered

T0 = datetime(2026, 4, 10, 14, 5, tzinfo=UTC)
DUE = JobDue(
    event_id="e1", job_id="rj_1", tenant="t1", occurred_at=T0, run_id="rj_1:0:1", due_at=T0, attempt=2,
    request=HttpRequestSpec(
        method="POST", url="http://127.0.0.2:9/x?token=s3cret", headers={"Authorization": "Bearer b"}
    ),
    queue="emails", delayed_by_ms=1500,
)  # fmt: skip


@pytest.mark.parametrize(
    ("result", "outcome", "status", "error"),
    [
        (SendResult(0.0, 12.34, status=201), "201", 201, None),
        (SendResult(0.0, 30_000.0, failure_reason="timeout", error_message="timed out"), "timeout", None, "timeout"),
        (
            SendResult(0.0, 5.0, status=503, failure_reason="http_server_error"),
            "http_server_error",
            503,
            "http_server_error",
        ),
    ],
)
def test_one_line_per_outcome_with_its_status_or_error_duration_and_lateness(
    caplog: pytest.LogCaptureFixture, result: SendResult, outcome: str, status: int | None, error: str | None
) -> None:
    caplog.set_level(logging.INFO)
    # When an attempt started 40 ms after its due instant ends so
    delivered(Settings(), DUE, result, T0 + timedelta(milliseconds=40))
    # Then one INFO line names the job, its queue, attempt, outcome, duration, lateness and the budget's delay
    [line] = [r for r in caplog.records if r.name == "chronohook.executor.deliveries"]
    assert line.levelno == logging.INFO and outcome in line.getMessage()
    fields = line.__dict__
    assert (fields["job_id"], fields["queue"], fields["attempt"], fields["status_code"], fields["error"]) == (
        "rj_1", "emails", 2, status, error,
    )  # fmt: skip
    assert fields["lateness_ms"] == 40.0 and fields["budget_delay_ms"] == 1500
    assert fields["duration_ms"] == round(result.duration_ms, 1)
    # And nothing of the request: no URL, no header
    assert "s3cret" not in str(fields) and "Bearer" not in str(fields)


def test_a_refused_request_is_also_a_refusal_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    # When the egress guard refused the request before it left
    refused = SendResult(0.0, 0.1, failure_reason="connection_error", error_message="refused by the egress policy: x")
    delivered(Settings(), DUE, refused, T0)
    # Then a refusal line gives the reason, beside the outcome line
    [line] = [r for r in caplog.records if r.name == "chronohook.refusals"]
    assert line.__dict__["refusal"] == "egress" and "egress policy" in line.__dict__["reason"]
    assert [r.name for r in caplog.records].count("chronohook.executor.deliveries") == 1


def test_the_outcome_line_can_be_turned_down_to_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    # Given CHRONOHOOK_DELIVERY_LOG_LEVEL=DEBUG and an INFO log / When a job is delivered / Then no line
    delivered(Settings(delivery_log_level="DEBUG"), DUE, SendResult(0.0, 1.0, status=200), T0)
    assert caplog.records == []


def test_an_alerts_delivery_has_its_line_too(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    # Given an alert's POST due now
    alert = Alert(
        kind="failure", job_id="rc_9", cron_id=9, consecutive_failures=3, alert_threshold=3, run_id="rc_9:1:3",
        response_status=500, failure_reason="http_server_error", raised_at=T0,
    )  # fmt: skip
    due = AlertDue(
        event_id="evt_a", job_id="rc_9", tenant="t1", occurred_at=T0, alert_id="alert:rc_9:1:3", alert=alert,
        due_at=T0,
    )  # fmt: skip
    # When its destination answered 204
    delivered(Settings(), due, SendResult(0.0, 3.0, status=204), T0 + timedelta(milliseconds=5))
    # Then one delivery line says it was an alert, with its id, status and lateness
    [line] = [r for r in caplog.records if r.name == "chronohook.executor.deliveries"]
    assert line.__dict__["kind"] == "alert" and line.__dict__["alert_id"] == "alert:rc_9:1:3"
    assert line.__dict__["status_code"] == 204 and line.__dict__["lateness_ms"] == 5.0
