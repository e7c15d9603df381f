"""Which Django model permissions each role group holds.

Kept as data so every app adds its models' lines here; ``sync_role_groups`` (run after every
migrate) makes the groups match exactly, so a permission removed here is removed in the database.
Row scoping (own / team subtree / all) is separate: see ``salesops.permissions``.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from salesops.org.roles import Role

_VIEW = ("view",)
_EDIT = ("view", "add", "change", "delete")

ROLE_PERMISSIONS: dict[Role, dict[str, tuple[str, ...]]] = {
    Role.REP: {"org.user": _VIEW, "org.team": _VIEW, "org.repprofile": _VIEW},
    Role.MANAGER: {"org.user": _VIEW, "org.team": _VIEW, "org.repprofile": _VIEW},
    Role.OPS: {
        "org.user": _VIEW,
        "org.team": _EDIT,
        "org.repprofile": _EDIT,
        "org.orgsettings": ("view", "change"),
        "org.exchangerate": _VIEW,
    },
    Role.FINANCE: {
        "org.user": _VIEW,
        "org.team": _VIEW,
        "org.repprofile": _VIEW,
        "org.orgsettings": ("view", "change"),
        "org.exchangerate": _EDIT,
    },
    Role.ADMIN: {
        "org.user": _EDIT,
        "org.team": _EDIT,
        "org.repprofile": _EDIT,
        "org.orgsettings": ("view", "change"),
        "org.exchangerate": _EDIT,
        "auth.group": _VIEW,
        "authtoken.token": _EDIT,
    },
}


def sync_role_groups(**_kwargs) -> None:
    """Create the five role groups and set their permissions to exactly ROLE_PERMISSIONS."""
    for role, models in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role.value)
        wanted = []
        for model_label, actions in models.items():
            app_label, model = model_label.split(".")
            codenames = [f"{action}_{model}" for action in actions]
            wanted += Permission.objects.filter(
                content_type__app_label=app_label, codename__in=codenames
            )
        group.permissions.set(wanted)
