"""One FilterSet per CRM model, shared by list pages, the API and exports."""

import django_filters
from django import forms
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from crm import quality
from crm.models import (
    Account,
    Activity,
    Contact,
    Deal,
    DealHistory,
    ForecastCategory,
    Lead,
    LeadSource,
    LeadStatus,
    Segment,
    Stage,
)
from salesops.org.models import Team, User
from salesops.org.selectors import team_subtree_ids


def _owners_in_scope(request) -> QuerySet:
    """Owners the person may filter by: their scope's reps and managers, leavers included.

    Scoped so a rep's dropdown holds one name and a manager's their subtree, not the whole org.
    """
    if request is None:
        return User.objects.none()
    return (
        User.objects.visible_to(request.user)
        .filter(Q(rep_profile__isnull=False) | Q(managed_teams__isnull=False))
        .distinct()
        .order_by("last_name", "first_name", "username")
    )


def owned_by_team(team_ids: list[int]) -> Q:
    """Deals whose owner sells in one of ``team_ids``, or, having no rep profile, manages one of
    them (the KPIs count a manager's own deals to the team they manage the same way)."""
    return Q(owner__rep_profile__team__in=team_ids) | Q(
        owner__rep_profile__isnull=True,
        owner__in=Team.objects.filter(pk__in=team_ids).values("manager"),
    )


class DealFilterSet(django_filters.FilterSet):
    owner = django_filters.ModelChoiceFilter(queryset=_owners_in_scope)
    # One query for every option's "Pipeline › Stage" label, not one per option.
    stage = django_filters.ModelChoiceFilter(
        queryset=Stage.objects.select_related("pipeline").order_by("pipeline__name", "position")
    )
    team = django_filters.NumberFilter(method="filter_team", label="Team (and teams below it)")
    status = django_filters.ChoiceFilter(
        choices=[("open", "Open"), ("won", "Won"), ("lost", "Lost"), ("closed", "Won or lost")],
        method="filter_status",
    )
    segment = django_filters.ChoiceFilter(field_name="account__segment", choices=Segment.choices)
    created_after = django_filters.DateFilter(field_name="created_at__date", lookup_expr="gte")
    created_before = django_filters.DateFilter(field_name="created_at__date", lookup_expr="lte")
    # "Entered this stage between these days", from stage history: a dashboard funnel's deals.
    entered_stage = django_filters.NumberFilter(method="filter_entered", label="Entered stage")
    entered_after = django_filters.DateFilter(method="filter_entered", label="Entered from")
    entered_before = django_filters.DateFilter(method="filter_entered", label="Entered until")
    quality = django_filters.ChoiceFilter(
        choices=[(c.key, c.title) for c in quality.CHECKS],
        method="filter_quality",
        label="Data-quality issue",
    )
    close_date_after = django_filters.DateFilter(field_name="close_date", lookup_expr="gte")
    close_date_before = django_filters.DateFilter(field_name="close_date", lookup_expr="lte")
    amount_min = django_filters.NumberFilter(field_name="amount", lookup_expr="gte")
    amount_max = django_filters.NumberFilter(field_name="amount", lookup_expr="lte")
    forecast_category = django_filters.ChoiceFilter(choices=ForecastCategory.choices)
    q = django_filters.CharFilter(method="filter_text", label="Deal or account name contains")
    # By id: a dropdown of every account would render 200k options on a large org.
    account = django_filters.NumberFilter(field_name="account", label="Account id")

    class Meta:
        model = Deal
        fields = ["owner", "pipeline", "stage", "account", "type", "forecast_category"]

    def filter_team(self, queryset, name, value):
        return queryset.filter(owned_by_team(team_subtree_ids([value])))

    def filter_status(self, queryset, name, value):
        if value == "open":
            return queryset.open()
        if value == "closed":
            return queryset.filter(closed_at__isnull=False)
        return queryset.filter(**{f"stage__is_{value}": True})

    def filter_entered(self, queryset, name, value):
        """Applied once, for the three ``entered_*`` fields together."""
        data = self.form.cleaned_data
        if name != "entered_stage" and data.get("entered_stage") is not None:
            return queryset  # the stage's filter applies the dates as well
        entries = DealHistory.objects.filter(deal=OuterRef("pk")).exclude(from_stage=F("to_stage"))
        if data.get("entered_stage") is not None:
            entries = entries.filter(to_stage=data["entered_stage"])
        if data.get("entered_after"):
            entries = entries.filter(changed_at__date__gte=data["entered_after"])
        if data.get("entered_before"):
            entries = entries.filter(changed_at__date__lte=data["entered_before"])
        return queryset.filter(Exists(entries))

    def filter_quality(self, queryset, name, value):
        return quality.failing(queryset, value)

    def filter_text(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(account__name__icontains=value))


class AccountFilterSet(django_filters.FilterSet):
    segment = django_filters.ChoiceFilter(choices=Segment.choices)
    q = django_filters.CharFilter(method="filter_text", label="Name or domain contains")

    class Meta:
        model = Account
        fields = ["owner", "country", "region", "industry", "segment", "parent"]

    def filter_text(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(domain__icontains=value))


class ContactFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_text", label="Name or email contains")

    class Meta:
        model = Contact
        fields = ["account", "owner"]

    def filter_text(self, queryset, name, value):
        return queryset.filter(
            Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
            | Q(email__icontains=value)
        )


class ActivityFilterSet(django_filters.FilterSet):
    open_tasks = django_filters.BooleanFilter(
        method="filter_open_tasks", label="Only tasks not done yet"
    )

    class Meta:
        model = Activity
        fields = ["kind", "deal", "account", "contact", "owner"]

    def filter_open_tasks(self, queryset, name, value):
        return queryset.filter(done_at__isnull=value) if value is not None else queryset


class LeadFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=LeadStatus.choices)
    source = django_filters.ChoiceFilter(choices=LeadSource.choices)
    q = django_filters.CharFilter(method="filter_text", label="Name, company or email contains")
    mine = django_filters.BooleanFilter(
        method="filter_mine", label="Only my leads", widget=forms.CheckboxInput
    )

    class Meta:
        model = Lead
        fields = ["status", "owner", "source", "country"]

    def filter_text(self, queryset, name, value):
        return queryset.filter(
            Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
            | Q(company__icontains=value)
            | Q(email__icontains=value)
        )

    def filter_mine(self, queryset, name, value):
        user = getattr(self.request, "user", None)
        if not value or user is None:
            return queryset
        return queryset.filter(owner=user)
