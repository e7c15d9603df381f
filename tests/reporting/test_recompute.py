"""KPI snapshots: the full recompute, change marks from the database, the incremental recompute
(equal to a full one), and the recompute task run by a real Celery worker."""

from __future__ import annotations

import datetime as dt
import time
from decimal import ROUND_HALF_UP, Decimal

import pytest

from crm.leads import lead_create
from crm.models import Account, Deal
from crm.services import activity_log, deal_close, deal_create, deal_update
from reporting import services
from reporting.engine import compute
from reporting.models import KpiDirtyMark, KpiRun, KpiValue
from reporting.tasks import kpi_recompute_changed
from salesops.org.generate import SCALES, generate_org
from tests.celery_processes import celery_worker
from tests.conftest import fresh

AS_OF = dt.date(2026, 6, 30)


def snapshots() -> dict[tuple, Decimal | None]:
    return {
        (v.metric, v.period_key, v.scope_kind, v.scope_id, v.breakdown): v.value
        for v in KpiValue.objects.all()
    }


def computed() -> dict[tuple, Decimal | None]:
    return {
        (r.metric, r.period_key, r.scope_kind, r.scope_id, r.breakdown): (
            # stored rounded to 10 places, halves away from zero like PostgreSQL's round()
            None if r.value is None else r.value.quantize(Decimal("1e-10"), ROUND_HALF_UP)
        )
        for r in compute()
    }


def test_full_recompute_stores_what_the_engine_computes(org, pipeline, accounts):
    deal = deal_create(acting_user=fresh(org.rep_east), account=accounts[org.rep_east],
                       name="Won", amount=Decimal(700), close_date=dt.date(2026, 5, 4))  # fmt: skip
    deal_close(deal=deal, won=True, acting_user=fresh(org.rep_east), expected_version=1)
    run = services.kpi_recompute_full()
    assert (run.status, run.kind) == (KpiRun.Status.DONE, KpiRun.Kind.FULL)
    assert run.values_written == KpiValue.objects.count() > 0
    assert snapshots() == computed()
    assert snapshots()[("bookings", "2026-M05", "team", org.americas.pk, "")] == 700
    assert not KpiDirtyMark.objects.exists()  # the full run covered every change mark
    assert services.last_run() == run


def test_changes_leave_marks_that_the_incremental_recompute_clears(org, pipeline, accounts):
    rep = org.rep_east
    services.kpi_recompute_full()
    deal = deal_create(acting_user=fresh(rep), account=accounts[rep], name="New",
                       amount=Decimal(900), close_date=dt.date(2026, 8, 20))  # fmt: skip
    marks = set(KpiDirtyMark.objects.values_list("owner_id", "day"))
    assert (rep.pk, dt.date(2026, 8, 20)) in marks
    deal_update(
        deal=deal, acting_user=fresh(org.manager_east), expected_version=1, owner=org.rep_east_2
    )
    marks = set(KpiDirtyMark.objects.values_list("owner_id", "day"))
    assert {(rep.pk, dt.date(2026, 8, 20)), (org.rep_east_2.pk, dt.date(2026, 8, 20))} <= marks
    lead_create(acting_user=fresh(org.ops), last_name="Lead", company="Co", owner=rep)
    activity_log(acting_user=fresh(rep), kind="meeting", subject="Intro", account=accounts[rep])
    owners = set(KpiDirtyMark.objects.values_list("owner_id", flat=True))
    assert {rep.pk, org.rep_east_2.pk} <= owners

    run = services.kpi_recompute_changed()
    assert run.kind == KpiRun.Kind.INCREMENTAL and run.values_written > 0
    assert not KpiDirtyMark.objects.exists()
    assert snapshots() == computed()  # the same figures a full recompute gives
    got = snapshots()
    assert got[("pipeline", "2026-M08", "rep", org.rep_east_2.pk, "")] == 900
    assert ("pipeline", "2026-M08", "rep", rep.pk, "") not in got  # moved away: row removed
    assert services.kpi_recompute_changed() is None  # nothing left to do


def test_incremental_recompute_equals_full_on_a_generated_org(db):
    generate_org(scale=SCALES["demo"], seed=3, as_of=AS_OF)  # its last step computes every KPI
    assert snapshots() == computed()
    deals = list(Deal.objects.open().select_related("owner").order_by("pk")[:5])
    for deal in deals:
        user = fresh(deal.owner)
        deal_update(deal=deal, acting_user=user, expected_version=deal.version,
                    amount=(deal.amount or Decimal(0)) + 1000,
                    close_date=deal.close_date + dt.timedelta(days=45))  # fmt: skip
    deal = Deal.objects.open().order_by("-pk").first()
    deal_close(deal=deal, won=True, acting_user=fresh(deal.owner), expected_version=deal.version)
    services.kpi_recompute_changed()
    assert snapshots() == computed()


def test_an_account_moving_territory_marks_both_territories_months(org, pipeline, accounts):
    """Plan roll-outs move every account at once: marks are per territory and month."""
    account = accounts[org.rep_east]
    Account.objects.filter(pk=account.pk).update(territory_id=501)
    deal = deal_create(acting_user=fresh(org.rep_east), account=account, name="Deal",
                       amount=Decimal(700), close_date=dt.date(2026, 9, 10))  # fmt: skip
    deal_close(deal=deal, won=True, acting_user=fresh(org.rep_east), expected_version=1)
    services.kpi_recompute_full()
    KpiDirtyMark.objects.all().delete()
    assert snapshots()[("bookings", "2026-M09", "territory", 501, "")] == 700
    Account.objects.filter(pk=account.pk).update(territory_id=502)
    marks = set(KpiDirtyMark.objects.values_list("owner_id", "territory_id", "day"))
    created = Deal.objects.get(pk=deal.pk).created_at.date()
    assert {(None, 501, created.replace(day=1)), (None, 502, created.replace(day=1))} <= marks
    services.kpi_recompute_changed()
    got = snapshots()
    assert got[("bookings", "2026-M09", "territory", 502, "")] == 700
    assert ("bookings", "2026-M09", "territory", 501, "") not in got
    assert snapshots() == computed()


@pytest.mark.django_db(transaction=True)
def test_the_recompute_task_runs_on_a_real_worker(org, pipeline, accounts):
    services.kpi_recompute_full()
    deal = deal_create(acting_user=fresh(org.rep_west), account=accounts[org.rep_west],
                       name="Worker", amount=Decimal(1234), close_date=dt.date(2026, 9, 9))  # fmt: skip
    deal_close(deal=deal, won=True, acting_user=fresh(org.rep_west), expected_version=1)
    key = ("bookings", "2026-M09", "rep", org.rep_west.pk, "")
    assert key not in snapshots()
    with celery_worker():
        kpi_recompute_changed.delay()
        deadline = time.monotonic() + 60
        while key not in snapshots():
            assert time.monotonic() < deadline, "the worker did not recompute the KPIs"
            time.sleep(0.3)
    assert snapshots()[key] == 1234
    assert KpiRun.objects.filter(kind=KpiRun.Kind.INCREMENTAL, status="done").exists()
