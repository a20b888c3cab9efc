"""Field rules and Laravel-worded errors, tested on the functions and request models directly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.ingest.models import CreateCronRequest, CreateJobRequest, PushJobRequest
from services.ingest.validation import (
    RuleError,
    cron_expression,
    http_method,
    laravel_errors,
    rfc3339,
    time_zone,
    valid_url,
)


def errors_of(model: type[PushJobRequest | CreateJobRequest | CreateCronRequest], data: object) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return laravel_errors(caught.value.errors())


# -- URLs --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url", ["https://example.com", "http://127.0.0.1:8080/hook?x=1", "https://api.yourapp.com/send", "http://[::1]/"]
)
def test_valid_urls_pass_unchanged(url: str) -> None:
    # Given an http(s) URL with a host
    # Then it is accepted as is
    assert valid_url(url) == url


@pytest.mark.parametrize(
    "url",
    ["not a url", "example.com", "ftp://example.com", "https://", "https:///path", "http://exa mple.com",
     "javascript:alert(1)", "http://[::1"],
)  # fmt: skip
def test_invalid_urls_are_refused(url: str) -> None:
    # Given something that is not an http(s) URL with a host
    # Then the rule fails with Laravel's wording
    with pytest.raises(RuleError, match=r"^must be a valid URL\.$"):
        valid_url(url)


# -- methods -----------------------------------------------------------------------------------------------------
def test_methods_are_upper_cased_and_checked() -> None:
    # Given method names in any case
    # Then known ones come back upper-cased, HEAD only where allowed
    assert http_method("post") == "POST"
    assert http_method("DELETE") == "DELETE"
    assert http_method("head", ("GET", "HEAD")) == "HEAD"
    with pytest.raises(RuleError, match="It must be one of GET, POST, PUT, PATCH, DELETE"):
        http_method("FOO")
    with pytest.raises(RuleError):
        http_method("HEAD")


# -- cron --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "expr",
    ["* * * * *", "*/5 0-6 1,15 JAN-MAR mon-fri", "0 12 * * 7", "0  12 * *   0", "*/2 * * * * *", "30 0 9 * * MON"],
)
def test_valid_cron_expressions(expr: str) -> None:
    # Given a standard 5-field expression, or 6 fields with seconds first (extra spaces allowed)
    # Then it is accepted, whitespace normalised
    assert cron_expression(expr) == " ".join(expr.split())


@pytest.mark.parametrize(
    "expr",
    ["61 * * * *", "* * * *", "* * * * * * *", "<string>", "0 25 * * *", "", "60 * * * * *", "0 0 31 2 *", "R * * * *"],
)
def test_invalid_cron_expressions(expr: str) -> None:
    # Given something that is not a 5- or 6-field cron expression, or one that never fires
    # Then the rule fails
    with pytest.raises(RuleError, match="must be a valid cron expression"):
        cron_expression(expr)


# -- time zone and catch-up (chronohook extensions) --------------------------------------------------------------
@pytest.mark.parametrize("name", ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata"])
def test_valid_time_zones(name: str) -> None:
    # Given an IANA zone name, Then it is accepted as it is
    assert time_zone(name) == name


@pytest.mark.parametrize("name", ["Mars/Olympus", "", " UTC", "../../etc/passwd", "/etc/localtime", "EST5EDT/x"])
def test_invalid_time_zones(name: str) -> None:
    # Given something the tz database has no zone for, Then the rule fails with Laravel's wording
    with pytest.raises(RuleError, match="must be a valid IANA time zone"):
        time_zone(name)


# -- RFC 3339 ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-09-24T17:00:00Z", datetime(2025, 9, 24, 17, 0, tzinfo=UTC)),
        ("2025-09-24t17:00:00z", datetime(2025, 9, 24, 17, 0, tzinfo=UTC)),
        ("2025-09-24T19:00:00+02:00", datetime(2025, 9, 24, 17, 0, tzinfo=UTC)),
        ("2025-09-24T17:00:00.250-01:00", datetime(2025, 9, 24, 18, 0, 0, 250_000, tzinfo=UTC)),
        ("2023-11-07T05:31:56Z", datetime(2023, 11, 7, 5, 31, 56, tzinfo=UTC)),
    ],
)
def test_rfc3339_times_are_parsed_to_utc(text: str, expected: datetime) -> None:
    # Given an RFC 3339 timestamp with an explicit offset
    # When it is parsed
    parsed = rfc3339(text)
    # Then it is the same instant, in UTC
    assert parsed == expected
    assert parsed.utcoffset() is not None
    assert parsed.tzinfo == UTC


@pytest.mark.parametrize(
    "text",
    ["2025-09-24 17:00", "2025-09-24 17:00:00Z", "2025-09-24T17:00:00", "2025-09-24", "tomorrow",
     "2025-02-30T17:00:00Z", "2025-09-24T17:00:00+01", "2025-09-24T25:00:00Z", ""],
)  # fmt: skip
def test_non_rfc3339_times_are_refused(text: str) -> None:
    # Given a timestamp that is not RFC 3339 (no T, no offset, impossible date, ...)
    # Then the rule fails with an example of the right format
    with pytest.raises(RuleError, match="RFC 3339"):
        rfc3339(text)


# -- Laravel-worded errors from the models -----------------------------------------------------------------------
def test_push_errors_are_grouped_by_field_in_order() -> None:
    # Given an empty push
    errors = errors_of(PushJobRequest, {})
    # Then queue and url are required, in that order; method and delay have defaults
    assert errors == {"queue": ["The queue field is required."], "url": ["The url field is required."]}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"queue": ""}, "queue", "The queue field is required."),
        ({"queue": 7}, "queue", "The queue field must be a string."),
        ({"queue": "q" * 256}, "queue", "The queue field must not be greater than 255 characters."),
        ({"url": "https://x.test/" + "a" * 2048}, "url", "The url field must not be greater than 2048 characters."),
        ({"url": "nope"}, "url", "The url field must be a valid URL."),
        ({"delay": 86_401}, "delay", "The delay field must be between 0 and 86400."),
        ({"delay": -1}, "delay", "The delay field must be between 0 and 86400."),
        ({"delay": "1.5"}, "delay", "The delay field must be an integer."),
        ({"delay": "010"}, "delay", "The delay field must be an integer."),
        ({"delay": "ten"}, "delay", "The delay field must be an integer."),
        ({"delay": "86401"}, "delay", "The delay field must be between 0 and 86400."),
        ({"delay": 1.5}, "delay", "The delay field must be an integer."),
        ({"delay": True}, "delay", "The delay field must be an integer."),
        ({"payload": [1]}, "payload", "The payload field must be an object."),
        ({"headers": [1]}, "headers", "The headers field must be an object."),
        ({"headers": {"X": None}}, "headers.X", "The headers.X field must be a string."),
        ({"headers": {"X": [1]}}, "headers.X", "The headers.X field must be a string."),
        ({"callback_url": "nope"}, "callback_url", "The callback_url field must be a valid URL."),
    ],
)
def test_push_field_errors(data: dict[str, object], field: str, message: str) -> None:
    # Given an otherwise valid push with one bad field
    body = {"queue": "emails", "url": "https://example.com"} | data
    # When it is validated
    errors = errors_of(PushJobRequest, body)
    # Then that field (only) has the Laravel-worded message
    assert errors == {field: [message]}


def test_push_method_error_names_the_choices() -> None:
    # Given an unknown method
    errors = errors_of(PushJobRequest, {"queue": "q", "url": "https://example.com", "method": "FOO"})
    # Then the error is "The selected method is invalid..."
    assert list(errors) == ["method"]
    assert errors["method"][0].startswith("The selected method is invalid.")


def test_the_documented_push_examples_validate() -> None:
    # Given the request bodies from the Recuro page
    examples = [
        {"queue": "emails", "url": "https://api.yourapp.com/send", "method": "POST",
         "headers": {"X-Custom-Header": "value"}, "payload": {"subject": "Welcome!"}, "delay": 300},
        {"queue": "notifications", "url": "https://api.yourapp.com/notify", "delay": 1800,
         "payload": {"event": "user_signup"}},
        {"queue": "reminders", "url": "https://api.yourapp.com/remind", "method": "POST",
         "payload": {"user_id": 42, "type": "trial_expiry"}, "delay": 86400,
         "callback_url": "https://api.yourapp.com/recuro-callback"},
    ]  # fmt: skip
    # Then each is a valid push, with POST and no delay as defaults
    for example in examples:
        req = PushJobRequest.model_validate(example)
        assert req.method == "POST"
        assert req.delay == example["delay"]


def test_quedup_create_request_rules() -> None:
    # Given the QuedUp page's example with a real cron in place of "<string>"
    req = CreateJobRequest.model_validate(
        {"method": "post", "name": "Database Backup", "url": "https://example.com", "body": "<string>",
         "headers": {}, "run_at": "2023-11-07T05:31:56Z", "schedule": "0 12 * * *"}
    )  # fmt: skip
    # Then it validates, the method upper-cased, and run_at ignored for the schedule (as the page says)
    assert req.method == "POST"
    assert req.run_at is None
    assert req.schedule == "0 12 * * *"
    # And without a schedule, run_at is parsed
    once = CreateJobRequest.model_validate(
        {"method": "POST", "name": "n", "url": "https://example.com", "run_at": "2023-11-07T05:31:56Z"}
    )
    assert once.run_at == datetime(2023, 11, 7, 5, 31, 56, tzinfo=UTC)
    # And QuedUp allows HEAD and OPTIONS too
    assert CreateJobRequest.model_validate({"method": "HEAD", "name": "n", "url": "https://e.com"}).method == "HEAD"
    # And missing required fields are reported together
    assert errors_of(CreateJobRequest, {}) == {
        "method": ["The method field is required."],
        "name": ["The name field is required."],
        "url": ["The url field is required."],
    }
    # And a bad schedule is reported on its field; run_at beside a schedule is ignored, not validated
    bad = errors_of(
        CreateJobRequest,
        {"method": "GET", "name": "n", "url": "https://e.com", "run_at": "2025-09-24 17:00", "schedule": "61 * * * *"},
    )
    assert set(bad) == {"schedule"}
    # And a bad run_at alone is reported on its field
    bad = errors_of(CreateJobRequest, {"method": "GET", "name": "n", "url": "https://e.com", "run_at": "tomorrow"})
    assert set(bad) == {"run_at"}


def test_cron_request_bounds() -> None:
    # Given a cron with out-of-range timeout and alert threshold
    errors = errors_of(
        CreateCronRequest,
        {"name": "c", "url": "https://e.com", "cron_expression": "* * * * *", "timeout_seconds": 301,
         "alert_threshold": 4, "payload": {"not": "a string"}},
    )  # fmt: skip
    # Then each is reported with its bounds or choices
    assert errors["timeout_seconds"] == ["The timeout_seconds field must be between 1 and 300."]
    assert errors["alert_threshold"] == ["The selected alert_threshold is invalid."]
    assert errors["payload"] == ["The payload field must be a string."]


def test_json_errors_are_reported_on_the_body() -> None:
    # Given pydantic's error for a body that is not JSON
    errors = laravel_errors([{"type": "json_invalid", "loc": ("body", 3), "msg": "bad", "input": {}}])
    # Then it is worded once, on "body"
    assert errors == {"body": ["The request body must be a JSON object."]}


def test_duplicate_messages_are_listed_once() -> None:
    # Given the same error reported twice for a field
    err = {"type": "missing", "loc": ("body", "queue"), "msg": "Field required", "input": {}}
    # Then the message appears once
    assert laravel_errors([err, err]) == {"queue": ["The queue field is required."]}
