"""Kernel API: users, teams and the current user. Every queryset starts from ``visible_to``."""

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from salesops.api.serializers import TeamSerializer, UserSerializer
from salesops.org.filtersets import TeamFilterSet, UserFilterSet
from salesops.org.models import Team, User


def _users(queryset):
    from django.contrib.auth.models import Group

    return queryset.select_related("rep_profile__team").prefetch_related(
        Prefetch("groups", queryset=Group.objects.only("name"))
    )


class UserViewSet(viewsets.ReadOnlyModelViewSet):
    """Users in the caller's scope: reps see themselves, managers their team subtree."""

    serializer_class = UserSerializer
    filterset_class = UserFilterSet
    search_fields = ["username", "first_name", "last_name", "email"]
    ordering_fields = ["username", "last_name", "date_joined"]
    ordering = ["last_name", "first_name", "username"]

    def get_queryset(self):
        return _users(User.objects.visible_to(self.request.user)).distinct()


class TeamViewSet(viewsets.ReadOnlyModelViewSet):
    """Teams in the caller's scope: a manager's subtree, a rep's own team, or all."""

    serializer_class = TeamSerializer
    filterset_class = TeamFilterSet
    search_fields = ["name"]
    ordering_fields = ["name"]
    ordering = ["name"]

    def get_queryset(self):
        return Team.objects.visible_to(self.request.user).select_related("manager")


class MeView(APIView):
    """The signed-in user, with role and rep profile."""

    @extend_schema(responses=UserSerializer)
    def get(self, request):
        user = _users(User.objects.filter(pk=request.user.pk)).get()
        return Response(UserSerializer(user).data)
