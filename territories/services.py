"""Writes to territory plans: scenarios, territories, members and rules.

Every write checks that the caller plans territories (sales ops, admin) and that the plan is a
draft scenario, except the live plan's own edits, which ops make deliberately (they apply only
when the rules are next applied). One transaction each; audited with the acting user.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max

from salesops.audit import audit_context
from salesops.errors import DomainError, NotAllowed
from salesops.org.models import User
from territories.models import (
    AssignmentRule,
    MemberRole,
    PlanStatus,
    Territory,
    TerritoryMember,
    TerritoryPlan,
    TerritoryType,
)

RULE_FIELDS = (
    "territory", "position", "name", "countries", "regions", "postal_prefixes", "industries",
    "segments", "employees_min", "employees_max", "revenue_min", "revenue_max",
    "named_account_ids", "catch_all",
)  # fmt: skip
CONDITION_FIELDS = (
    "countries", "regions", "postal_prefixes", "industries", "segments", "employees_min",
    "employees_max", "revenue_min", "revenue_max", "named_account_ids",
)  # fmt: skip


def require_planner(user: User) -> None:
    if not user.has_perm("territories.change_territory"):
        raise NotAllowed("Only sales ops can edit territory plans.")


def require_editable(plan: TerritoryPlan) -> None:
    if plan.status not in (PlanStatus.DRAFT, PlanStatus.LIVE):
        raise DomainError(
            f"{plan} is {plan.get_status_display().lower()} and can no longer be edited.",
            field="plan",
        )


def live_plan() -> TerritoryPlan | None:
    return TerritoryPlan.objects.filter(status=PlanStatus.LIVE).first()


def plan_create_live(*, name: str, acting_user: User) -> TerritoryPlan:
    """The first live plan of an organisation (later ones come from scenarios)."""
    require_planner(acting_user)
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="territory_plan"):
        if live_plan() is not None:
            raise DomainError("There is already a live plan; draft a scenario from it instead.")
        return TerritoryPlan.objects.create(
            name=name, status=PlanStatus.LIVE, created_by=acting_user
        )


def scenario_create(
    *, name: str, acting_user: User, source: TerritoryPlan | None = None, notes: str = ""
) -> TerritoryPlan:
    """A draft scenario: a full copy of ``source`` (the live plan by default).

    Territories keep their keys; members and rules are copied onto the copies, so nothing the
    scenario does touches the source.
    """
    require_planner(acting_user)
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="scenario_create"):
        source = source or live_plan()
        if source is None:
            raise DomainError("There is no live plan to copy yet.")
        scenario = TerritoryPlan.objects.create(
            name=name.strip() or f"Copy of {source.name}",
            status=PlanStatus.DRAFT,
            based_on=source,
            notes=notes,
            created_by=acting_user,
        )
        copies: dict[int, Territory] = {}
        territories = list(source.territories.order_by("id"))
        by_id = {t.pk: t for t in territories}
        for territory in _parents_first(territories, by_id):
            copies[territory.pk] = Territory.objects.create(
                plan=scenario,
                parent=copies.get(territory.parent_id),
                key=territory.key,
                name=territory.name,
                type=territory.type,
                manager_id=territory.manager_id,
            )
        TerritoryMember.objects.bulk_create(
            TerritoryMember(territory=copies[m.territory_id], user_id=m.user_id, role=m.role)
            for m in TerritoryMember.objects.filter(territory__plan=source)
        )
        AssignmentRule.objects.bulk_create(
            AssignmentRule(
                plan=scenario,
                territory=copies[rule.territory_id],
                **{f: getattr(rule, f) for f in RULE_FIELDS if f != "territory"},
            )
            for rule in source.rules.all()
        )
    return scenario


def _parents_first(territories: list[Territory], by_id: dict[int, Territory]) -> list[Territory]:
    depth: dict[int, int] = {}

    def depth_of(t: Territory) -> int:
        if t.pk not in depth:
            depth[t.pk] = 0 if t.parent_id is None else depth_of(by_id[t.parent_id]) + 1
        return depth[t.pk]

    return sorted(territories, key=lambda t: (depth_of(t), t.pk))


def scenario_archive(*, plan: TerritoryPlan, acting_user: User) -> TerritoryPlan:
    require_planner(acting_user)
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="scenario_archive"):
        if plan.status != PlanStatus.DRAFT:
            raise DomainError("Only a draft scenario can be archived.", field="plan")
        plan.status = PlanStatus.ARCHIVED
        plan.save(update_fields=["status"])
    return plan


def territory_save(
    *,
    plan: TerritoryPlan,
    acting_user: User,
    territory: Territory | None = None,
    key: str,
    name: str,
    parent: Territory | None = None,
    type: str = TerritoryType.GEOGRAPHY,
    manager: User | None = None,
) -> Territory:
    """Create a territory in ``plan``, or change ``territory``."""
    require_planner(acting_user)
    require_editable(plan)
    if parent is not None and parent.plan_id != plan.pk:
        raise DomainError("The parent territory belongs to another plan.", field="parent")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="territory_save"):
        territory = territory or Territory(plan=plan)
        if territory.pk and parent is not None and _is_descendant(parent, territory):
            raise DomainError(
                f"{parent} sits under {territory}; a territory cannot move under itself.",
                field="parent",
            )
        territory.key, territory.name = key.strip(), name.strip()
        territory.parent, territory.type, territory.manager = parent, type, manager
        _validated_save(territory)
    return territory


def _is_descendant(node: Territory, ancestor: Territory) -> bool:
    while node is not None:
        if node.pk == ancestor.pk:
            return True
        node = node.parent
    return False


def territory_delete(*, territory: Territory, acting_user: User) -> None:
    require_planner(acting_user)
    require_editable(territory.plan)
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="territory_delete"):
        if territory.rules.exists() or territory.children.exists():
            raise DomainError(
                f"{territory} still has rules or child territories; move or delete them first.",
                field="territory",
            )
        territory.delete()


def member_set(
    *, territory: Territory, user: User, role: str | None, acting_user: User
) -> TerritoryMember | None:
    """Make ``user`` an owner or overlay of ``territory``; ``role=None`` removes them."""
    require_planner(acting_user)
    require_editable(territory.plan)
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="territory_member"):
        if role is None:
            TerritoryMember.objects.filter(territory=territory, user=user).delete()
            return None
        if role not in MemberRole.values:
            raise DomainError(f"'{role}' is not a member role (owner, overlay).", field="role")
        member, _ = TerritoryMember.objects.update_or_create(
            territory=territory, user=user, defaults={"role": role}
        )
    return member


def rule_save(
    *,
    plan: TerritoryPlan,
    acting_user: User,
    rule: AssignmentRule | None = None,
    fields: dict[str, Any],
) -> AssignmentRule:
    """Create a rule in ``plan`` (at the end, before the catch-all, unless a position is given),
    or change ``rule``. A catch-all sets no conditions."""
    require_planner(acting_user)
    require_editable(plan)
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="rule_save"):
        rule = rule or AssignmentRule(plan=plan)
        for name, value in fields.items():
            if name not in RULE_FIELDS:
                raise DomainError(f"Rules have no field '{name}'.", field=name)
            setattr(rule, name, _cleaned(name, value))
        if rule.territory.plan_id != plan.pk:
            raise DomainError("The territory belongs to another plan.", field="territory")
        if rule.catch_all and any(getattr(rule, f) not in (None, []) for f in CONDITION_FIELDS):
            raise DomainError(
                "A catch-all rule takes every account left, so it sets no conditions.",
                field="catch_all",
            )
        if rule.position is None:
            rule.position = _next_position(plan)
        _validated_save(rule)
    return rule


def _cleaned(name: str, value: Any) -> Any:
    if name in ("countries",):
        return sorted({str(v).strip().upper() for v in value or [] if str(v).strip()})
    if name in ("regions", "postal_prefixes", "industries", "segments"):
        return [str(v).strip() for v in value or [] if str(v).strip()]
    if name == "named_account_ids":
        return sorted({int(v) for v in value or []})
    return value


def _next_position(plan: TerritoryPlan) -> int:
    top = plan.rules.filter(catch_all=False).aggregate(top=Max("position"))["top"]
    return (top or 0) + 10


def rules_reorder(*, plan: TerritoryPlan, rule_ids: Iterable[int], acting_user: User) -> None:
    """Set the rules' order to ``rule_ids`` (positions 10, 20, …; the catch-all stays last)."""
    require_planner(acting_user)
    require_editable(plan)
    ids = [int(pk) for pk in rule_ids]
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="rules_reorder"):
        rules = {r.pk: r for r in plan.rules.select_for_update()}
        if sorted(ids) != sorted(pk for pk, r in rules.items() if not r.catch_all):
            raise DomainError("Give every rule of the plan except the catch-all, once each.")
        for index, pk in enumerate(ids, start=1):
            rules[pk].position = index * 10
        catch_all = next((r for r in rules.values() if r.catch_all), None)
        if catch_all is not None:
            catch_all.position = (len(ids) + 1) * 10
        AssignmentRule.objects.bulk_update(rules.values(), ["position"])


def rule_delete(*, rule: AssignmentRule, acting_user: User) -> None:
    require_planner(acting_user)
    require_editable(rule.plan)
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="rule_delete"):
        if rule.catch_all:
            raise DomainError("The catch-all rule cannot be deleted; point it elsewhere instead.")
        rule.delete()


def region_move(
    *, plan: TerritoryPlan, country: str, region: str, to: Territory, acting_user: User
) -> AssignmentRule:
    """Send a whole state/region to territory ``to``: the region leaves every rule of the plan
    that lists it (a rule left with no region is deleted, as it would otherwise match the whole
    country) and joins a rule of ``to`` for that country (created when ``to`` has none)."""
    require_planner(acting_user)
    require_editable(plan)
    country, region = country.strip().upper(), region.strip()
    if to.plan_id != plan.pk:
        raise DomainError("The territory belongs to another plan.", field="territory")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="region_move"):
        for rule in plan.rules.select_for_update().exclude(regions=[]):
            if rule.countries and country not in rule.countries:
                continue
            kept = [r for r in rule.regions if r.strip().lower() != region.lower()]
            if len(kept) == len(rule.regions):
                continue
            if not kept:
                rule.delete()
            else:
                rule.regions = kept
                rule.save(update_fields=["regions"])
        target = (
            plan.rules.filter(territory=to, countries=[country], catch_all=False)
            .exclude(regions=[])
            .filter(
                postal_prefixes=[],
                industries=[],
                segments=[],
                named_account_ids=[],
                employees_min=None,
                employees_max=None,
                revenue_min=None,
                revenue_max=None,
            )  # fmt: skip
            .first()
        )
        if target is not None and any(
            _could_take(rule, country, region)
            for rule in plan.rules.filter(position__lt=target.position)
        ):
            target = None  # a broader rule tried earlier would keep the region: add one above it
        if target is None:
            return rule_save(
                plan=plan,
                acting_user=acting_user,
                fields={
                    "territory": to,
                    "name": f"{region} ({country}) → {to.name}",
                    "countries": [country],
                    "regions": [region],
                    "position": _first_position(plan),
                },  # fmt: skip
            )
        target.regions = [*target.regions, region]
        target.save(update_fields=["regions"])
        return target


def _first_position(plan: TerritoryPlan) -> int:
    """A position before every rule that names no accounts (named-account rules before it
    stay first)."""
    lowest = (
        plan.rules.filter(named_account_ids=[])
        .order_by("position")
        .values_list("position", flat=True)
        .first()
    )
    if lowest is None:
        return (plan.rules.aggregate(top=Max("position"))["top"] or 0) + 10
    start = (
        plan.rules.exclude(named_account_ids=[])
        .filter(position__lt=lowest)
        .aggregate(top=Max("position"))["top"]
        or 0
    )
    if lowest - start > 1:
        return start + (lowest - start) // 2
    # No room: renumber every rule by tens (gaps of ten), then take the gap.
    rules = list(plan.rules.order_by("catch_all", "position", "id"))
    for index, rule in enumerate(rules, start=1):
        rule.position = index * 10
    AssignmentRule.objects.bulk_update(rules, ["position"], batch_size=1000)
    return _first_position(plan)


def _could_take(rule: AssignmentRule, country: str, region: str) -> bool:
    """Whether ``rule`` (naming no accounts) may match accounts of ``region`` in ``country``."""
    if rule.catch_all or rule.named_account_ids:
        return False
    countries_ok = not rule.countries or country in rule.countries
    regions_ok = not rule.regions or region.lower() in {r.strip().lower() for r in rule.regions}
    return countries_ok and regions_ok


def _validated_save(obj) -> None:
    try:
        obj.full_clean()
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        label = "" if field == "__all__" else f"{field}: "
        raise DomainError(f"{label}{' '.join(messages)}", field=field) from None
    try:
        obj.save()
    except IntegrityError as error:  # a race past full_clean
        raise DomainError(f"Could not save: {error}") from None
