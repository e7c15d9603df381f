"""CRM pages: the board, moving deals (asking for missing fields), the deal page and list."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from crm import bulk_actions, leads, merge, selectors, services, splits
from crm.filtersets import AccountFilterSet, DealFilterSet, LeadFilterSet
from crm.forms import (
    ActivityForm,
    DealBulkForm,
    DealEditForm,
    DealSplitFormSet,
    LeadConvertForm,
    LeadStatusForm,
    MoveFieldsForm,
    StageForm,
)
from crm.models import Account, Contact, LeadStatus, Pipeline, Segment, Stage
from crm.rules import deal_values, missing_fields
from crm.services import DealConflict
from salesops.errors import DomainError
from salesops.exports import EXPORT_FORMATS, export_response
from salesops.org.models import User
from salesops.org.roles import Role
from salesops.permissions import can_see


@login_required
def board(request):
    """Kanban board of one pipeline; a manager may narrow it to one rep."""
    pipelines = list(selectors.pipelines())
    if not pipelines:
        return render(request, "crm/board.html", {"pipelines": []})
    chosen = next((p for p in pipelines if str(p.pk) == request.GET.get("pipeline")), pipelines[0])
    owner = None
    if request.GET.get("owner"):
        owner = User.objects.visible_to(request.user).filter(pk=request.GET["owner"]).first()
    columns = selectors.board(user=request.user, pipeline=chosen, owner=owner)
    context = {"pipelines": pipelines, "pipeline": chosen, "columns": columns, "owner": owner}
    template = "crm/partials/board_columns.html" if request.htmx else "crm/board.html"
    return render(request, template, context)


@login_required
@require_POST
def deal_move(request, pk: int):
    """Move a deal (from a drag on the board or a won/lost button).

    Answers with the form for the fields the target stage still needs, or, once moved, with an
    empty dialog and an ``HX-Trigger`` that makes the board and page reload their figures.
    """
    deal = selectors.deal_detail(user=request.user, pk=pk)
    if deal is None:
        raise Http404
    stage = Stage.objects.filter(pk=request.POST.get("stage"), pipeline=deal.pipeline).first()
    if stage is None:
        raise Http404
    submitted = {k: v for k, v in request.POST.items() if v not in ("", None)}
    needed = missing_fields(deal_values(deal), stage)
    if needed and not any(f in submitted for f in needed):
        # First step of a move that needs fields: ask for them.
        initial = {"stage": stage.pk, "version": submitted.get("version")}
        form = MoveFieldsForm(initial=initial, deal=deal, needed=needed)
        return _move_dialog(request, deal, stage, form)
    form = MoveFieldsForm({**submitted, "stage": stage.pk}, deal=deal, needed=needed)
    if not form.is_valid():
        return _move_dialog(request, deal, stage, form)
    try:
        services.deal_move(
            deal=deal, stage=stage, acting_user=request.user,
            expected_version=form.cleaned_data["version"], fields=form.move_fields(),
        )  # fmt: skip
    except DealConflict as error:
        return _move_dialog(request, deal, stage, form, error=str(error))
    except DomainError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return _move_dialog(request, deal, stage, form)
    response = HttpResponse("")
    response["HX-Trigger"] = "deal-moved"
    if not request.htmx:
        return redirect("crm:deal_detail", pk=deal.pk)
    return response


def _move_dialog(request, deal, stage, form, error: str | None = None):
    return render(
        request,
        "crm/partials/move_dialog.html",
        {"deal": deal, "stage": stage, "form": form, "error": error},
    )


@login_required
def deal_detail(request, pk: int):
    deal = selectors.deal_detail(user=request.user, pk=pk)
    if deal is None:
        raise Http404
    form = DealEditForm(instance=deal, initial={"version": deal.version})
    if request.method == "POST":
        form = DealEditForm(request.POST, instance=selectors.deal_detail(user=request.user, pk=pk))
        if form.is_valid():
            changes = {f: form.cleaned_data[f] for f in DealEditForm.Meta.fields}
            try:
                services.deal_update(
                    deal=deal, acting_user=request.user,
                    expected_version=form.cleaned_data["version"], **changes,
                )  # fmt: skip
            except DomainError as error:
                # The person's input stays in the form; nothing was saved.
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                messages.success(request, "Deal saved.")
                return redirect("crm:deal_detail", pk=pk)
    stages = list(deal.pipeline.stages.order_by("position"))
    return render(
        request,
        "crm/deal_detail.html",
        {
            "deal": deal,
            "form": form,
            "stages": stages,
            "won_stage": next((s for s in stages if s.is_won), None),
            "lost_stage": next((s for s in stages if s.is_lost), None),
            "account_visible": can_see(request.user, deal.account),
            "timeline": selectors.deal_timeline_with_audit(deal),
            "activity_form": ActivityForm(),
            "days_in_stage": selectors.days_in_stage(deal),
            "splits": splits.deal_splits_of(deal),
            "can_edit_splits": splits.can_change_splits(request.user, deal),
        },
    )


@login_required
def deal_splits_edit(request, pk: int):
    """Who is credited on a deal: revenue splits and overlays, as rows (the service checks them)."""
    deal = selectors.deal_detail(user=request.user, pk=pk)
    if deal is None:
        raise Http404
    if not splits.can_change_splits(request.user, deal):
        raise PermissionDenied
    initial = [
        {"user": s.user, "kind": s.kind, "percent": s.percent} for s in splits.deal_splits_of(deal)
    ]
    formset = DealSplitFormSet(request.POST or None, initial=initial, prefix="splits")
    error = None
    if request.method == "POST" and formset.is_valid():
        rows = [row for form in formset.forms if (row := form.split_row()) is not None]
        try:
            splits.deal_splits_set(deal=deal, splits=rows, acting_user=request.user)
        except DomainError as refused:
            error = refused.message  # nothing was saved; the rows stay as typed
        else:
            messages.success(request, "Credit splits saved.")
            return redirect("crm:deal_detail", pk=pk)
    return render(
        request, "crm/deal_splits.html", {"deal": deal, "formset": formset, "error": error}
    )


@login_required
@require_POST
def deal_activity(request, pk: int):
    deal = selectors.deal_detail(user=request.user, pk=pk)
    if deal is None:
        raise Http404
    form = ActivityForm(request.POST)
    if form.is_valid():
        try:
            services.activity_log(acting_user=request.user, deal=deal, **form.cleaned_data)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Activity logged.")
    else:
        messages.error(request, "An activity needs a kind and a subject.")
    return redirect("crm:deal_detail", pk=pk)


@login_required
def deal_list(request):
    filterset = DealFilterSet(
        request.GET, queryset=selectors.deals_for_list(request.user), request=request
    )
    ordering = request.GET.get("sort", "close_date")
    allowed = {"close_date", "-close_date", "amount", "-amount", "name", "-name"}
    deals = filterset.qs.order_by(ordering if ordering in allowed else "close_date", "pk")
    page = Paginator(deals, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    can_bulk = request.user.role in bulk_actions.BULK_ROLES
    return render(
        request,
        "crm/deal_list.html",
        {
            "filterset": filterset,
            "page": page,
            "query": query.urlencode(),
            "sort": ordering,
            "visible_accounts": selectors.visible_account_ids(
                request.user, {deal.account_id for deal in page}
            ),
            "bulk_form": (
                DealBulkForm(owners=selectors.deal_owner_choices(request.user))
                if can_bulk
                else None
            ),
            "back": request.get_full_path(),
        },
    )


@login_required
@require_POST
def deal_bulk(request):
    """Reassign the ticked deals or set their close date (managers and sales ops)."""
    if request.user.role not in bulk_actions.BULK_ROLES:
        raise PermissionDenied
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse("crm:deal_list")
    form = DealBulkForm(request.POST, owners=selectors.deal_owner_choices(request.user))
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    data = form.cleaned_data
    try:
        if data["action"] == "reassign":
            result = bulk_actions.deals_reassign(
                deal_ids=data["deal"], owner=data["owner"], acting_user=request.user
            )
        else:
            result = bulk_actions.deals_set_close_date(
                deal_ids=data["deal"], close_date=data["close_date"], acting_user=request.user
            )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        n = len(result.updated)
        text = f"{n} deal{'' if n == 1 else 's'} updated."
        if result.unchanged:
            text += f" {result.unchanged} already had that value."
        messages.success(request, text)
    return redirect(back)


@login_required
@permission_required("crm.change_stage", raise_exception=True)
def pipeline_settings(request):
    """Sales ops: every pipeline with its stages, their defaults and exit criteria."""
    pipelines = selectors.pipelines().prefetch_related("stages")
    return render(request, "crm/pipeline_settings.html", {"pipelines": pipelines})


@login_required
@permission_required("crm.change_stage", raise_exception=True)
def stage_edit(request, pipeline_pk: int, pk: int | None = None):
    """Add a stage to a pipeline, or change one; the service validates the rule."""
    pipeline = get_object_or_404(Pipeline, pk=pipeline_pk)
    stage = get_object_or_404(Stage, pk=pk, pipeline=pipeline) if pk else None
    initial = (
        {f: getattr(stage, f) for f in StageForm.base_fields}
        if stage
        else {"position": pipeline.stages.count(), "forecast_category": "pipeline"}
    )
    form = StageForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.stage_save(
                acting_user=request.user, pipeline=pipeline, stage=stage, **form.cleaned_data
            )
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, f"Saved stage {form.cleaned_data['name']}.")
            return redirect("crm:pipeline_settings")
    return render(
        request, "crm/stage_form.html", {"form": form, "pipeline": pipeline, "stage": stage}
    )


DEAL_EXPORT_COLUMNS = [
    ("id", "Id"), ("name", "Deal"), ("account__name", "Account"), ("owner__username", "Owner"),
    ("pipeline__name", "Pipeline"), ("stage__name", "Stage"), ("amount", "Amount"),
    ("currency", "Currency"), ("close_date", "Close date"), ("probability", "Probability %"),
    ("forecast_category", "Forecast category"), ("type", "Type"), ("next_step", "Next step"),
    ("created_at", "Created"), ("closed_at", "Closed"), ("external_id", "External id"),
]  # fmt: skip


@login_required
def deal_export(request, fmt: str):
    """The deal list as filtered on screen, in the caller's scope, as CSV or XLSX."""
    if fmt not in EXPORT_FORMATS:
        raise Http404
    filterset = DealFilterSet(
        request.GET, queryset=selectors.deals_for_list(request.user), request=request
    )
    rows = filterset.qs.order_by("close_date", "pk").values_list(
        *[field for field, _ in DEAL_EXPORT_COLUMNS]
    )
    return export_response(
        headers=[label for _, label in DEAL_EXPORT_COLUMNS],
        rows=rows.iterator(chunk_size=5000),
        filename="deals",
        fmt=fmt,
    )


@login_required
def search(request):
    """The navigation's search box: accounts, contacts, deals and leads in scope."""
    text = request.GET.get("q", "")
    results = selectors.search(user=request.user, text=text)
    template = "crm/partials/search_results.html" if request.htmx else "crm/search.html"
    return render(request, template, {"q": text, "results": results})


@login_required
@permission_required("crm.change_stage", raise_exception=True)
def data_quality(request):
    """Sales ops: deals that need fixing and accounts that look duplicated."""
    from crm import quality

    return render(
        request,
        "crm/data_quality.html",
        {
            "checks": quality.summary(user=request.user),
            "duplicates": quality.likely_duplicate_accounts(user=request.user),
            "duplicate_contacts": quality.likely_duplicate_contacts(user=request.user),
            "can_merge": request.user.role in merge.MERGE_ROLES,
        },
    )


def _scoped_filter_form(filterset, user: User):
    """Only offer owners in ``user``'s scope in a list's filter form (people who left too)."""
    form = filterset.form
    if "owner" in form.fields:
        form.fields["owner"].queryset = User.objects.visible_to(user)
    return form


def _sorted_page(request, queryset, allowed: set[str], default: str):
    ordering = request.GET.get("sort", default)
    rows = queryset.order_by(ordering if ordering in allowed else default, "pk")
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("sort", None)
    return page, query.urlencode(), ordering


def _segment_label(segment: str) -> str:
    return Segment(segment).label if segment else ""


ACCOUNT_LIST_FILTERS = ("q", "owner", "segment", "industry", "country", "region")
ACCOUNT_SORTS = {"name", "-name", "employees", "-employees", "created_at", "-created_at"}


@login_required
@permission_required("crm.view_account", raise_exception=True)
def account_list(request):
    """Accounts in scope, filtered with ``AccountFilterSet`` (and ``?parent=`` from a link)."""
    filterset = AccountFilterSet(request.GET, queryset=selectors.accounts_for_list(request.user))
    form = _scoped_filter_form(filterset, request.user)
    page, query, sort = _sorted_page(request, filterset.qs, ACCOUNT_SORTS, "name")
    for account in page:
        account.segment_label = _segment_label(account.segment)
    return render(
        request,
        "crm/account_list.html",
        {
            "filterset": filterset,
            "filter_fields": [form[name] for name in ACCOUNT_LIST_FILTERS],
            "page": page,
            "query": query,
            "sort": sort,
        },
    )


ACCOUNT_EXPORT_COLUMNS = [
    ("id", "Id"), ("name", "Account"), ("domain", "Domain"), ("website", "Website"),
    ("industry", "Industry"), ("employees", "Employees"), ("segment", "Segment"),
    ("annual_revenue", "Annual revenue"), ("revenue_currency", "Revenue currency"),
    ("country", "Country"), ("region", "Region"), ("city", "City"),
    ("postal_code", "Postal code"), ("parent__name", "Parent account"),
    ("owner__username", "Owner"), ("created_at", "Created"), ("external_id", "External id"),
]  # fmt: skip


@login_required
@permission_required("crm.view_account", raise_exception=True)
def account_export(request, fmt: str):
    """The account list as filtered on screen, in the caller's scope, as CSV or XLSX."""
    if fmt not in EXPORT_FORMATS:
        raise Http404
    filterset = AccountFilterSet(request.GET, queryset=selectors.accounts_for_list(request.user))
    _scoped_filter_form(filterset, request.user)
    rows = filterset.qs.order_by("name", "pk").values_list(
        *[field for field, _ in ACCOUNT_EXPORT_COLUMNS]
    )
    return export_response(
        headers=[label for _, label in ACCOUNT_EXPORT_COLUMNS],
        rows=rows.iterator(chunk_size=5000),
        filename="accounts",
        fmt=fmt,
    )


@login_required
def account_detail(request, pk: int):
    """An account: its details, deals (open first), contacts, child accounts, activities."""
    account = selectors.account_detail(user=request.user, pk=pk)
    if account is None:
        raise Http404
    account.segment_label = _segment_label(account.segment)
    return render(
        request,
        "crm/account_detail.html",
        {"account": account, **selectors.account_page(user=request.user, account=account)},
    )


LEAD_SORTS = {"created_at", "-created_at", "company", "-company", "last_name", "-last_name"}


@login_required
@permission_required("crm.view_lead", raise_exception=True)
def lead_list(request):
    """Leads in scope (a rep's own), filtered by status, owner, source and text."""
    filterset = LeadFilterSet(
        request.GET, queryset=selectors.leads_for_list(request.user), request=request
    )
    form = _scoped_filter_form(filterset, request.user)
    page, query, sort = _sorted_page(request, filterset.qs, LEAD_SORTS, "-created_at")
    is_rep = request.user.role == Role.REP
    return render(
        request,
        "crm/lead_list.html",
        {
            "filterset": filterset,
            # A rep's list is their own leads already: no owner filter, no "only mine".
            "filter_fields": [
                form[name]
                for name in ("q", "status", "source", "owner", "mine")
                if not (is_rep and name in ("owner", "mine"))
            ],
            "page": page,
            "query": query,
            "sort": sort,
            "title": "My leads" if is_rep else "Leads",
        },
    )


def _lead_or_404(request, pk: int):
    lead = selectors.lead_detail(user=request.user, pk=pk)
    if lead is None:
        raise Http404
    return lead


def _convert_form(request, lead, data=None):
    return LeadConvertForm(
        data,
        lead=lead,
        accounts=Account.objects.visible_to(request.user),
        suggestions=selectors.lead_account_suggestions(user=request.user, lead=lead),
    )


def _lead_page(request, lead, *, status_form=None, convert_form=None):
    can_change = request.user.has_perm("crm.change_lead")
    open_lead = lead.status not in (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED)
    return render(
        request,
        "crm/lead_detail.html",
        {
            "lead": lead,
            "segment": _segment_label(lead.segment),
            "can_change": can_change and lead.status != LeadStatus.CONVERTED,
            # A refused conversion keeps its form (and the reason) on screen.
            "can_convert": (can_change and open_lead and request.user.has_perm("crm.add_deal"))
            or bool(convert_form and convert_form.errors),
            "next_statuses": [
                (value, label)
                for value, label in LeadStatus.choices
                if value not in (lead.status, LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED)
            ],
            "status_form": status_form or LeadStatusForm(),
            "convert_form": convert_form or _convert_form(request, lead),
            **selectors.lead_page(user=request.user, lead=lead),
        },
    )


@login_required
def lead_detail(request, pk: int):
    return _lead_page(request, _lead_or_404(request, pk))


@login_required
@require_POST
@permission_required("crm.change_lead", raise_exception=True)
def lead_status(request, pk: int):
    """Work, qualify or disqualify (with the reason) a lead."""
    lead = _lead_or_404(request, pk)
    form = LeadStatusForm(request.POST)
    if form.is_valid():
        try:
            leads.lead_set_status(
                lead=lead,
                status=form.cleaned_data["status"],
                reason=form.cleaned_data["reason"],
                acting_user=request.user,
            )
        except DomainError as error:
            field = "reason" if error.field == "disqualify_reason" else error.field
            form.add_error(field if field in form.fields else None, error.message)
        else:
            label = LeadStatus(form.cleaned_data["status"]).label.lower()
            messages.success(request, f"Lead marked {label}.")
            return redirect("crm:lead_detail", pk=pk)
    return _lead_page(request, lead, status_form=form)


@login_required
@require_POST
@permission_required("crm.change_lead", raise_exception=True)
def lead_convert(request, pk: int):
    """Turn the lead into an account (new or existing), a contact and a deal."""
    lead = _lead_or_404(request, pk)
    form = _convert_form(request, lead, request.POST)
    if form.is_valid():
        try:
            deal = leads.lead_convert(lead=lead, acting_user=request.user, **form.cleaned_data)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, f"Lead converted: deal '{deal.name}' created.")
            return redirect("crm:deal_detail", pk=deal.pk)
    return _lead_page(request, lead, convert_form=form)


def _merge_view(request, *, model, noun: str, plan_fn, merge_fn):
    """Confirm (GET: what will move) and merge (POST) two records picked on the quality page."""
    if request.user.role not in merge.MERGE_ROLES:
        raise PermissionDenied
    params = request.POST if request.method == "POST" else request.GET
    ids = {}
    for key in ("survivor", "loser"):
        try:
            ids[key] = int(params.get(key, ""))
        except ValueError:
            raise Http404 from None
    records = model.objects.visible_to(request.user).in_bulk(ids.values())
    if ids["survivor"] not in records or ids["loser"] not in records:
        raise Http404
    survivor, loser = records[ids["survivor"]], records[ids["loser"]]
    error = None
    if survivor.pk == loser.pk:
        error = f"Pick two different {noun}s: one to keep and one to merge into it."
    elif request.method == "POST":
        try:
            kept = merge_fn(survivor=survivor, loser=loser, acting_user=request.user)
        except DomainError as refusal:
            error = refusal.message
        else:
            messages.success(request, f"Merged {loser} into {kept}.")
            return redirect("crm:data_quality")
    return render(
        request,
        "crm/merge_confirm.html",
        {
            "noun": noun,
            "plan": plan_fn(survivor=survivor, loser=loser) if survivor.pk != loser.pk else None,
            "survivor": survivor,
            "loser": loser,
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
def account_merge(request):
    return _merge_view(
        request,
        model=Account,
        noun="account",
        plan_fn=merge.account_merge_plan,
        merge_fn=merge.account_merge,
    )


@login_required
def contact_merge(request):
    return _merge_view(
        request,
        model=Contact,
        noun="contact",
        plan_fn=merge.contact_merge_plan,
        merge_fn=merge.contact_merge,
    )
