"""Comp plan pages: the plans, a plan in words with its versions and assignments, the builder
(header, roles, components and tiers), import and export, publishing and new versions, the
assignments of a plan, and a seller's "My plan" with its Accept button.

Thin: every write is a ``compensation.plans`` service (its refusals shown as worded), every
read a ``compensation.plan_selectors`` selector scoped by the caller; a plan outside the
caller's scope answers 404. The builder turns its forms into a plan document and lets
``compensation.documents.validate`` judge it, showing each problem next to its field. With
htmx, the assignment table and the acceptance block answer with their fragment.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.forms import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from compensation import documents, plans
from compensation import plan_selectors as selectors
from compensation.models import CompPlan, PlanAssignment, PlanStatus
from compensation.plan_forms import (
    AssignmentAddForm,
    AssignmentEndForm,
    ComponentForm,
    PlanHeaderForm,
    PlanImportForm,
    PublishForm,
    RoleFormSet,
    TierFormSet,
    add_document_errors,
    role_initial,
    roles_data,
    tier_initial,
    tiers_data,
)
from salesops.errors import DomainError, NotAllowed, NotFound
from salesops.org.models import User
from salesops.org.roles import ORG_WIDE_ROLES

CONTENT_TYPES = {"json": "application/json", "yaml": "application/yaml"}


# --- Shared lookups ------------------------------------------------------------------------------


def _plan(request, pk: int) -> CompPlan:
    """The plan version if the caller may read it, else 404 (403 without the right to read
    plans at all)."""
    if not request.user.has_perm("compensation.view_compplan"):
        raise PermissionDenied
    try:
        return selectors.plan_for(request.user, pk)
    except NotFound as error:
        raise Http404(error.message) from error


def _require_planner(request) -> None:
    if not request.user.has_perm("compensation.change_compplan"):
        raise PermissionDenied


def _draft(request, pk: int) -> CompPlan | HttpResponse:
    """A draft the caller may edit; for a published or retired version, the answer that sends
    them back to it with the reason."""
    _require_planner(request)
    plan = _plan(request, pk)
    if plan.status != PlanStatus.DRAFT:
        messages.error(
            request, f"{plan} is {plan.get_status_display().lower()}: start a new version to edit."
        )
        return redirect("compensation:plan_detail", pk=plan.pk)
    return plan


def _assignment(request, pk: int) -> PlanAssignment:
    assignment = (
        selectors.assignments_visible_to(request.user).filter(pk=pk).select_related("plan").first()
    )
    if assignment is None:
        raise Http404("No such plan assignment in your scope.")
    return assignment


def _service_error(request, error: DomainError) -> None:
    if isinstance(error, NotAllowed):
        raise PermissionDenied(error.message) from error
    messages.error(request, error.message)


# --- List and detail -----------------------------------------------------------------------------


@login_required
def plan_list(request: HttpRequest) -> HttpResponse:
    """Plan versions with status, year, people on each and how many have not accepted; sales
    ops also see who has not accepted. Sellers see the versions they are on."""
    user = request.user
    if not user.has_perm("compensation.view_compplan"):
        raise PermissionDenied
    org_wide = user.role in ORG_WIDE_ROLES
    context = {
        "plans": list(selectors.plan_list(user).select_related("published_by")),
        "org_wide": org_wide,
        "can_create": user.has_perm("compensation.add_compplan"),
        "unaccepted": list(selectors.unaccepted_assignments(user=user)) if org_wide else [],
        "current": None if org_wide else selectors.current_assignment(user),
    }
    return render(request, "compensation/plans/list.html", context)


@login_required
def plan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A plan version in words: components, roles with target incentive and OTE, the draw; its
    versions, its assignments (accepted or not) and the actions its status allows."""
    plan = _plan(request, pk)
    user = request.user
    versions = list(selectors.plan_versions(plan, user))
    can_edit = user.has_perm("compensation.change_compplan")
    context = {
        "plan": plan,
        **selectors.plan_in_words(plan),
        "versions": versions,
        "rows": selectors.assignment_rows(list(selectors.plan_assignments(plan, user))),
        "can_edit": can_edit and plan.status == PlanStatus.DRAFT,
        "can_publish": can_edit and plan.status == PlanStatus.DRAFT,
        "can_new_version": user.has_perm("compensation.add_compplan")
        and not any(v.status == PlanStatus.DRAFT for v in versions),
        "draft": next((v for v in versions if v.status == PlanStatus.DRAFT), None),
        "can_assign": user.has_perm("compensation.add_planassignment")
        and plan.status == PlanStatus.PUBLISHED,
        "publish_form": PublishForm(),
        "has_earlier": any(v.version < plan.version for v in versions),
    }
    return render(request, "compensation/plans/detail.html", context)


@login_required
def plan_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """The plan document as a YAML or JSON file (the file the import reads back)."""
    plan = _plan(request, pk)
    text = documents.render(selectors.plan_document(plan), fmt)
    response = HttpResponse(text, content_type=f"{CONTENT_TYPES[fmt]}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{plan.key}-v{plan.version}.{fmt}"'
    return response


# --- Builder -------------------------------------------------------------------------------------


def _builder_forms(request, *, plan: CompPlan | None):
    """The header and role forms, bound on POST, else filled from the draft (or empty)."""
    data = request.POST if request.method == "POST" else None
    document = plan.document if plan is not None else {}
    header = PlanHeaderForm(
        data,
        prefix="plan",
        with_key=plan is None,
        initial=PlanHeaderForm.initial_from(document) if plan else {},
    )
    roles = RoleFormSet(data, prefix="roles", initial=role_initial(document) if plan else None)
    return header, roles


def _component_forms(request, component: dict | None):
    data = request.POST if request.method == "POST" else None
    form = ComponentForm(
        data,
        prefix="component",
        initial=ComponentForm.initial_from(component) if component else None,
    )
    tiers = TierFormSet(
        data, prefix="tiers", initial=tier_initial(component) if component else None
    )
    return form, tiers


def _role_prefixes(roles) -> dict:
    """Document paths of the filled role forms (``roles.0`` is the first role filled in)."""
    filled = [form for form in roles.forms if form.cleaned_data.get("role")]
    return {f"roles.{index}": form for index, form in enumerate(filled)}


def _tier_prefixes(tiers, component_index: int) -> dict:
    filled = [form for form in tiers.forms if form.cleaned_data.get("floor") is not None]
    return {
        f"components.{component_index}.tiers.{index}": form for index, form in enumerate(filled)
    }


def _validated(data: dict, error_forms: dict, fallback) -> documents.PlanDocument | None:
    """``data`` as a plan document, or None with each problem shown on its form."""
    try:
        return documents.validate(data)
    except DomainError as error:
        if not add_document_errors(error.message, forms_by_prefix=error_forms):
            fallback.add_error(None, error.message)
        return None


@login_required
def plan_create(request: HttpRequest) -> HttpResponse:
    """Sales ops: a new plan (a draft, version 1) from its header, roles and first component."""
    if not request.user.has_perm("compensation.add_compplan"):
        raise PermissionDenied
    header, roles = _builder_forms(request, plan=None)
    component, tiers = _component_forms(request, None)
    if request.method == "POST" and all(
        [header.is_valid(), roles.is_valid(), component.is_valid(), tiers.is_valid()]
    ):
        data = {
            **header.header_data(),
            "roles": roles_data(roles),
            "components": [component.component_data(tiers_data(tiers))],
        }
        error_forms = {
            "": header,
            **_role_prefixes(roles),
            "components": component,
            "components.0": component,
            **_tier_prefixes(tiers, 0),
        }
        document = _validated(data, error_forms, header)
        if document is not None:
            try:
                plan = plans.plan_create(
                    document=document, key=header.cleaned_data["key"], acting_user=request.user
                )
            except DomainError as error:
                header.add_error("key" if error.field == "key" else None, error.message)
            else:
                messages.success(request, f"{plan} created as a draft: add components, publish.")
                return redirect("compensation:plan_detail", pk=plan.pk)
    context = {"header": header, "roles": roles, "component": component, "tiers": tiers}
    return render(request, "compensation/plans/builder.html", context)


@login_required
def plan_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """A draft's header, roles and draw (its components keep as they are)."""
    plan = _draft(request, pk)
    if isinstance(plan, HttpResponse):
        return plan
    header, roles = _builder_forms(request, plan=plan)
    if request.method == "POST" and header.is_valid() and roles.is_valid():
        data = {
            **header.header_data(),
            "roles": roles_data(roles),
            "components": plan.document["components"],
        }
        document = _validated(data, {"": header, **_role_prefixes(roles)}, header)
        if document is not None and _update(request, plan, document, header):
            messages.success(request, f"{plan} saved.")
            return redirect("compensation:plan_detail", pk=plan.pk)
    context = {"plan": plan, "header": header, "roles": roles}
    return render(request, "compensation/plans/builder.html", context)


def _update(request, plan: CompPlan, document, form) -> bool:
    try:
        plans.plan_update(plan=plan, document=document, acting_user=request.user)
    except NotAllowed as error:
        raise PermissionDenied(error.message) from error
    except DomainError as error:
        form.add_error(None, error.message)
        return False
    return True


@login_required
def component_edit(request: HttpRequest, pk: int, key: str | None = None) -> HttpResponse:
    """Add a component to a draft, or change one (``key``): its measure, deals, quota, and a
    flat rate or tiers, or a bonus."""
    plan = _draft(request, pk)
    if isinstance(plan, HttpResponse):
        return plan
    components = list(plan.document["components"])
    keys = [c["key"] for c in components]
    if key is not None and key not in keys:
        raise Http404("No such component in this plan.")
    index = keys.index(key) if key is not None else len(components)
    form, tiers = _component_forms(request, components[index] if key is not None else None)
    if request.method == "POST" and form.is_valid() and tiers.is_valid():
        changed = form.component_data(tiers_data(tiers))
        if key is None:
            components.append(changed)
        else:
            components[index] = changed
        error_forms = {
            "": form,
            "components": form,
            f"components.{index}": form,
            **_tier_prefixes(tiers, index),
        }
        document = _validated({**plan.document, "components": components}, error_forms, form)
        if document is not None and _update(request, plan, document, form):
            messages.success(request, f"Component {changed['name']} saved in {plan}.")
            return redirect("compensation:plan_detail", pk=plan.pk)
    context = {"plan": plan, "form": form, "tiers": tiers, "key": key}
    return render(request, "compensation/plans/component_form.html", context)


@login_required
@require_POST
def component_delete(request: HttpRequest, pk: int, key: str) -> HttpResponse:
    """Remove a component from a draft (a plan keeps at least one)."""
    plan = _draft(request, pk)
    if isinstance(plan, HttpResponse):
        return plan
    components = [c for c in plan.document["components"] if c["key"] != key]
    if len(components) == len(plan.document["components"]):
        raise Http404("No such component in this plan.")
    if not components:
        messages.error(request, "A plan needs at least one component: add another first.")
        return redirect("compensation:plan_detail", pk=plan.pk)
    try:
        document = documents.validate({**plan.document, "components": components})
        plans.plan_update(plan=plan, document=document, acting_user=request.user)
    except DomainError as error:
        _service_error(request, error)
    else:
        messages.success(request, f"Component {key} removed from {plan}.")
    return redirect("compensation:plan_detail", pk=plan.pk)


@login_required
def plan_import(request: HttpRequest) -> HttpResponse:
    """Sales ops: a plan document uploaded or pasted (YAML or JSON): a new plan, or the next
    draft version of the plan with that key."""
    if not request.user.has_perm("compensation.add_compplan"):
        raise PermissionDenied
    form = PlanImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            text, fmt = form.document_text()
            plan = plans.plan_import(
                text=text, fmt=fmt, key=form.cleaned_data["key"], acting_user=request.user
            )
        except DomainError as error:
            form.add_error("key" if error.field == "key" else None, error.message)
        except ValidationError as error:  # an upload that is not text
            form.add_error("file", error)
        else:
            messages.success(request, f"{plan} imported as a draft.")
            return redirect("compensation:plan_detail", pk=plan.pk)
    return render(request, "compensation/plans/import.html", {"form": form})


@login_required
@require_POST
def plan_publish(request: HttpRequest, pk: int) -> HttpResponse:
    """Publish a draft (retiring the version it replaces), optionally moving everyone on an
    earlier version to it from a day."""
    plan = _plan(request, pk)
    _require_planner(request)
    form = PublishForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the day to move assignments from as a date, or leave it.")
        return redirect("compensation:plan_detail", pk=plan.pk)
    move_from = form.cleaned_data["move_assignments_from"]
    try:
        plan = plans.plan_publish(
            plan=plan, acting_user=request.user, move_assignments_from=move_from
        )
    except DomainError as error:
        _service_error(request, error)
    else:
        moved = f"; everyone on earlier versions moves to it from {move_from}" if move_from else ""
        messages.success(request, f"{plan} published{moved}.")
    return redirect("compensation:plan_detail", pk=plan.pk)


@login_required
@require_POST
def plan_new_version(request: HttpRequest, pk: int) -> HttpResponse:
    """Start the next version of a plan as a draft copy of its latest version."""
    plan = _plan(request, pk)
    if not request.user.has_perm("compensation.add_compplan"):
        raise PermissionDenied
    try:
        draft = plans.plan_new_version(plan=plan, acting_user=request.user)
    except DomainError as error:
        _service_error(request, error)
        return redirect("compensation:plan_detail", pk=plan.pk)
    messages.success(request, f"{draft} started as a draft: edit it, then publish.")
    return redirect("compensation:plan_detail", pk=draft.pk)


# --- Assignments ---------------------------------------------------------------------------------


def _people(user):
    """Who can go on a plan: active sellers and team managers in the caller's scope."""
    return (
        User.objects.visible_to(user)
        .filter(is_active=True)
        .filter(Q(rep_profile__active=True) | Q(managed_teams__isnull=False))
        .distinct()
        .order_by("last_name", "first_name", "username")
    )


def _assignments_context(request, plan: CompPlan, **extra) -> dict:
    user = request.user
    return {
        "plan": plan,
        "rows": selectors.assignment_rows(list(selectors.plan_assignments(plan, user))),
        "can_assign": user.has_perm("compensation.add_planassignment"),
        "can_delete": user.has_perm("compensation.delete_planassignment"),
        "end_form": AssignmentEndForm(),
        **extra,
    }


@login_required
def plan_assignments(request: HttpRequest, pk: int) -> HttpResponse:
    """Who is on a plan version: add one person (with an optional target override) or many
    from the same day, end or delete an assignment."""
    plan = _plan(request, pk)
    user = request.user
    can_assign = user.has_perm("compensation.add_planassignment")
    form = AssignmentAddForm(request.POST or None, people=_people(user))
    if request.method == "POST":
        if not can_assign:
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            people = list(data["users"])
            try:
                if len(people) == 1:
                    plans.assignment_create(
                        plan=plan, user=people[0], start_date=data["start_date"],
                        end_date=data["end_date"], target_incentive=data["target_incentive"],
                        acting_user=user,
                    )  # fmt: skip
                else:
                    plans.assignments_create_bulk(
                        plan=plan, users=people, start_date=data["start_date"],
                        end_date=data["end_date"], acting_user=user,
                    )  # fmt: skip
            except NotAllowed as error:
                raise PermissionDenied(error.message) from error
            except DomainError as error:
                fields = {"start_date", "end_date", "target_incentive", "users"}
                form.add_error(error.field if error.field in fields else None, error.message)
            else:
                names = ", ".join(str(person) for person in people)
                messages.success(request, f"{names} put on {plan} from {data['start_date']}.")
                return redirect("compensation:plan_assignments", pk=plan.pk)
    context = _assignments_context(request, plan, form=form)
    return render(request, "compensation/plans/assignments.html", context)


def _after_assignment_change(request, plan: CompPlan, notice: str | None, error: str | None):
    if request.htmx:
        context = _assignments_context(request, plan, notice=notice, error=error)
        return render(request, "compensation/plans/partials/assignments_table.html", context)
    if error:
        messages.error(request, error)
    elif notice:
        messages.success(request, notice)
    return redirect("compensation:plan_assignments", pk=plan.pk)


@login_required
@require_POST
def assignment_end(request: HttpRequest, pk: int) -> HttpResponse:
    """End an assignment on a day (its last): a transfer, a leave, a termination."""
    assignment = _assignment(request, pk)
    if not request.user.has_perm("compensation.add_planassignment"):
        raise PermissionDenied
    form = AssignmentEndForm(request.POST)
    notice = error = None
    if not form.is_valid():
        error = "Give the assignment's last day as a date."
    else:
        try:
            plans.assignment_end(
                assignment=assignment, end_date=form.cleaned_data["end_date"],
                reason=form.cleaned_data["reason"], acting_user=request.user,
            )  # fmt: skip
        except NotAllowed as failure:
            raise PermissionDenied(failure.message) from failure
        except DomainError as failure:
            error = failure.message
        else:
            notice = f"{assignment.user}'s assignment ends on {form.cleaned_data['end_date']}."
    return _after_assignment_change(request, assignment.plan, notice, error)


@login_required
@require_POST
def assignment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete an assignment made by mistake (not one that payouts were computed on)."""
    assignment = _assignment(request, pk)
    if not request.user.has_perm("compensation.delete_planassignment"):
        raise PermissionDenied
    notice = error = None
    try:
        plans.assignment_delete(assignment=assignment, acting_user=request.user)
    except NotAllowed as failure:
        raise PermissionDenied(failure.message) from failure
    except DomainError as failure:
        error = failure.message
    else:
        notice = f"{assignment.user}'s assignment to {assignment.plan} deleted."
    return _after_assignment_change(request, assignment.plan, notice, error)


# --- My plan -------------------------------------------------------------------------------------


def _my_plan_block(assignment: PlanAssignment) -> dict:
    target = selectors.role_target_row(assignment)
    return {
        "assignment": assignment,
        "plan": assignment.plan,
        **selectors.plan_in_words(assignment.plan),
        "target_incentive": selectors.role_target_for(assignment),
        "base_salary": target.base_salary if target else None,
    }


@login_required
def my_plan(request: HttpRequest) -> HttpResponse:
    """The plan the signed-in person is on today (and the next one, if one is coming), in
    words, with the Accept button or when they accepted."""
    user = request.user
    current = selectors.current_assignment(user)
    upcoming = selectors.next_assignment(user)
    blocks = [
        {**_my_plan_block(assignment), "when": when}
        for assignment, when in ((current, "current"), (upcoming, "upcoming"))
        if assignment is not None
    ]
    return render(request, "compensation/plans/my_plan.html", {"blocks": blocks})


@login_required
@require_POST
def assignment_accept(request: HttpRequest, pk: int) -> HttpResponse:
    """The assigned person accepts their plan version (again: nothing changes)."""
    assignment = _assignment(request, pk)
    notice = error = None
    try:
        assignment = plans.plan_accept(assignment=assignment, acting_user=request.user)
    except NotAllowed as failure:
        raise PermissionDenied(failure.message) from failure
    except DomainError as failure:
        error = failure.message
    else:
        notice = f"You accepted {assignment.plan}."
    if request.htmx:
        context = {"assignment": assignment, "notice": notice, "error": error}
        return render(request, "compensation/plans/partials/acceptance.html", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("compensation:my_plan")
