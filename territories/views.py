"""Territory planning pages: the tree, territories and members, the rule editor and tester,
scenarios (balance, moves, auto-balance, apply), comparison, and rule runs.

Thin: reads come from ``territories.selectors``; writes are calls to ``territories.services``,
``runs`` and ``autobalance``, whose refusals (``DomainError``) are shown on the form that asked.
Sales ops and admins plan; finance reads; reps and managers hold no territory permission (403).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from salesops.errors import DomainError
from salesops.org.models import User
from territories import autobalance, runs, selectors, services
from territories.assignment import landing_for
from territories.exports import rules_csv, rules_csv_filename
from territories.forms import (
    AcceptForm,
    ApplyForm,
    AutobalanceForm,
    CompareForm,
    LivePlanForm,
    MemberForm,
    RegionMoveForm,
    RuleForm,
    RulesImportForm,
    RuleTestForm,
    ScenarioForm,
    TerritoryForm,
)
from territories.importers import rules_import
from territories.models import PlanStatus

VIEW = "territories.view_territory"
PLAN = "territories.change_territory"
APPLY = "territories.add_assignmentrun"


def _refused(form, error: DomainError) -> None:
    """Show a service's refusal on the form, by the field it names when the form has it."""
    form.add_error(error.field if error.field in form.fields else None, error.message)


def _plan_or_404(request, pk):
    plan = selectors.plan_for(request.user, pk)
    if plan is None:
        raise Http404
    return plan


def _tree_url(plan) -> str:
    url = reverse("territories:tree")
    return url if plan.status == PlanStatus.LIVE else f"{url}?plan={plan.pk}"


def _int_or_404(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404 from None


def _can_plan(request, plan=None) -> bool:
    allowed = request.user.has_perm(PLAN)
    return allowed and (plan is None or plan.status in (PlanStatus.DRAFT, PlanStatus.LIVE))


# --- The tree -----------------------------------------------------------------------------------


@login_required
@permission_required(VIEW, raise_exception=True)
def tree(request):
    """The live plan's tree (or ``?plan=``'s) with each territory's figures and balance, the
    scenarios, and the rule runs."""
    if request.GET.get("plan"):
        plan = _plan_or_404(request, request.GET["plan"])
    else:
        plan = selectors.live_plan_for(request.user)
    return _tree_page(request, plan)


def _tree_page(request, plan, *, status: int = 200, **forms):
    plans = selectors.plans_for(request.user)
    context = {
        "plan": plan,
        "overview": selectors.plan_overview(plan) if plan is not None else None,
        "plans": plans,
        "scenarios": selectors.scenarios_for(request.user),
        "runs": selectors.run_rows(selectors.runs_for(request.user)[:10]),
        "can_plan": _can_plan(request),
        "can_edit": plan is not None and _can_plan(request, plan),
        "can_apply": request.user.has_perm(APPLY)
        and plan is not None
        and plan.status == PlanStatus.LIVE,
        "live_form": forms.get("live_form") or LivePlanForm(),
        "scenario_form": forms.get("scenario_form")
        or ScenarioForm(plans=plans, initial={"source": plan.pk if plan else None}),
        "apply_form": forms.get("apply_form") or ApplyForm(),
    }
    return render(request, "territories/tree.html", context, status=status)


@login_required
@permission_required(PLAN, raise_exception=True)
@require_POST
def plan_create_live(request):
    """The organisation's first live plan (the empty state's form)."""
    form = LivePlanForm(request.POST)
    if form.is_valid():
        try:
            plan = services.plan_create_live(
                name=form.cleaned_data["name"], acting_user=request.user
            )
        except DomainError as error:
            _refused(form, error)
        else:
            messages.success(request, f"Created the live plan {plan}. Add its territories next.")
            return redirect("territories:territory_add", plan_pk=plan.pk)
    return _tree_page(request, None, live_form=form, status=400)


@login_required
@permission_required(PLAN, raise_exception=True)
@require_POST
def scenario_create(request):
    plans = selectors.plans_for(request.user)
    form = ScenarioForm(request.POST, plans=plans)
    if form.is_valid():
        try:
            scenario = services.scenario_create(
                name=form.cleaned_data["name"],
                source=form.cleaned_data["source"],
                acting_user=request.user,
            )
        except DomainError as error:
            _refused(form, error)
        else:
            messages.success(request, f"Drafted the scenario {scenario}: nothing live changes.")
            return redirect("territories:scenario", pk=scenario.pk)
    return _tree_page(
        request, selectors.live_plan_for(request.user), scenario_form=form, status=400
    )


# --- Territories and members --------------------------------------------------------------------


def _territory_or_404(request, pk):
    territory = selectors.territory_for(request.user, pk)
    if territory is None:
        raise Http404
    return territory


@login_required
@permission_required(VIEW, raise_exception=True)
def territory_detail(request, pk: int):
    """A territory: its figures, members, child territories and rules; ops edit it here."""
    territory = _territory_or_404(request, pk)
    plan = territory.plan
    form = TerritoryForm(
        plan=plan, territory=territory, initial=TerritoryForm.initial_for(territory)
    )
    if request.method == "POST":
        if not _can_plan(request):
            raise PermissionDenied
        form = TerritoryForm(request.POST, plan=plan, territory=territory)
        if form.is_valid():
            try:
                services.territory_save(
                    plan=plan, territory=territory, acting_user=request.user, **form.cleaned_data
                )
            except DomainError as error:
                _refused(form, error)
            else:
                messages.success(request, f"Saved {territory}.")
                return redirect("territories:territory", pk=territory.pk)
        territory = _territory_or_404(request, pk)  # the form kept the person's input
    return render(
        request,
        "territories/territory_detail.html",
        {
            "page": selectors.territory_page(territory),
            "form": form,
            "member_form": MemberForm(),
            "can_edit": _can_plan(request, plan),
        },
        status=400 if form.errors else 200,
    )


@login_required
@permission_required(PLAN, raise_exception=True)
def territory_add(request, plan_pk: int):
    plan = _plan_or_404(request, plan_pk)
    initial = {"parent": request.GET.get("parent")}
    form = TerritoryForm(request.POST or None, plan=plan, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            territory = services.territory_save(
                plan=plan, acting_user=request.user, **form.cleaned_data
            )
        except DomainError as error:
            _refused(form, error)
        else:
            messages.success(request, f"Added {territory} to {plan}.")
            return redirect(_tree_url(plan))
    return render(
        request,
        "territories/territory_form.html",
        {"plan": plan, "form": form},
        status=400 if form.errors else 200,
    )


@login_required
@permission_required(PLAN, raise_exception=True)
@require_POST
def territory_delete(request, pk: int):
    territory = _territory_or_404(request, pk)
    try:
        services.territory_delete(territory=territory, acting_user=request.user)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("territories:territory", pk=pk)
    messages.success(request, f"Deleted {territory}.")
    return redirect(_tree_url(territory.plan))


@login_required
@permission_required(PLAN, raise_exception=True)
@require_POST
def member_save(request, pk: int):
    """Add a rep to the territory, change their role, or (``remove``) take them off it."""
    territory = _territory_or_404(request, pk)
    form = MemberForm(request.POST)
    if "remove" in request.POST:
        person = User.objects.filter(pk=_int_or_404(request.POST["remove"])).first()
        if person is None:
            raise Http404
        try:
            services.member_set(
                territory=territory, user=person, role=None, acting_user=request.user
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"{person} no longer works {territory}.")
        return redirect("territories:territory", pk=pk)
    if form.is_valid():
        try:
            member = services.member_set(
                territory=territory, acting_user=request.user, **form.cleaned_data
            )
        except DomainError as error:
            _refused(form, error)
        else:
            messages.success(
                request, f"{member.user} is now {member.get_role_display().lower()} of {territory}."
            )
            return redirect("territories:territory", pk=pk)
    return render(
        request,
        "territories/territory_detail.html",
        {
            "page": selectors.territory_page(territory),
            "form": TerritoryForm(
                plan=territory.plan, territory=territory,
                initial=TerritoryForm.initial_for(territory),
            ),
            "member_form": form,
            "can_edit": _can_plan(request, territory.plan),
        },
        status=400,
    )  # fmt: skip


# --- Rules --------------------------------------------------------------------------------------


@login_required
@permission_required(VIEW, raise_exception=True)
def rules(request, pk: int):
    """The rule editor: the plan's rules in the order they are tried, import/export, tester."""
    return _rules_page(request, _plan_or_404(request, pk))


def _rules_page(request, plan, *, status: int = 200, **extra):
    ordered = list(selectors.rules_in_order(plan))
    context = {
        "plan": plan,
        "rows": selectors.rule_rows(ordered),
        "has_catch_all": any(rule.catch_all for rule in ordered),
        "movable": sum(1 for rule in ordered if not rule.catch_all),
        "can_edit": _can_plan(request, plan),
        "import_form": extra.pop("import_form", None) or RulesImportForm(),
        "tester_form": extra.pop("tester_form", None) or RuleTestForm(),
        **extra,
    }
    return render(request, "territories/rules.html", context, status=status)


def _rule_form_page(request, plan, rule=None):
    initial = RuleForm.initial_for(rule) if rule else {}
    form = RuleForm(request.POST or None, plan=plan, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.rule_save(
                plan=plan, rule=rule, acting_user=request.user, fields=form.rule_fields()
            )
        except DomainError as error:
            _refused(form, error)
        else:
            messages.success(request, f"Saved the rule {saved}.")
            return redirect("territories:rules", pk=plan.pk)
    return render(
        request,
        "territories/rule_form.html",
        {"plan": plan, "rule": rule, "form": form},
        status=400 if form.errors else 200,
    )


@login_required
@permission_required(PLAN, raise_exception=True)
def rule_add(request, pk: int):
    return _rule_form_page(request, _plan_or_404(request, pk))


def _rule_or_404(request, pk):
    rule = selectors.rule_for(request.user, pk)
    if rule is None:
        raise Http404
    return rule


@login_required
@permission_required(PLAN, raise_exception=True)
def rule_edit(request, pk: int):
    rule = _rule_or_404(request, pk)
    return _rule_form_page(request, rule.plan, rule)


@login_required
@permission_required(PLAN, raise_exception=True)
@require_POST
def rule_delete(request, pk: int):
    rule = _rule_or_404(request, pk)
    try:
        services.rule_delete(rule=rule, acting_user=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Deleted the rule {rule}.")
    return redirect("territories:rules", pk=rule.plan_id)


@login_required
@permission_required(PLAN, raise_exception=True)
@require_POST
def rule_move(request, pk: int):
    """Move a rule one step up or down the order (``direction``)."""
    rule = _rule_or_404(request, pk)
    direction = "up" if request.POST.get("direction") == "up" else "down"
    try:
        order = selectors.rule_order_moved(rule.plan, rule, direction)
        services.rules_reorder(plan=rule.plan, rule_ids=order, acting_user=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    return redirect(f"{reverse('territories:rules', args=[rule.plan_id])}#rule-{rule.pk}")


@login_required
@permission_required(VIEW, raise_exception=True)
def rules_export(request, pk: int):
    plan = _plan_or_404(request, pk)
    response = HttpResponse(rules_csv(plan), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{rules_csv_filename(plan)}"'
    return response


@login_required
@permission_required(PLAN, raise_exception=True)
@require_POST
def rules_upload(request, pk: int):
    """Replace the plan's rules with a CSV: all or nothing, row-numbered errors on the page."""
    plan = _plan_or_404(request, pk)
    form = RulesImportForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            outcome = rules_import(
                plan=plan, csv_text=form.cleaned_data["file"].read(), acting_user=request.user
            )
        except DomainError as error:
            _refused(form, error)
        else:
            if outcome.ok:
                written = outcome.report["written"]
                messages.success(
                    request,
                    f"Imported {written.get('written', 0)} rules; the "
                    f"{written.get('removed', 0)} rules before them are replaced.",
                )
                return redirect("territories:rules", pk=plan.pk)
            return _rules_page(
                request, plan, import_form=form, import_report=outcome.report, status=400
            )
    return _rules_page(request, plan, import_form=form, status=400)


@login_required
@permission_required(VIEW, raise_exception=True)
def rule_test(request, pk: int):
    """The tester: where an account (existing, or the fields typed) would land, and why.
    Answers with the result alone to htmx, with the rules page otherwise. Changes nothing."""
    plan = _plan_or_404(request, pk)
    form = RuleTestForm(request.POST if request.method == "POST" else request.GET or None)
    landing = values = account = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            if data["account"]:
                account = selectors.tester_account(request.user, data["account"])
            values = selectors.tester_values(account, data)
            landing = landing_for(plan, values)
        except DomainError as error:
            _refused(form, error)
    context = {"tester_form": form, "landing": landing, "tested": values, "tested_account": account}
    if request.htmx:
        return render(request, "territories/partials/tester_result.html", context)
    return _rules_page(request, plan, **context)


# --- Scenarios ----------------------------------------------------------------------------------


@login_required
@permission_required(VIEW, raise_exception=True)
def scenario(request, pk: int):
    """A scenario: figures and balance against live, the balance chart, what would move, and
    the moves, auto-balance, apply and archive forms. htmx asks for one section at a time."""
    plan = _plan_or_404(request, pk)
    live = selectors.live_plan_for(request.user)
    target = request.htmx.target if request.htmx else None
    if target == "moved" and live is not None and live != plan:
        moved = selectors.scenario_moves(
            plan, live, pair=request.GET.get("pair", ""), page=request.GET.get("page")
        )
        return render(request, "territories/partials/moved.html", {"plan": plan, "moved": moved})
    return _scenario_page(request, plan, live=live, partial=target == "balance")


def _scenario_page(request, plan, *, live=None, partial: bool = False, status=200, **extra):
    live = live if live is not None else selectors.live_plan_for(request.user)
    page = selectors.scenario_page(
        plan,
        live=live,
        measure=request.GET.get("measure", "accounts"),
        parent_key=request.GET.get("parent", ""),
        pair=request.GET.get("pair", ""),
        page=request.GET.get("page"),
        with_moves=not partial,
    )
    if partial:
        return render(request, "territories/partials/balance.html", {"page": page})
    parents = selectors.balance_parents(plan)
    context = {
        "plan": plan,
        "page": page,
        "plans": selectors.plans_for(request.user),
        "runs": selectors.run_rows(selectors.runs_for(request.user, plan=plan)),
        "can_edit": plan.is_editable and _can_plan(request, plan),
        "can_apply": request.user.has_perm(APPLY) and plan.is_editable,
        "region_form": extra.pop("region_form", None) or RegionMoveForm(plan=plan),
        "autobalance_form": extra.pop("autobalance_form", None)
        or AutobalanceForm(parents=parents, initial={"parent": parents.first()}),
        "apply_form": extra.pop("apply_form", None) or ApplyForm(),
        **extra,
    }
    return render(request, "territories/scenario.html", context, status=status)


@login_required
@permission_required(PLAN, raise_exception=True)
@require_POST
def region_move(request, pk: int):
    """Send a whole state/region to another territory of the scenario."""
    plan = _plan_or_404(request, pk)
    form = RegionMoveForm(request.POST, plan=plan)
    if form.is_valid():
        data = form.cleaned_data
        try:
            rule = services.region_move(
                plan=plan, country=data["country"], region=data["region"],
                to=data["territory"], acting_user=request.user,
            )  # fmt: skip
        except DomainError as error:
            _refused(form, error)
        else:
            messages.success(
                request,
                f"{data['region']} ({data['country'].upper()}) now goes to "
                f"{data['territory']} (rule: {rule}).",
            )
            return redirect("territories:scenario", pk=plan.pk)
    return _scenario_page(request, plan, region_form=form, status=400)


@login_required
@permission_required(PLAN, raise_exception=True)
@require_POST
def autobalance_propose(request, pk: int):
    """Ask the optimiser for moves that even out one parent's children; show them to accept."""
    plan = _plan_or_404(request, pk)
    parents = selectors.balance_parents(plan)
    form = AutobalanceForm(request.POST, parents=parents)
    proposal = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            found = autobalance.autobalance_propose(
                scenario=plan, parent=data["parent"], measure=data["measure"],
                max_moves=data["max_moves"], unit=data["unit"],
            )  # fmt: skip
        except DomainError as error:
            _refused(form, error)
        else:
            proposal = selectors.proposal_view(
                plan, found, parent=data["parent"], measure=data["measure"], unit=data["unit"]
            )
    status = 400 if form.errors else 200
    if request.htmx:
        context = {"plan": plan, "proposal": proposal, "autobalance_form": form}
        return render(request, "territories/partials/proposal.html", context, status=status)
    return _scenario_page(request, plan, autobalance_form=form, proposal=proposal, status=status)


@login_required
@permission_required(PLAN, raise_exception=True)
@require_POST
def autobalance_accept(request, pk: int):
    """Write an accepted proposal into the scenario's rules (re-checked; all or nothing)."""
    plan = _plan_or_404(request, pk)
    form = AcceptForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("moves", ["Propose again."])))
        return redirect("territories:scenario", pk=plan.pk)
    try:
        result = autobalance.autobalance_accept(
            scenario=plan, proposal_moves=form.cleaned_data["moves"], acting_user=request.user
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        parts = []
        if result.regions_moved:
            parts.append(f"{result.regions_moved} region(s) moved")
        if result.accounts_named:
            parts.append(f"{result.accounts_named} account(s) named to their new territory")
        if result.accounts_pinned:
            parts.append(f"{result.accounts_pinned} late-stage account(s) kept where they are")
        messages.success(
            request,
            f"Accepted: {', '.join(parts) or 'no change'}. The scenario now moves "
            f"{result.accounts_moved} account(s).",
        )
    return redirect("territories:scenario", pk=plan.pk)


@login_required
@permission_required(APPLY, raise_exception=True)
@require_POST
def plan_apply(request, pk: int):
    """Apply a plan's rules from a date (a draft scenario goes live then): a run on the worker."""
    plan = _plan_or_404(request, pk)
    form = ApplyForm(request.POST)
    if form.is_valid():
        try:
            run = runs.assignment_run_create(
                plan=plan, acting_user=request.user, **form.cleaned_data
            )
        except DomainError as error:
            _refused(form, error)
        else:
            when = "now" if run.status == "queued" else f"on {run.effective_date:%-d %b %Y}"
            messages.success(request, f"{plan} will be applied {when}.")
            return redirect("territories:run", pk=run.pk)
    if plan.status == PlanStatus.LIVE:
        return _tree_page(request, plan, apply_form=form, status=400)
    return _scenario_page(request, plan, apply_form=form, status=400)


@login_required
@permission_required(PLAN, raise_exception=True)
@require_POST
def scenario_archive(request, pk: int):
    plan = _plan_or_404(request, pk)
    try:
        services.scenario_archive(plan=plan, acting_user=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Archived {plan}; it stays readable.")
    return redirect("territories:scenario", pk=plan.pk)


@login_required
@permission_required(VIEW, raise_exception=True)
def compare(request):
    """Two plans side by side by territory, with the deltas, both balances and a chart."""
    plans = selectors.plans_for(request.user)
    live = selectors.live_plan_for(request.user)
    data = request.GET.copy()
    if live is not None:
        data.setdefault("a", str(live.pk))
    form = CompareForm(data, plans=plans)
    page = None
    if "b" in data and form.is_valid():
        page = selectors.compare_page(
            form.cleaned_data["a"], form.cleaned_data["b"],
            measure=form.cleaned_data["measure"] or "accounts",
        )  # fmt: skip
    elif "b" not in data:
        form = CompareForm(initial={"a": data.get("a")}, plans=plans)
    return render(
        request,
        "territories/compare.html",
        {"form": form, "page": page, "live": live},
        status=400 if form.is_bound and form.errors else 200,
    )


# --- Runs ---------------------------------------------------------------------------------------


@login_required
@permission_required(VIEW, raise_exception=True)
def run_list(request):
    """Every rule run, newest first; htmx polls the latest ones (``?plan=`` narrows them)."""
    plan = _plan_or_404(request, request.GET["plan"]) if request.GET.get("plan") else None
    all_runs = selectors.runs_for(request.user, plan=plan)
    if request.htmx:
        limit = None if plan is not None else 10
        rows = selectors.run_rows(all_runs[:limit] if limit else all_runs)
        return render(request, "territories/partials/runs.html", {"runs": rows, "runs_plan": plan})
    page = Paginator(all_runs, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "territories/run_list.html",
        {"page": page, "runs": selectors.run_rows(page), "runs_plan": plan},
    )


@login_required
@permission_required(VIEW, raise_exception=True)
def run_detail(request, pk: int):
    """A run: its progress while it runs (htmx polls the status section) and what it moved."""
    run = selectors.run_for(request.user, pk)
    if run is None:
        raise Http404
    context = {
        "run": run,
        "progress": selectors.run_progress(run),
        "moves": selectors.run_moves(run, page_number=request.GET.get("page")),
        "can_cancel": request.user.has_perm(APPLY),
    }
    if request.htmx:
        return render(request, "territories/partials/run_status.html", context)
    return render(request, "territories/run_detail.html", context)


@login_required
@permission_required(APPLY, raise_exception=True)
@require_POST
def run_cancel(request, pk: int):
    run = selectors.run_for(request.user, pk)
    if run is None:
        raise Http404
    try:
        runs.assignment_run_cancel(run=run, acting_user=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Run cancelled; nothing was applied.")
    return redirect("territories:run", pk=pk)
