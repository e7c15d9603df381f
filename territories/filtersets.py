"""One FilterSet per territory model, shared by the API (and the pages and exports to come).

People are filtered by id, not by a dropdown of every user: an org has thousands of them.
"""

import django_filters
from django.db.models import F, Q

from territories.models import (
    AssignmentMove,
    AssignmentRule,
    AssignmentRun,
    MemberRole,
    PlanStatus,
    RunStatus,
    Territory,
    TerritoryMember,
    TerritoryPlan,
    TerritoryType,
)


class TerritoryPlanFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=PlanStatus.choices)
    based_on = django_filters.NumberFilter(field_name="based_on", label="Copied from plan id")

    class Meta:
        model = TerritoryPlan
        fields = ["status", "based_on"]


class TerritoryFilterSet(django_filters.FilterSet):
    plan = django_filters.NumberFilter(field_name="plan", label="Plan id")
    parent = django_filters.NumberFilter(field_name="parent", label="Parent territory id")
    top_level = django_filters.BooleanFilter(
        field_name="parent", lookup_expr="isnull", label="Only territories without a parent"
    )
    type = django_filters.ChoiceFilter(choices=TerritoryType.choices)
    manager = django_filters.NumberFilter(field_name="manager", label="Manager (user id)")
    key = django_filters.CharFilter(field_name="key")
    q = django_filters.CharFilter(method="filter_text", label="Key or name contains")

    class Meta:
        model = Territory
        fields = ["plan", "parent", "type", "manager", "key"]

    def filter_text(self, queryset, name, value):
        return queryset.filter(Q(key__icontains=value) | Q(name__icontains=value))


class TerritoryMemberFilterSet(django_filters.FilterSet):
    plan = django_filters.NumberFilter(field_name="territory__plan", label="Plan id")
    territory = django_filters.NumberFilter(field_name="territory", label="Territory id")
    user = django_filters.NumberFilter(field_name="user", label="User id")
    role = django_filters.ChoiceFilter(choices=MemberRole.choices)

    class Meta:
        model = TerritoryMember
        fields = ["plan", "territory", "user", "role"]


class AssignmentRuleFilterSet(django_filters.FilterSet):
    plan = django_filters.NumberFilter(field_name="plan", label="Plan id")
    territory = django_filters.NumberFilter(field_name="territory", label="Territory id")
    catch_all = django_filters.BooleanFilter()

    class Meta:
        model = AssignmentRule
        fields = ["plan", "territory", "catch_all"]


class AssignmentRunFilterSet(django_filters.FilterSet):
    plan = django_filters.NumberFilter(field_name="plan", label="Plan id")
    status = django_filters.MultipleChoiceFilter(choices=RunStatus.choices)

    class Meta:
        model = AssignmentRun
        fields = ["plan", "status"]


class AssignmentMoveFilterSet(django_filters.FilterSet):
    to_territory = django_filters.NumberFilter(field_name="to_territory", label="To territory id")
    account = django_filters.NumberFilter(field_name="account", label="Account id")
    owner_changed = django_filters.BooleanFilter(method="filter_owner_changed")

    class Meta:
        model = AssignmentMove
        fields = ["to_territory", "account"]

    def filter_owner_changed(self, queryset, name, value):
        changed = ~Q(from_owner=F("to_owner"))
        return queryset.filter(changed) if value else queryset.exclude(changed)
