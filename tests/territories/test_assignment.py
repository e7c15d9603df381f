"""Assignment rules: precedence, the catch-all, one territory per account, the SQL and Python
matchers agreeing, and applying rules (owners, moves, effective-dated spans, open deals)."""

from __future__ import annotations

import datetime as dt
import random
import time
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from crm.models import Account, Deal, DealHistory
from crm.services import deal_create
from salesops.errors import DomainError, NotAllowed
from territories import runs, services
from territories.assignment import landing_for, match_accounts, rule_matches
from territories.models import (
    AccountTerritory,
    AssignmentMove,
    AssignmentRun,
    MemberRole,
    PlanStatus,
    RunStatus,
)
from tests.celery_processes import celery_worker
from tests.conftest import fresh
from tests.crm import conftest as crm_fixtures

pipeline = crm_fixtures.pipeline  # the New Business pipeline fixture
TODAY = dt.date(2026, 6, 1)


@pytest.fixture
def plan(org):
    """Live plan: named › West (CA, OR by rule) / East (US rest) / EMEA (GB) / Other (catch-all)."""
    ops = org.ops
    plan = services.plan_create_live(name="FY2027 plan", acting_user=ops)
    world = services.territory_save(plan=plan, acting_user=ops, key="world", name="World")
    t = {
        key: services.territory_save(
            plan=plan, acting_user=ops, key=key, name=key.title(), parent=world
        )
        for key in ("west", "east", "emea", "strategic", "other")
    }
    t["world"] = world
    services.member_set(territory=t["west"], user=org.rep_west, role="owner", acting_user=ops)
    services.member_set(territory=t["east"], user=org.rep_east, role="owner", acting_user=ops)
    services.member_set(territory=t["east"], user=org.rep_east_2, role="owner", acting_user=ops)
    services.member_set(territory=t["emea"], user=org.rep_london, role="owner", acting_user=ops)
    rule = lambda **fields: services.rule_save(plan=plan, acting_user=ops, fields=fields)  # noqa: E731
    t["rules"] = {
        "west": rule(territory=t["west"], countries=["us"], regions=["CA", "Oregon"]),
        "big_east": rule(territory=t["east"], countries=["US"], employees_min=1000),
        "east": rule(territory=t["east"], countries=["US"]),
        "emea": rule(territory=t["emea"], postal_prefixes=["SW1", "EC"]),
        "other": rule(territory=t["other"], catch_all=True),
    }
    t["plan"] = plan
    return t


def account(owner, **fields) -> Account:
    return Account.objects.create(name=fields.pop("name", "Acme"), owner=owner, **fields)


def landed(plan, accounts) -> dict[int, str]:
    """Each account's territory key under ``plan``'s rules, by the SQL matcher."""
    from django.db import connection

    with transaction.atomic():
        match_accounts(plan, [a.pk for a in accounts])
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT r.account_id, t.key FROM rule_target r"
                " JOIN territories_territory t ON t.id = r.territory_id"
            )
            return dict(cursor.fetchall())


def test_first_matching_rule_wins_and_the_catch_all_takes_the_rest(org, plan):
    ca = account(org.rep_east, country="US", region="ca")
    big_ca = account(org.rep_east, country="US", region="CA", employees=5000)
    ny = account(org.rep_west, country="US", region="NY")
    london = account(org.rep_east, country="GB", postal_code="sw1a 1aa")
    paris = account(org.rep_east, country="FR", postal_code="75001")
    blank = account(org.rep_east)
    got = landed(plan["plan"], [ca, big_ca, ny, london, paris, blank])
    assert got == {
        ca.pk: "west",  # region matched case-insensitively
        big_ca.pk: "west",  # the West rule comes before the big-company rule
        ny.pk: "east",
        london.pk: "emea",  # postal prefix, spaces and case ignored
        paris.pk: "other",
        blank.pk: "other",
    }


def test_reordering_changes_precedence(org, plan):
    big_ca = account(org.rep_east, country="US", region="CA", employees=5000)
    rules = plan["rules"]
    services.rules_reorder(
        plan=plan["plan"],
        rule_ids=[rules[k].pk for k in ("big_east", "west", "east", "emea")],
        acting_user=org.ops,
    )
    assert landed(plan["plan"], [big_ca]) == {big_ca.pk: "east"}


def test_named_accounts_and_ranges(org, plan):
    named = account(org.rep_east, country="US", region="CA")
    unknown_size = account(org.rep_east, country="US", region="TX")
    rich = account(org.rep_east, country="DE", annual_revenue=Decimal("2000000.00"))
    services.rule_save(
        plan=plan["plan"], acting_user=org.ops,
        fields={"territory": plan["strategic"], "named_account_ids": [named.pk], "position": 1},
    )  # fmt: skip
    services.rule_save(
        plan=plan["plan"], acting_user=org.ops,
        fields={"territory": plan["strategic"], "revenue_min": Decimal("1000000"), "position": 2},
    )  # fmt: skip
    got = landed(plan["plan"], [named, unknown_size, rich])
    # an account with no employee count fails "at least 1,000 employees" and falls through
    assert got == {named.pk: "strategic", unknown_size.pk: "east", rich.pk: "strategic"}


def test_a_plan_without_a_catch_all_is_refused(org, plan):
    scenario = services.scenario_create(name="No catch-all", acting_user=org.ops)
    scenario.rules.filter(catch_all=True).delete()
    with pytest.raises(DomainError) as error, transaction.atomic():
        match_accounts(scenario)
    assert error.value.message == (
        "No catch-all has no catch-all rule, so some accounts could land nowhere. "
        "Add a catch-all rule (the last rule, matching every account left)."
    )


def test_a_catch_all_sets_no_conditions(org, plan):
    with pytest.raises(DomainError) as error:
        services.rule_save(
            plan=plan["plan"], acting_user=org.ops, rule=plan["rules"]["other"],
            fields={"countries": ["US"]},
        )  # fmt: skip
    assert error.value.message == (
        "A catch-all rule takes every account left, so it sets no conditions."
    )


def test_every_account_lands_in_exactly_one_territory_and_sql_agrees_with_python(org, plan):
    """Generated accounts: the SQL matcher and the rule tester give the same territory."""
    rng = random.Random(7)
    owners = [org.rep_east, org.rep_west, org.rep_london]
    made = [
        account(
            rng.choice(owners),
            name=f"Co {i}",
            country=rng.choice(["US", "us", "GB", "FR", ""]),
            region=rng.choice(["CA", "oregon", "NY", "TX", ""]),
            postal_code=rng.choice(["SW1A 1AA", "EC2", "75001", "94107", ""]),
            employees=rng.choice([None, 10, 999, 1000, 50000]),
        )
        for i in range(120)
    ]
    got = landed(plan["plan"], made)
    assert set(got) == {a.pk for a in made}  # each exactly once: rule_target is unique
    for made_account in Account.objects.filter(pk__in=got):
        fields = {
            "id": made_account.pk,
            **{
                f: getattr(made_account, f)
                for f in ("country", "region", "postal_code", "industry", "employees")
            },
            "segment": made_account.segment,
            "annual_revenue": made_account.annual_revenue,
        }
        assert landing_for(plan["plan"], fields).territory.key == got[made_account.pk]


def test_rule_tester_on_typed_values(org, plan):
    landing = landing_for(plan["plan"], {"country": "us", "region": " oregon "})
    assert landing.territory.key == "west"
    assert landing.rule == plan["rules"]["west"]
    assert rule_matches(plan["rules"]["big_east"], {"country": "US", "employees": "1000"})
    assert not rule_matches(plan["rules"]["big_east"], {"country": "US", "employees": None})


def _apply(plan, org, day, **options):
    run = runs.assignment_run_create(
        plan=plan, effective_date=day, acting_user=org.ops, today=day,
        reassign_open_deals=options.get("deals", False),
    )  # fmt: skip
    return runs.assignment_run_execute(run_id=run.pk)


def test_applying_rules_assigns_owners_records_moves_and_spans(org, plan):
    ca = account(org.rep_east, country="US", region="CA")  # west: rep_west takes it
    ny_1 = account(org.rep_east, country="US", region="NY")  # east, rep_east keeps it
    ny_2 = account(org.rep_west, country="US", region="NY")  # east: owners take turns
    ny_3 = account(org.rep_london, country="US", region="NY")
    fr = account(org.rep_east, country="FR")  # other: no owners there, owner stays
    run = _apply(plan["plan"], org, TODAY)
    assert run.status == RunStatus.DONE and run.accounts_total == 5
    owners = dict(Account.objects.values_list("pk", "owner__username"))
    assert owners == {
        ca.pk: "rep_west",
        ny_1.pk: "rep_east",
        ny_2.pk: "rep_east",  # turns by account id among rep_east, rep_east_2 (by user id)
        ny_3.pk: "rep_east_2",
        fr.pk: "rep_east",
    }
    keys = dict(AccountTerritory.objects.values_list("account_id", "territory__key"))
    assert keys == {
        ca.pk: "west",
        ny_1.pk: "east",
        ny_2.pk: "east",
        ny_3.pk: "east",
        fr.pk: "other",
    }
    assert set(AccountTerritory.objects.values_list("valid_from", "valid_to")) == {(TODAY, None)}
    # every account moved (none had a territory); 3 changed owner
    assert (run.accounts_moved, run.owners_changed) == (5, 3)
    assert AssignmentMove.objects.filter(run=run).count() == 5


def test_effective_dating_keeps_the_past_and_waits_for_the_future(org, plan):
    ca = account(org.rep_east, country="US", region="CA")
    _apply(plan["plan"], org, TODAY)
    # Move California to East in a scenario, dated in the future.
    scenario = services.scenario_create(name="CA to East", acting_user=org.ops)
    east = scenario.territories.get(key="east")
    services.region_move(plan=scenario, country="US", region="CA", to=east, acting_user=org.ops)
    later = TODAY + dt.timedelta(days=30)
    run = runs.assignment_run_create(
        plan=scenario, effective_date=later, reassign_open_deals=False, acting_user=org.ops,
        today=TODAY,
    )  # fmt: skip
    assert run.status == RunStatus.SCHEDULED
    scenario.refresh_from_db()
    assert scenario.status == PlanStatus.SCHEDULED
    with pytest.raises(DomainError, match="waits for"):
        runs.assignment_run_execute(run_id=run.pk)
    assert runs.assignment_runs_due(today=later - dt.timedelta(days=1)) == []
    ca.refresh_from_db()
    assert ca.owner == org.rep_west  # nothing changed before the day
    assert runs.assignment_runs_due(today=later) == [run.pk]
    runs.assignment_run_execute(run_id=run.pk)
    scenario.refresh_from_db()
    plan["plan"].refresh_from_db()
    assert (scenario.status, plan["plan"].status) == (PlanStatus.LIVE, PlanStatus.RETIRED)
    spans = list(
        AccountTerritory.objects.filter(account=ca).values_list(
            "territory__key", "owner__username", "valid_from", "valid_to"
        )
    )
    assert spans == [
        ("west", "rep_west", TODAY, later - dt.timedelta(days=1)),
        ("east", "rep_east", later, None),
    ]
    with pytest.raises(DomainError) as error:
        runs.assignment_run_create(
            plan=scenario, effective_date=TODAY, reassign_open_deals=False, acting_user=org.ops,
            today=later,
        )  # fmt: skip
    assert error.value.message == (
        f"The effective date must be on or after {later:%Y-%m-%d}, the date of the latest run: "
        "assignments cannot be rewritten behind a later one."
    )


def test_open_deals_follow_the_new_owner_with_history_when_asked(org, plan, pipeline):
    ca = account(org.rep_east, country="US", region="CA")
    open_deal = deal_create(acting_user=fresh(org.rep_east), account=ca, name="Open one")
    other_owner = deal_create(
        acting_user=fresh(org.manager_east), account=ca, name="Someone else's",
        owner=org.rep_east_2,
    )  # fmt: skip
    run = _apply(plan["plan"], org, TODAY, deals=True)
    assert run.deals_reassigned == 2
    for deal in (open_deal, other_owner):
        deal.refresh_from_db()
        assert deal.owner == org.rep_west
        assert deal.version == 2
        last = DealHistory.objects.filter(deal=deal).latest("id")
        assert (last.changed_fields, last.to_owner) == (["owner"], org.rep_west)
    assert AssignmentMove.objects.get(run=run, account=ca).deals_reassigned == 2


def test_open_deals_stay_unless_asked(org, plan, pipeline):
    ca = account(org.rep_east, country="US", region="CA")
    deal = deal_create(acting_user=fresh(org.rep_east), account=ca, name="Open one")
    _apply(plan["plan"], org, TODAY)
    assert Deal.objects.get(pk=deal.pk).owner == org.rep_east


def test_running_a_finished_run_again_changes_nothing(org, plan):
    account(org.rep_east, country="US", region="CA")
    run = _apply(plan["plan"], org, TODAY)
    again = runs.assignment_run_execute(run_id=run.pk)
    assert again.status == RunStatus.DONE
    assert AssignmentMove.objects.count() == 1
    assert AccountTerritory.objects.count() == 1


def test_reapplying_the_same_rules_moves_nothing(org, plan):
    account(org.rep_east, country="US", region="CA")
    _apply(plan["plan"], org, TODAY)
    second = _apply(plan["plan"], org, TODAY + dt.timedelta(days=1))
    assert (second.accounts_moved, second.owners_changed) == (0, 0)
    assert AccountTerritory.objects.count() == 1


def test_only_sales_ops_apply_rules(org, plan):
    with pytest.raises(NotAllowed):
        runs.assignment_run_create(
            plan=plan["plan"], effective_date=TODAY, reassign_open_deals=False,
            acting_user=fresh(org.manager_east),
        )  # fmt: skip
    with pytest.raises(NotAllowed):
        services.rule_save(
            plan=plan["plan"], acting_user=fresh(org.rep_east),
            fields={"territory": plan["west"], "countries": ["US"]},
        )  # fmt: skip


def test_a_failed_run_writes_nothing(org, plan, monkeypatch):
    ca = account(org.rep_east, country="US", region="CA")
    run = runs.assignment_run_create(
        plan=plan["plan"], effective_date=TODAY, reassign_open_deals=False, acting_user=org.ops,
        today=TODAY,
    )  # fmt: skip

    def boom():
        raise RuntimeError("disk full")

    monkeypatch.setattr(runs, "_update_accounts", boom)
    with pytest.raises(RuntimeError):
        runs.assignment_run_execute(run_id=run.pk)
    assert not AssignmentMove.objects.exists() and not AccountTerritory.objects.exists()
    ca.refresh_from_db()
    assert (ca.owner, ca.territory_id) == (org.rep_east, None)


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_applies_a_queued_run(org, plan):
    ca = account(org.rep_east, country="US", region="CA")
    with celery_worker():
        run = runs.assignment_run_create(
            plan=plan["plan"], effective_date=timezone.localdate(), reassign_open_deals=False,
            acting_user=org.ops,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while AssignmentRun.objects.get(pk=run.pk).status != RunStatus.DONE:
            assert time.monotonic() < deadline, "the worker did not apply the run"
            time.sleep(0.3)
    ca.refresh_from_db()
    assert ca.owner == org.rep_west
    assert AssignmentRun.objects.get(pk=run.pk).task_id


def test_member_roles_are_checked(org, plan):
    with pytest.raises(DomainError) as error:
        services.member_set(
            territory=plan["west"], user=org.rep_east, role="boss", acting_user=org.ops
        )
    assert error.value.message == "'boss' is not a member role (owner, overlay)."
    assert (
        services.member_set(
            territory=plan["west"], user=org.rep_east, role=MemberRole.OVERLAY, acting_user=org.ops
        ).role
        == MemberRole.OVERLAY
    )


def test_moving_a_region_lands_it_even_behind_a_broader_earlier_rule(org, plan):
    ny = account(org.rep_east, country="US", region="NY")
    rules = plan["rules"]
    services.rules_reorder(  # "all of the US" now comes before West's rule
        plan=plan["plan"],
        rule_ids=[rules[k].pk for k in ("east", "west", "big_east", "emea")],
        acting_user=org.ops,
    )
    services.region_move(
        plan=plan["plan"], country="US", region="NY", to=plan["west"], acting_user=org.ops
    )
    assert landed(plan["plan"], [ny]) == {ny.pk: "west"}


def test_moving_a_region_with_a_named_rule_below_an_unnamed_one(org, plan):
    tx = account(org.rep_east, country="US", region="TX")
    named = account(org.rep_east, country="US", region="TX", name="Named")
    services.rule_save(
        plan=plan["plan"], acting_user=org.ops,
        fields={"territory": plan["emea"], "named_account_ids": [named.pk], "position": 35},
    )  # fmt: skip
    rule = services.region_move(
        plan=plan["plan"], country="US", region="TX", to=plan["strategic"], acting_user=org.ops
    )
    assert plan["plan"].rules.order_by("position").first() == rule  # before every rule now
    assert landed(plan["plan"], [tx, named]) == {tx.pk: "strategic", named.pk: "strategic"}
