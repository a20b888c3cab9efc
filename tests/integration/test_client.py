"""The Python client (clients/python) against the real stack (the session's four services and broker): it creates,
lists every page, reads and deletes jobs, and ``verify_webhook`` accepts a real delivery's headers, both sets, and
refuses a tampered body. A tenant of its own, so its signing settings touch no other test."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from chronohook_client import AsyncClient, Client, NotFoundError, WebhookVerificationError, verify_webhook
from chronohook_client.models import RecuroJob

from chronohook.store.engine import make_engine
from chronohook.store.tokens import create_token
from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import Receiver


def tenant_token(stack: Stack, tenant: str) -> str:
    engine = make_engine(stack.settings.resolved_database_url)
    try:
        return create_token(engine, tenant, "client tests")
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[Client]:
    with Client(stack.base_url, tenant_token(stack, f"client-{secrets.token_hex(3)}")) as c:
        yield c


def test_a_real_delivery_verifies_with_both_header_sets_and_a_tampered_body_does_not(
    client: Client, receiver: Receiver
) -> None:
    # Given a tenant that asked for Recuro's pair too, before its first delivery
    secret = client.signing_secret.update(recuro_compat=True)
    assert secret.recuro_compat and secret.recuro_secret
    # When a Recuro job is pushed to the local receiver
    path = f"/client/{secrets.token_hex(4)}"
    pushed = client.jobs.create(queue="client", url=receiver.url(path), payload={"to": "user@example.com"})
    delivered = receiver.wait_for(lambda r: r.path == path, timeout=30)[0]
    # Then the delivery carries both header sets, and verify_webhook accepts it with the API's secret
    names = {name.lower() for name in delivered.headers}
    assert {"webhook-id", "webhook-timestamp", "webhook-signature", "x-recuro-signature"} <= names
    verify_webhook(delivered.headers, delivered.body.encode(), secret.secret)
    verify_webhook(delivered.headers, delivered.body.encode(), secret.recuro_secret)
    # And refuses the same headers with a tampered body
    with pytest.raises(WebhookVerificationError):
        verify_webhook(delivered.headers, delivered.body.replace("user", "evil").encode(), secret.secret)

    # And the job reads completed, with its run, as a typed model
    def completed() -> RecuroJob | None:
        found = client.jobs.get(pushed.job_id)
        return found if found.status == "completed" else None

    job = eventually(completed, what="completed", interval=0.2)
    assert job.queue == "client" and job.runs and job.runs[0].response_status == 200
    assert len(client.jobs.runs(pushed.job_id).all()) == 1
    assert next(e.type for e in client.jobs.events(pushed.job_id)) == "JobPushed"


def test_create_list_every_page_get_and_delete(client: Client) -> None:
    # Given 7 QuedUp jobs due in an hour
    later = datetime.now(UTC) + timedelta(hours=1)
    made = [
        client.quedup.create(f"page-{i}-{secrets.token_hex(3)}", "https://example.com/", run_at=later) for i in range(7)
    ]
    # When every page is listed, 3 at a time
    listed = client.quedup.list(limit=3).all()
    # Then all 7 are there, each read back by id
    ids = {j.id for j in made}
    assert ids <= {j.id for j in listed}
    assert client.quedup.get(made[0].id).name == made[0].name
    # When they are deleted, Then each reads 404
    for job in made:
        client.quedup.delete(job.id)
    with pytest.raises(NotFoundError):
        client.quedup.get(made[0].id)
    assert not ids & {j.id for j in client.quedup.list(limit=3)}


def test_recuro_creates_are_idempotent_and_crons_page(client: Client) -> None:
    # Given a push sent twice with one idempotency key
    key = secrets.token_hex(8)
    later = datetime.now(UTC) + timedelta(hours=1)
    first = client.jobs.create(queue="client-idem", url="https://example.com/", run_at=later, idempotency_key=key)
    again = client.jobs.create(queue="client-idem", url="https://example.com/", run_at=later, idempotency_key=key)
    # Then it made one job
    assert first.job_id == again.job_id
    # Given 3 crons, When listed 2 per page, Then all are there; deleted, each is gone
    crons = [
        client.crons.create(f"c-{i}-{secrets.token_hex(3)}", "https://example.com/", "0 3 * * *") for i in range(3)
    ]
    assert {c.id for c in crons} <= {c.id for c in client.crons.list(per_page=2)}
    assert client.crons.pause(crons[0].id).is_active is False
    for cron in crons:
        client.crons.delete(cron.id)
    with pytest.raises(NotFoundError):
        client.crons.get(crons[0].id)


def test_the_recuro_jobs_list_follows_every_page(client: Client) -> None:
    # Given 5 Recuro jobs in a queue of their own
    queue = f"list-{secrets.token_hex(3)}"
    later = datetime.now(UTC) + timedelta(hours=1)
    made = {client.jobs.create(queue=queue, url="https://example.com/", run_at=later).job_id for _ in range(5)}
    # When listed by queue, 2 per page, Then every page is followed
    assert {j.id for j in client.jobs.list(queue=queue, per_page=2)} == made


def test_the_async_client_reads_what_the_sync_one_wrote(client: Client, stack: Stack) -> None:
    # Given a QuedUp job
    later = datetime.now(UTC) + timedelta(hours=1)
    job = client.quedup.create(f"async-{secrets.token_hex(3)}", "https://example.com/", run_at=later)
    token = client.http.headers["Authorization"].removeprefix("Bearer ")

    async def read() -> str:
        async with AsyncClient(stack.base_url, token) as aio:
            found = await aio.quedup.get(job.id)
            await aio.quedup.delete(job.id)
            return found.name

    # When read through the async client, Then it is the same job
    assert asyncio.run(read()) == job.name
