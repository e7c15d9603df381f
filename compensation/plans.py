"""Writes of comp plans and plan assignments. Reads live in ``compensation.plan_selectors``.

A plan is a chain of versions sharing one ``key``: at most one draft (being edited), at most one
published (in force), the rest retired. Only a draft changes; publishing freezes it and retires
the version it replaces. An assignment puts one person on one plan version for a span of days;
a person is on at most one plan on any day, and must accept each version they are put on.

Who: sales ops (and admins) write plans and assignments; the assigned person alone accepts.
Each service is one transaction, audited with the acting user and the action as the reason
(pghistory records every row changed); refusals are DomainErrors worded for the person.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Literal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from compensation import documents
from compensation.documents import PlanDocument
from compensation.models import CompPlan, PayoutLine, PlanAssignment, PlanStatus
from salesops.audit import audit_context
from salesops.errors import DomainError, NotAllowed
from salesops.fiscal import PeriodKind
from salesops.money import round_money
from salesops.org.models import RepProfile, Team, User
from salesops.org.selectors import fiscal_calendar

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
FORMATS = ("json", "yaml")


# --- Checks --------------------------------------------------------------------------------------


def _require(user: User, perm: str, what: str) -> None:
    """Refuse unless ``user`` holds ``perm`` (sales ops and admins hold the comp write perms).

    Assignment writes check ``add_planassignment``: sellers hold ``change_planassignment``
    too, but only to accept their own plan (``plan_accept``).
    """
    if not user.has_perm(perm):
        raise NotAllowed(f"Only sales ops can {what}.")


def _day(day: dt.date) -> str:
    return day.isoformat()


def _span(start: dt.date, end: dt.date | None) -> str:
    return f"from {_day(start)} to {_day(end)}" if end else f"from {_day(start)}, open-ended"


def fiscal_year_dates(fiscal_year: int) -> tuple[dt.date, dt.date]:
    """First and last day of the fiscal year (the org's fiscal calendar)."""
    year = fiscal_calendar().periods(fiscal_year, PeriodKind.YEAR)[0]
    return year.start, year.end


def _versions_locked(key: str) -> list[CompPlan]:
    """Every version of the plan ``key``, newest first, under row locks: writes to one plan
    (a new draft, a publish) take turns."""
    return list(CompPlan.objects.select_for_update().filter(key=key).order_by("-version"))


def _plan_locked(plan: CompPlan) -> CompPlan:
    return CompPlan.objects.select_for_update().get(pk=plan.pk)


def _require_draft(plan: CompPlan, what: str) -> None:
    if plan.status != PlanStatus.DRAFT:
        raise DomainError(
            f"{plan} is {plan.get_status_display().lower()}, so it cannot {what}; start a new "
            "version to change the plan.",
            field="plan",
        )


def _check_key(key: str) -> str:
    key = (key or "").strip()
    if not KEY_PATTERN.match(key):
        raise DomainError(
            f"'{key}' cannot be a plan key: use lowercase letters, digits, '-' and '_' (e.g. "
            "ae-2027), starting with a letter or digit, at most 60 characters.",
            field="key",
        )
    return key


def _header(document: PlanDocument) -> dict:
    """The plan's columns copied from its document (the document is the source of truth)."""
    return {
        "name": document.name,
        "fiscal_year": document.fiscal_year,
        "currency": document.currency,
        "document": documents.to_data(document),
    }


# --- Plans ---------------------------------------------------------------------------------------


def _new_draft(*, key: str, version: int, document: PlanDocument, acting_user: User) -> CompPlan:
    try:
        with transaction.atomic():  # a savepoint: a lost race leaves the outer block usable
            return CompPlan.objects.create(
                key=key,
                version=version,
                status=PlanStatus.DRAFT,
                created_by=acting_user,
                updated_by=acting_user,
                **_header(document),
            )
    except IntegrityError:
        raise DomainError(
            f"Someone else just saved a version of '{key}'; reload the plan and try again.",
            field="key",
        ) from None


def plan_create(*, document: PlanDocument, key: str, acting_user: User) -> CompPlan:
    """A new plan: version 1, a draft. ``key`` names the plan across its versions, so it must
    be new (to change an existing plan, start a new version or import into its key)."""
    _require(acting_user, "compensation.add_compplan", "create comp plans")
    key = _check_key(key)
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="plan_create"):
        existing = CompPlan.objects.filter(key=key).order_by("-version").first()
        if existing is not None:
            raise DomainError(
                f"The key '{key}' is taken by {existing}; choose another key, or start a new "
                "version of that plan.",
                field="key",
            )
        return _new_draft(key=key, version=1, document=document, acting_user=acting_user)


def plan_update(*, plan: CompPlan, document: PlanDocument, acting_user: User) -> CompPlan:
    """Replace a draft's document (and the name, fiscal year and currency it carries)."""
    _require(acting_user, "compensation.change_compplan", "edit comp plans")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="plan_update"):
        plan = _plan_locked(plan)
        _require_draft(plan, "be edited")
        for name, value in _header(document).items():
            setattr(plan, name, value)
        plan.updated_by = acting_user
        plan.save()
    return plan


def plan_new_version(*, plan: CompPlan, acting_user: User) -> CompPlan:
    """A draft copy of the plan's latest version, numbered one higher, to edit and publish."""
    _require(acting_user, "compensation.add_compplan", "start plan versions")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="plan_new_version"):
        versions = _versions_locked(plan.key)
        _refuse_second_draft(versions, "edit it instead of starting another")
        latest = versions[0]
        return _new_draft(
            key=latest.key,
            version=latest.version + 1,
            document=documents.validate(latest.document),
            acting_user=acting_user,
        )


def _refuse_second_draft(versions: list[CompPlan], advice: str) -> None:
    draft = next((v for v in versions if v.status == PlanStatus.DRAFT), None)
    if draft is not None:
        raise DomainError(f"{draft} is already a draft of this plan: {advice}.", field="plan")


def plan_publish(
    *, plan: CompPlan, acting_user: User, move_assignments_from: dt.date | None = None
) -> CompPlan:
    """Publish a draft: it is in force from now on and read-only; the published version it
    replaces is retired.

    With ``move_assignments_from``, everyone still on an earlier version on that day moves to
    this one: their assignment ends the day before and a new one (same person, end date and
    target incentive) starts that day, not accepted yet, since they must accept the new
    version. An assignment starting on or after that day moves whole (the old one is deleted).
    Without it, assignments stay on the versions they are on until ops end them.
    """
    _require(acting_user, "compensation.change_compplan", "publish comp plans")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="plan_publish"):
        versions = _versions_locked(plan.key)
        plan = next(v for v in versions if v.pk == plan.pk)
        _require_draft(plan, "be published again")
        documents.validate(plan.document)  # stored valid; a schema change must not slip through
        if move_assignments_from is not None:
            first, last = fiscal_year_dates(plan.fiscal_year)
            if not first <= move_assignments_from <= last:
                raise DomainError(
                    f"Move assignments from a day in FY{plan.fiscal_year} ({_day(first)} to "
                    f"{_day(last)}), the year {plan} covers; {_day(move_assignments_from)} is "
                    "not in it.",
                    field="move_assignments_from",
                )
        for earlier in versions:
            if earlier.status == PlanStatus.PUBLISHED:
                earlier.status = PlanStatus.RETIRED
                earlier.updated_by = acting_user
                earlier.save(update_fields=["status", "updated_by", "updated_at"])
        plan.status = PlanStatus.PUBLISHED
        plan.published_at = timezone.now()
        plan.published_by = acting_user
        plan.updated_by = acting_user
        plan.save(update_fields=["status", "published_at", "published_by", "updated_by"])
        if move_assignments_from is not None:
            earlier_ids = [v.pk for v in versions if v.version < plan.version]
            _move_assignments(earlier_ids, plan, move_assignments_from, acting_user)
    return plan


def _move_assignments(plan_ids: list[int], plan: CompPlan, day: dt.date, acting_user: User) -> None:
    """Everyone on the versions ``plan_ids`` on or after ``day`` moves to ``plan`` from then."""
    moving = list(
        PlanAssignment.objects.select_for_update()
        .filter(plan_id__in=plan_ids)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=day))
        .select_related("user")
        .order_by("user_id", "start_date")
    )
    paid = set(
        PayoutLine.objects.filter(assignment__in=[a for a in moving if a.start_date >= day])
        .values_list("assignment_id", flat=True)
        .distinct()
    )
    for old in moving:
        end = old.end_date
        if old.start_date >= day:
            if old.pk in paid:
                raise DomainError(
                    f"{old.user}'s assignment {_span(old.start_date, end)} already has payout "
                    "lines, so it cannot move to the new version; end it first.",
                    field="move_assignments_from",
                )
            start = old.start_date
            old.delete()
        else:
            start = day
            old.end_date = day - dt.timedelta(days=1)
            old.save(update_fields=["end_date"])
        PlanAssignment.objects.create(
            plan=plan,
            user_id=old.user_id,
            start_date=start,
            end_date=end,
            target_incentive=old.target_incentive,
            created_by=acting_user,
        )


def plan_import(
    *, text: str, fmt: Literal["json", "yaml"], key: str, acting_user: User
) -> CompPlan:
    """A plan document read from JSON or YAML: a new plan under a new ``key``, or the next
    draft version of the plan with that key (refused while that plan has a draft)."""
    _require(acting_user, "compensation.add_compplan", "import comp plans")
    if fmt not in FORMATS:
        raise DomainError(f"Import JSON or YAML, not '{fmt}'.", field="format")
    document = documents.parse(text, fmt)
    key = _check_key(key)
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="plan_import"):
        versions = _versions_locked(key)
        if not versions:
            return _new_draft(key=key, version=1, document=document, acting_user=acting_user)
        _refuse_second_draft(versions, "edit that draft, or publish it before importing another")
        return _new_draft(
            key=key, version=versions[0].version + 1, document=document, acting_user=acting_user
        )


# --- Assignments ---------------------------------------------------------------------------------


def _money(value, currency: str) -> Decimal:
    """A target incentive: a number, not negative, in whole minor units of ``currency``."""
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or not amount.is_finite():
        raise DomainError(
            f"The target incentive must be a number; got '{value}'.", field="target_incentive"
        )
    if amount < 0:
        raise DomainError(
            f"The target incentive cannot be negative; got {amount}.", field="target_incentive"
        )
    if round_money(amount, currency) != amount:
        raise DomainError(
            f"The target incentive is in whole {currency} cents; {amount} has more decimals.",
            field="target_incentive",
        )
    return round_money(amount, currency)


def _overlapping(
    user: User, start: dt.date, end: dt.date | None, exclude: int | None = None
) -> PlanAssignment | None:
    """The first assignment of ``user`` (on any plan) sharing a day with ``start``–``end``."""
    rows = PlanAssignment.objects.filter(user=user).filter(
        Q(end_date__isnull=True) | Q(end_date__gte=start)
    )
    if end is not None:
        rows = rows.filter(start_date__lte=end)
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    return rows.select_related("plan").order_by("start_date").first()


def _refuse_overlap(user: User, start: dt.date, end: dt.date | None, exclude=None) -> None:
    other = _overlapping(user, start, end, exclude)
    if other is not None:
        raise DomainError(
            f"{user} is already on {other.plan} {_span(other.start_date, other.end_date)}; end "
            f"that assignment first, or start this one after it.",
            field="start_date",
        )


def _manages_team(user: User) -> bool:
    return Team.objects.filter(manager=user).exists()


def _check_assignee(plan: CompPlan, user: User) -> None:
    """Sellers (an active rep profile) go on any plan; managers of a team without a rep
    profile only on a plan with a target for the manager role."""
    if not user.is_active:
        raise DomainError(f"{user} is deactivated; only active people go on a plan.", field="user")
    profile = RepProfile.objects.filter(user=user).first()
    if profile is not None and profile.active:
        return
    if _manages_team(user):
        roles = {role.get("role") for role in plan.document.get("roles", [])}
        if "manager" in roles:
            return
        raise DomainError(
            f"{user} manages a team but does not sell, and {plan} has no target for the manager "
            "role: pick a manager plan, or add the manager role to this plan.",
            field="user",
        )
    if profile is not None:
        raise DomainError(
            f"{user}'s rep profile is inactive; reactivate it before putting them on a plan.",
            field="user",
        )
    raise DomainError(
        f"{user} has no rep profile and manages no team: only sellers and sales managers go on "
        "a comp plan.",
        field="user",
    )


def _check_dates(plan: CompPlan, start: dt.date, end: dt.date | None) -> None:
    if end is not None and end < start:
        raise DomainError(
            f"An assignment cannot end ({_day(end)}) before it starts ({_day(start)}).",
            field="end_date",
        )
    first, last = fiscal_year_dates(plan.fiscal_year)
    if start > last or (end is not None and end < first):
        raise DomainError(
            f"{plan} covers FY{plan.fiscal_year} ({_day(first)} to {_day(last)}); an assignment "
            f"{_span(start, end)} does not reach into it.",
            field="start_date",
        )


def _assign(
    *,
    plan: CompPlan,
    user: User,
    start_date: dt.date,
    end_date: dt.date | None,
    target_incentive,
    acting_user: User,
) -> PlanAssignment:
    """One assignment, inside the caller's transaction (the plan already locked)."""
    user = User.objects.select_for_update().get(pk=user.pk)  # one writer per person, fresh
    _check_assignee(plan, user)
    _check_dates(plan, start_date, end_date)
    _refuse_overlap(user, start_date, end_date)
    return PlanAssignment.objects.create(
        plan=plan,
        user=user,
        start_date=start_date,
        end_date=end_date,
        target_incentive=(
            None if target_incentive is None else _money(target_incentive, plan.currency)
        ),
        created_by=acting_user,
    )


def _require_published(plan: CompPlan) -> None:
    if plan.status == PlanStatus.PUBLISHED:
        return
    if plan.status == PlanStatus.DRAFT:
        raise DomainError(
            f"{plan} is a draft: publish it before putting people on it.", field="plan"
        )
    current = CompPlan.objects.filter(key=plan.key, status=PlanStatus.PUBLISHED).first()
    advice = f"use the published version, {current}" if current else "publish a new version"
    raise DomainError(f"{plan} is retired: {advice}.", field="plan")


def assignment_create(
    *,
    plan: CompPlan,
    user: User,
    start_date: dt.date,
    end_date: dt.date | None = None,
    target_incentive: Decimal | None = None,
    acting_user: User,
) -> PlanAssignment:
    """Put ``user`` on a published plan from ``start_date`` (to ``end_date``, or open-ended).

    The span must reach into the plan's fiscal year and must not share a day with another
    assignment of the same person. ``target_incentive`` overrides the plan's target for the
    person's role (``plan_selectors.role_target_for``).
    """
    _require(acting_user, "compensation.add_planassignment", "put people on comp plans")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="assignment_create"):
        plan = _plan_locked(plan)
        _require_published(plan)
        return _assign(
            plan=plan, user=user, start_date=start_date, end_date=end_date,
            target_incentive=target_incentive, acting_user=acting_user,
        )  # fmt: skip


def assignments_create_bulk(
    *,
    plan: CompPlan,
    users: Iterable[User],
    start_date: dt.date,
    end_date: dt.date | None = None,
    acting_user: User,
) -> list[PlanAssignment]:
    """Put several people on a plan from the same day, all or nothing: the first person who
    cannot go on it is named and no one is assigned."""
    _require(acting_user, "compensation.add_planassignment", "put people on comp plans")
    users = list(users)
    if not users:
        raise DomainError("Choose at least one person to put on the plan.", field="users")
    with (
        transaction.atomic(),
        audit_context(acting_user=acting_user, reason="assignments_create_bulk"),
    ):
        plan = _plan_locked(plan)
        _require_published(plan)
        created = []
        for user in users:
            try:
                created.append(
                    _assign(
                        plan=plan,
                        user=user,
                        start_date=start_date,
                        end_date=end_date,
                        target_incentive=None,
                        acting_user=acting_user,
                    )  # fmt: skip
                )
            except DomainError as error:
                raise DomainError(
                    f"No one was put on {plan}: {error.message}", field=error.field
                ) from None
        return created


def assignment_end(
    *,
    assignment: PlanAssignment,
    end_date: dt.date,
    acting_user: User,
    reason: str = "",
) -> PlanAssignment:
    """End an assignment on ``end_date`` (its last day): a transfer, a leave, a termination.
    ``reason`` (optional) is kept in the audit trail. Moving the end later must not reach
    into the person's next assignment."""
    _require(acting_user, "compensation.add_planassignment", "end plan assignments")
    reason = (reason or "").strip()
    with (
        transaction.atomic(),
        audit_context(
            acting_user=acting_user, reason="assignment_end", **({"note": reason} if reason else {})
        ),
    ):
        assignment = (
            PlanAssignment.objects.select_for_update(of=("self",))
            .select_related("plan", "user")
            .get(pk=assignment.pk)
        )
        if end_date < assignment.start_date:
            raise DomainError(
                f"{assignment.user}'s assignment starts on {_day(assignment.start_date)}; it "
                f"cannot end before that ({_day(end_date)}). Delete it if it should never have "
                "started.",
                field="end_date",
            )
        _refuse_overlap(assignment.user, assignment.start_date, end_date, exclude=assignment.pk)
        assignment.end_date = end_date
        assignment.save(update_fields=["end_date"])
    return assignment


def assignment_delete(*, assignment: PlanAssignment, acting_user: User) -> None:
    """Delete an assignment made by mistake; one that payout lines were computed on stays
    (end it instead), since those lines must keep pointing at it."""
    _require(acting_user, "compensation.delete_planassignment", "delete plan assignments")
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="assignment_delete"):
        assignment = (
            PlanAssignment.objects.select_for_update(of=("self",))
            .select_related("plan", "user")
            .get(pk=assignment.pk)
        )
        runs = sorted(
            set(
                PayoutLine.objects.filter(assignment=assignment).values_list(
                    "run__label", flat=True
                )
            )
        )
        if runs:
            raise DomainError(
                f"{assignment.user}'s assignment to {assignment.plan} has payout lines in "
                f"{', '.join(runs)}; end it instead of deleting it.",
                field="assignment",
            )
        assignment.delete()


def plan_accept(*, assignment: PlanAssignment, acting_user: User) -> PlanAssignment:
    """The assigned person accepts the plan version they are on (idempotent: accepting again
    keeps the first time)."""
    with transaction.atomic(), audit_context(acting_user=acting_user, reason="plan_accept"):
        assignment = (
            PlanAssignment.objects.select_for_update(of=("self",))
            .select_related("plan", "user")
            .get(pk=assignment.pk)
        )
        if assignment.user_id != acting_user.pk:
            raise NotAllowed(f"Only {assignment.user} can accept their own plan.")
        if assignment.plan.status != PlanStatus.PUBLISHED:
            raise DomainError(
                f"{assignment.plan} is {assignment.plan.get_status_display().lower()}; only a "
                "published plan can be accepted.",
                field="assignment",
            )
        if assignment.accepted_at is None:
            assignment.accepted_at = timezone.now()
            assignment.save(update_fields=["accepted_at"])
    return assignment
