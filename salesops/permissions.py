"""The one place that decides which rows a user may see or change.

Every list, page, export and endpoint starts from ``restrict(queryset, user)`` (or its shortcut
``Model.objects.visible_to(user)``). Models opt in by naming how a row belongs to people:

- ``visibility_owner_field``: path to the owning ``User`` (``"owner"``, ``"user"``; ``"pk"`` for User);
- ``visibility_team_field``: path to the owning ``Team`` (``"team"``; ``"pk"`` for Team).

Rules: admins, sales-ops analysts and finance see every row (their Django model permissions
decide which models and actions); a manager sees rows of everyone in the team subtree they
manage, and their own; a rep sees their own rows and their own team; anyone else sees nothing.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q, QuerySet

from salesops.org.roles import ORG_WIDE_ROLES, Role


def restrict(queryset: QuerySet, user, action: str = "view") -> QuerySet:
    """``queryset`` narrowed to the rows ``user`` may ``action`` ("view" or "change")."""
    from salesops.org import selectors

    if user is None or not user.is_authenticated or not user.is_active:
        return queryset.none()
    role = user.role
    if role in ORG_WIDE_ROLES:
        return queryset
    model = queryset.model
    owner_field = getattr(model, "visibility_owner_field", None)
    team_field = getattr(model, "visibility_team_field", None)
    if owner_field is None and team_field is None:
        raise ImproperlyConfigured(
            f"{model.__name__} must declare visibility_owner_field or visibility_team_field."
        )
    if role == Role.MANAGER:
        team_ids = selectors.managed_team_ids(user)
        condition = Q()
        if owner_field:
            condition |= Q(**{f"{owner_field}__in": selectors.managed_user_ids(user)})
        if team_field:
            condition |= Q(**{f"{team_field}__in": team_ids})
        return queryset.filter(condition)
    if role == Role.REP:
        condition = Q()
        if owner_field:
            condition |= Q(**{owner_field: user.pk})
        if team_field:
            profile = getattr(user, "rep_profile", None)
            if profile is not None:
                condition |= Q(**{team_field: profile.team_id})
        return queryset.filter(condition) if condition else queryset.none()
    return queryset.none()


def can_see(user, obj) -> bool:
    """True if ``obj`` is inside ``user``'s visibility scope."""
    return restrict(type(obj)._default_manager.filter(pk=obj.pk), user).exists()
