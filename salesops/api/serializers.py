from rest_framework import serializers

from salesops.org.models import RepProfile, Team, User
from salesops.org.roles import Role


class RepProfileSerializer(serializers.ModelSerializer):
    team_name = serializers.CharField(source="team.name", read_only=True)

    class Meta:
        model = RepProfile
        fields = [
            "team",
            "team_name",
            "sales_role",
            "employee_id",
            "hire_date",
            "ramp_months",
            "active",
        ]


class UserSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=Role.choices, read_only=True, allow_null=True)
    full_name = serializers.CharField(source="get_full_name", read_only=True)
    rep_profile = RepProfileSerializer(read_only=True, allow_null=True)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "full_name",
            "first_name",
            "last_name",
            "email",
            "role",
            "is_active",
            "rep_profile",
        ]


class TeamSerializer(serializers.ModelSerializer):
    manager_name = serializers.CharField(
        source="manager.get_full_name", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = Team
        fields = ["id", "name", "parent", "manager", "manager_name"]
