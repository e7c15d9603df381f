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
from territories.models import Quota, QuotaPlan, QuotaPlanStatus
from tests.celery_processes import celery_worker
from tests.conftest import fresh
from tests.reporting.scenario import APRIL, MARCH, YEAR, add_quotas

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


def test_quota_changes_mark_rep_and_month_for_the_incremental_recompute(book):
    """Monthly rep quotas of published plans count: changing one, publishing a plan or taking
    it back marks (rep, month), and the incremental recompute then equals a full one."""
    org = book
    services.kpi_recompute_full()

    def marks() -> set[tuple]:
        return set(KpiDirtyMark.objects.values_list("owner_id", "day"))

    def recomputed() -> dict[tuple, Decimal | None]:
        services.kpi_recompute_changed()
        assert not KpiDirtyMark.objects.exists()
        got = snapshots()
        assert got == computed()  # the same figures a full recompute gives
        return got

    east, march, april = ("rep", org.rep_east.pk), dt.date(2026, 3, 1), dt.date(2026, 4, 1)
    published = QuotaPlan.objects.get(fiscal_year=2026)
    draft = QuotaPlan.objects.get(fiscal_year=2027)
    monthly = Quota.objects.filter(plan=published, user=org.rep_east, period_kind="month")
    assert snapshots()[("quota_attainment", MARCH, *east, "")] == Decimal("1.25")

    monthly.filter(period_key=MARCH).update(amount=Decimal(2000))
    assert marks() == {(org.rep_east.pk, march)}
    got = recomputed()
    assert got[("quota_attainment", MARCH, *east, "")] == Decimal("0.5")
    assert got[("quota_achievement_rate", MARCH, "company", 0, "")] == 0

    # Quotas that do not count mark nothing: a team's, a quarter's, a draft plan's; nor does a
    # write that changes nothing the figures read.
    Quota.objects.exclude(plan=published, period_kind="month", user__isnull=False).update(
        amount=Decimal(1)
    )
    monthly.update(source="manual")
    assert marks() == set()

    # Moving a quota to another rep marks both; inserting and deleting mark the quota's rep.
    monthly.filter(period_key=APRIL).update(user=org.manager_west)
    add_quotas(published, {("user", org.rep_london): {"2026-05-01": "700"}})
    Quota.objects.filter(plan=published, user=org.rep_east_2, period_key=MARCH).delete()
    assert marks() == {
        (org.rep_east.pk, april), (org.manager_west.pk, april),
        (org.rep_london.pk, dt.date(2026, 5, 1)), (org.rep_east_2.pk, march),
    }  # fmt: skip
    got = recomputed()
    assert got[("quota", APRIL, "rep", org.manager_west.pk, "")] == 1000
    assert got[("quota", APRIL, "team", org.west.pk, "")] == 1000  # a manager's own team
    assert got[("quota", "2026-M05", "rep", org.rep_london.pk, "")] == 700
    assert ("quota", MARCH, "rep", org.rep_east_2.pk, "") not in got

    # Publishing a plan marks every monthly rep quota of it, and so does taking one back.
    QuotaPlan.objects.filter(pk=draft.pk).update(status=QuotaPlanStatus.PUBLISHED)
    assert marks() == {(org.rep_east.pk, dt.date(2027, 1, 1))}
    assert recomputed()[("quota", "2027-M01", *east, "")] == 1  # the amount set above
    QuotaPlan.objects.filter(pk=draft.pk).update(status=QuotaPlanStatus.PUBLISHED)
    assert marks() == set()  # still published: nothing changed
    QuotaPlan.objects.filter(pk=published.pk).update(status=QuotaPlanStatus.APPROVED)
    assert {(org.rep_west.pk, march), (org.rep_london.pk, april)} <= marks()
    got = recomputed()
    taken_back = ("quota", "quota_achievement_rate")
    assert not [key for key in got if key[0] in taken_back and key[1] in (MARCH, APRIL, YEAR)]
    # Deleting a published plan deletes its quotas: their reps and months are marked.
    QuotaPlan.objects.get(pk=draft.pk).delete()
    assert marks() == {(org.rep_east.pk, dt.date(2027, 1, 1))}
    assert ("quota", "2027-M01", *east, "") not in recomputed()


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
