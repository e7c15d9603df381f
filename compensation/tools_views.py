"""Finance and ops tools: the commission estimate on a deal page (an htmx fragment), the commission
expense amortisation schedule (finance; CSV and XLSX), and what-if modelling of a plan version
against the live plan (sales ops; with a chart of payout by attainment band).

Thin: the figures come from ``compensation.estimator``, ``compensation.amortisation`` and
``compensation.whatif``, which also decide who may see them; a refusal is 403, a deal out of
reach 404, and bad input is shown next to the field that caused it. The forms live here, as they
serve only these pages.
"""

from __future__ import annotations

import json
from decimal import Decimal

import plotly.graph_objects as go
from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from compensation import amortisation, estimator, whatif
from compensation.models import CompPlan
from compensation.plan_selectors import plans_visible_to
from compensation.run_selectors import can_view_runs
from salesops.errors import DomainError, NotAllowed, NotFound
from salesops.exports import EXPORT_FORMATS, export_response
from salesops.fiscal import PeriodKind
from salesops.org.models import User
from salesops.org.selectors import fiscal_calendar

# The look of the other plotly charts (compensation.statement_views, territories.scenario_charts).
BLUE, GREY = "#2563eb", "#94a3b8"
LAYOUT = {
    "margin": {"l": 64, "r": 16, "t": 40, "b": 48},
    "height": 340,
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "hovermode": "x unified",
    "barmode": "group",
    "legend": {"orientation": "h", "y": -0.2},
}


# --- Estimate on the deal page ------------------------------------------------------------------


@login_required
def deal_estimate(request: HttpRequest, pk: int) -> HttpResponse:
    """The estimate fragment of the deal page: what the deal would pay each seller on it whom the
    viewer may see (empty for anyone else)."""
    try:
        deal = estimator.estimate_deal_for(request.user, pk)
    except NotFound as error:
        raise Http404(error.message) from error
    estimates = estimator.deal_estimates(deal=deal, viewer=request.user)
    return render(
        request,
        "compensation/tools/estimate.html",
        {
            "deal": deal,
            "estimates": estimates,
            "viewer": request.user,
            "note": estimator.NOT_A_PAYOUT,
        },
    )


# --- Amortisation -------------------------------------------------------------------------------


def _default_range() -> tuple[str, str]:
    """The current fiscal year by quarter."""
    calendar = fiscal_calendar()
    year = calendar.fiscal_year_of(timezone.localdate())
    quarters = calendar.periods(year, PeriodKind.QUARTER)
    return quarters[0].key, quarters[-1].key


@login_required
def amortisation_page(request: HttpRequest) -> HttpResponse:
    """The amortisation schedule between two fiscal months or quarters; ``?format=csv|xlsx``
    downloads it."""
    if not can_view_runs(request.user):
        raise PermissionDenied
    default_from, default_to = _default_range()
    start_key = request.GET.get("from") or default_from
    end_key = request.GET.get("to") or default_to
    schedule, error = None, None
    try:
        schedule = amortisation.amortisation_for(request.user, start_key=start_key, end_key=end_key)
    except NotAllowed as refusal:
        raise PermissionDenied(refusal.message) from refusal
    except DomainError as problem:
        error = problem
    fmt = request.GET.get("format", "")
    if schedule is not None and fmt in EXPORT_FORMATS:
        return export_response(
            headers=amortisation.HEADERS,
            rows=amortisation.export_rows(schedule),
            filename=f"commission-amortisation-{schedule.start.key}-{schedule.end.key}",
            fmt=fmt,
        )
    context = {
        "schedule": schedule,
        "error": error,
        "start_key": start_key,
        "end_key": end_key,
        "threshold": amortisation.EXPENSE_TERM_MONTHS,
    }
    return render(request, "compensation/tools/amortisation.html", context)


# --- What-if ------------------------------------------------------------------------------------


class WhatIfForm(forms.Form):
    """The plan version to model and how: on a past period's credits, or a simulated spread."""

    plan = forms.ModelChoiceField(queryset=CompPlan.objects.none(), help_text="Usually a draft.")
    mode = forms.ChoiceField(
        choices=[
            (whatif.PERIOD, "Actual credits of a past period"),
            (whatif.SIMULATED, "Simulated attainment"),
        ],
        initial=whatif.PERIOD,
        widget=forms.RadioSelect,
    )
    period = forms.CharField(
        required=False, max_length=12, help_text="A past fiscal month, quarter or year: 2027-Q1."
    )
    users = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(),
        required=False,
        label="Reps",
        help_text="Blank = everyone on the plan during the period.",
    )
    reps = forms.IntegerField(
        required=False, min_value=1, max_value=whatif.MAX_SIMULATED_REPS, initial=100
    )
    mean = forms.DecimalField(
        required=False, label="Mean attainment (%)", initial=Decimal(90), max_digits=7
    )
    sd = forms.DecimalField(
        required=False, label="Standard deviation (%)", initial=Decimal(30), min_value=0
    )
    seed = forms.IntegerField(required=False, initial=1, min_value=0)
    quota = forms.DecimalField(
        required=False,
        min_value=Decimal("0.01"),
        decimal_places=2,
        label="Quota per rep",
        help_text="Blank = the plan's fixed quota.",
    )

    def __init__(self, *args, viewer: User, **kwargs):
        super().__init__(*args, **kwargs)
        plans = plans_visible_to(viewer).order_by("name", "-version")
        self.fields["plan"].queryset = plans
        self.fields["plan"].label_from_instance = lambda p: (
            f"{p.name} v{p.version} ({p.get_status_display().lower()})"
        )
        self.fields["users"].queryset = (
            User.objects.visible_to(viewer)
            .filter(rep_profile__isnull=False, is_active=True)
            .order_by("last_name", "first_name", "username")
        )

    def clean(self):
        data = super().clean()
        if data.get("mode") == whatif.PERIOD and not data.get("period"):
            self.add_error("period", "Give the past period to model, e.g. 2027-Q1.")
        if data.get("mode") == whatif.SIMULATED:
            for name in ("reps", "mean", "sd", "seed"):
                if data.get(name) is None:
                    self.add_error(name, "Needed to simulate attainment.")
        return data

    def distribution(self) -> whatif.Distribution | None:
        data = self.cleaned_data
        if data["mode"] != whatif.SIMULATED:
            return None
        return whatif.Distribution(
            reps=data["reps"],
            mean=data["mean"],
            sd=data["sd"],
            seed=data["seed"],
            quota=data.get("quota"),
        )


def band_chart(result: whatif.WhatIf) -> dict:
    """The plotly figure (as JSON) of payout by attainment band, the plan beside the live plan."""
    figure = go.Figure(layout=LAYOUT)
    bands = [b.band for b in result.bands]
    figure.add_bar(
        x=bands,
        y=[float(b.cost) for b in result.bands],
        name=str(result.plan),
        marker_color=BLUE,
        hovertemplate="%{y:,.2f}<extra>" + str(result.plan) + "</extra>",
    )
    if result.live is not None:
        figure.add_bar(
            x=bands,
            y=[float(b.live_cost) for b in result.bands],
            name=f"Live: {result.live}",
            marker_color=GREY,
            hovertemplate="%{y:,.2f}<extra>live</extra>",
        )
    figure.update_layout(
        title={"text": "Payout by attainment band", "x": 0},
        xaxis={"title": {"text": "Attainment (% of quota)"}},
        yaxis={"title": {"text": f"Payout ({result.currency})"}, "tickformat": ",.0f"},
    )
    return json.loads(figure.to_json())


@login_required
def whatif_page(request: HttpRequest) -> HttpResponse:
    """Model a plan version: the form, and on POST the outcome (with htmx, only the outcome)."""
    if not request.user.has_perm(whatif.PLANNER_PERMISSION):
        raise PermissionDenied
    data = request.POST if request.method == "POST" else None
    initial = {}
    if request.GET.get("plan"):
        initial["plan"] = request.GET["plan"]
    form = WhatIfForm(data, viewer=request.user, initial=initial)
    result = None
    if data is not None and form.is_valid():
        cleaned = form.cleaned_data
        try:
            result = whatif.whatif_run(
                viewer=request.user,
                plan_id=cleaned["plan"].pk,
                mode=cleaned["mode"],
                period_key=cleaned.get("period") or "",
                user_ids=[u.pk for u in cleaned.get("users") or []],
                distribution=form.distribution(),
            )
        except NotAllowed as refusal:
            raise PermissionDenied(refusal.message) from refusal
        except DomainError as problem:
            field = problem.field if problem.field in form.fields else None
            form.add_error(field, problem.message)
    context = {
        "form": form,
        "result": result,
        "chart": band_chart(result) if result is not None else None,
    }
    if request.htmx and data is not None:
        return render(request, "compensation/tools/partials/whatif_result.html", context)
    return render(request, "compensation/tools/whatif.html", context)
