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

_SELL = ("view", "add", "change")
# What people who sell may do with CRM records (their visibility scope narrows it to their rows).
_CRM_SELLING = {
    "crm.account": _SELL,
    "crm.contact": _SELL,
    "crm.deal": _SELL,
    "crm.activity": _EDIT,
    "crm.pipeline": _VIEW,
    "crm.stage": _VIEW,
    "crm.dealhistory": _VIEW,
    "crm.lead": _SELL,
    "crm.leadroutingrule": _VIEW,
    "crm.dealsplit": _SELL,
}
_CRM_ALL = {
    "crm.account": _EDIT,
    "crm.contact": _EDIT,
    "crm.deal": _EDIT,
    "crm.activity": _EDIT,
    "crm.pipeline": _EDIT,
    "crm.stage": _EDIT,
    "crm.dealhistory": _VIEW,
    "crm.lead": _EDIT,
    "crm.leadroutingrule": _EDIT,
    "crm.dealsplit": _EDIT,
}
_CRM_READ = {label: _VIEW for label in _CRM_ALL}
# Territory planning: sales ops plan (and admins); finance reads; sellers see their own quotas
# and the reviews they are asked for (their visibility scope narrows it to their rows).
_TERRITORY_MODELS = (
    "territoryplan", "territory", "territorymember", "assignmentrule", "assignmentrun",
    "assignmentmove", "accountterritory", "rampprofile", "quotaplan", "quota", "quotareview",
)  # fmt: skip
_TERRITORIES_ALL = {f"territories.{name}": _EDIT for name in _TERRITORY_MODELS}
_TERRITORIES_READ = {f"territories.{name}": _VIEW for name in _TERRITORY_MODELS}
_TERRITORIES_SELLING = {
    "territories.quota": _VIEW,
    "territories.quotaplan": _VIEW,
    "territories.quotareview": ("view", "change"),
}
# Compensation: sales ops build plans, run and adjust commissions and answer disputes; finance
# approves, locks and exports; sellers read their own plan, lines and disputes and may open one.
_COMP_MODELS = (
    "compplan", "planassignment", "commissionrun", "credit", "payoutline", "linecredit",
    "manualadjustment", "dispute",
)  # fmt: skip
_COMP_ALL = {f"compensation.{name}": _EDIT for name in _COMP_MODELS}
_COMP_OPS = {
    **_COMP_ALL,
    "compensation.credit": _VIEW,
    "compensation.payoutline": _VIEW,
    "compensation.linecredit": _VIEW,
}
_COMP_FINANCE = {
    **{f"compensation.{name}": _VIEW for name in _COMP_MODELS},
    "compensation.commissionrun": ("view", "change"),
}
_COMP_SELLING = {
    "compensation.compplan": _VIEW,
    "compensation.planassignment": ("view", "change"),  # accepting the plan
    "compensation.payoutline": _VIEW,
    "compensation.linecredit": _VIEW,
    "compensation.credit": _VIEW,
    "compensation.dispute": ("view", "add"),
}
# Importing spreadsheets: sales ops and admins (who may then write what each target needs).
_IMPORTS = {"imports.importjob": _EDIT, "imports.importmapping": _EDIT}

ROLE_PERMISSIONS: dict[Role, dict[str, tuple[str, ...]]] = {
    Role.REP: {
        "org.user": _VIEW,
        "org.team": _VIEW,
        "org.repprofile": _VIEW,
        **_CRM_SELLING,
        **_COMP_SELLING,
        "territories.quota": _VIEW,
        "territories.quotaplan": _VIEW,
    },
    Role.MANAGER: {
        "org.user": _VIEW,
        "org.team": _VIEW,
        "org.repprofile": _VIEW,
        **_CRM_SELLING,
        **_TERRITORIES_SELLING,
        **_COMP_SELLING,
    },
    Role.OPS: {
        **_CRM_ALL,
        **_TERRITORIES_ALL,
        **_COMP_OPS,
        **_IMPORTS,
        "org.user": _VIEW,
        "org.team": _EDIT,
        "org.repprofile": _EDIT,
        "org.orgsettings": ("view", "change"),
        "org.exchangerate": _VIEW,
    },
    Role.FINANCE: {
        **_CRM_READ,
        **_TERRITORIES_READ,
        **_COMP_FINANCE,
        "org.user": _VIEW,
        "org.team": _VIEW,
        "org.repprofile": _VIEW,
        "org.orgsettings": ("view", "change"),
        "org.exchangerate": _EDIT,
    },
    Role.ADMIN: {
        **_CRM_ALL,
        **_TERRITORIES_ALL,
        **_COMP_ALL,
        **_IMPORTS,
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
