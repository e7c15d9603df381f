"""CRM pages: the board, moving deals (asking for missing fields), the deal page and list."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from crm import selectors, services
from crm.filtersets import DealFilterSet
from crm.forms import ActivityForm, DealEditForm, MoveFieldsForm, StageForm
from crm.models import Pipeline, Stage
from crm.rules import deal_values, missing_fields
from crm.services import DealConflict
from salesops.errors import DomainError
from salesops.exports import EXPORT_FORMATS, export_response
from salesops.org.models import User


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
            "timeline": selectors.deal_timeline(deal),
            "activity_form": ActivityForm(),
            "days_in_stage": selectors.days_in_stage(deal),
        },
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
    filterset = DealFilterSet(request.GET, queryset=selectors.deals_for_list(request.user))
    ordering = request.GET.get("sort", "close_date")
    allowed = {"close_date", "-close_date", "amount", "-amount", "name", "-name"}
    deals = filterset.qs.order_by(ordering if ordering in allowed else "close_date", "pk")
    page = Paginator(deals, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "crm/deal_list.html",
        {"filterset": filterset, "page": page, "query": query.urlencode(), "sort": ordering},
    )


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
    filterset = DealFilterSet(request.GET, queryset=selectors.deals_for_list(request.user))
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
        },
    )
