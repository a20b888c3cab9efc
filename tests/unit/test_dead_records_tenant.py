"""The tenant guard of the read model: no event changes the tenant of a job that exists."""

from __future__ import annotations

import pytest

from chronohook.readmodel.views import TenantMismatch, evolve
from schemas.events import Event, JobDeleted, JobPaused
from tests.unit.test_projector_views import T0, created, due, pushed


def as_tenant(event: Event, tenant: str) -> Event:
    return event.model_copy(update={"tenant": tenant})


@pytest.mark.parametrize(
    "event",
    [
        created("job_a"),
        due("job_a", T0),
        JobPaused(event_id="evt_p", job_id="job_a", tenant="t1", occurred_at=T0),
        JobDeleted(event_id="evt_d", job_id="job_a", tenant="t1", occurred_at=T0),
    ],
    ids=lambda e: e.type,
)
def test_an_event_of_another_tenant_for_an_existing_job_is_refused(event: Event) -> None:
    # Given tenant t1's job
    view = evolve(None, created("job_a"))
    assert view is not None and view.tenant == "t1"

    # When an event about it names tenant t2 (the same id minted twice, or a forged record)
    # Then the fold refuses it, saying both tenants
    with pytest.raises(TenantMismatch, match=r"'t2'.*'t1'"):
        evolve(view, as_tenant(event, "t2"))


def test_a_recuro_push_reusing_an_id_of_another_tenant_is_refused() -> None:
    # Given tenant t1's pushed job rj_847
    view = evolve(None, pushed("rj_847"))

    # When another tenant's push carries the same id
    # Then it is refused rather than overwriting the job
    with pytest.raises(TenantMismatch):
        evolve(view, as_tenant(pushed("rj_847"), "t2"))


def test_events_of_the_same_tenant_and_new_jobs_of_any_tenant_pass() -> None:
    # Given no job yet: another tenant may create one
    other = evolve(None, as_tenant(created("job_b"), "t2"))
    assert other is not None and other.tenant == "t2"

    # And the job's own tenant's events apply as before
    view = evolve(None, created("job_a"))
    after = evolve(view, due("job_a", T0))
    assert after is not None and after.tenant == "t1"
