"""One FilterSet per model: the list pages, the API and exports share them."""

import django_filters

from salesops.org.models import RepProfile, SalesRole, Team, User
from salesops.org.roles import Role


class UserFilterSet(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=Role.choices, field_name="groups__name")
    team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(), field_name="rep_profile__team"
    )
    sales_role = django_filters.ChoiceFilter(
        choices=SalesRole.choices, field_name="rep_profile__sales_role"
    )

    class Meta:
        model = User
        fields = ["role", "team", "sales_role", "is_active"]


class TeamFilterSet(django_filters.FilterSet):
    top_level = django_filters.BooleanFilter(field_name="parent", lookup_expr="isnull")

    class Meta:
        model = Team
        fields = ["parent", "manager", "top_level"]


class RepProfileFilterSet(django_filters.FilterSet):
    class Meta:
        model = RepProfile
        fields = ["team", "sales_role", "active"]
