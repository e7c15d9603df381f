"""Navigation for the base layout, chosen by the user's role."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from salesops.org.roles import Role


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    roles: frozenset[Role] | None = None  # None: every signed-in user
    permission: str | None = None  # also needed, when set (e.g. "imports.add_importjob")

    def visible_for(self, role: Role | None, user=None) -> bool:
        if self.permission is not None and (user is None or not user.has_perm(self.permission)):
            return False
        return self.roles is None or role in self.roles


NAV_ITEMS = [
    NavItem("Home", "home"),
    NavItem("Board", "crm:board", frozenset({Role.REP, Role.MANAGER, Role.OPS, Role.ADMIN})),
    NavItem("Deals", "crm:deal_list"),
    NavItem("Dashboard", "reporting:dashboard"),
    NavItem("Reports", "reporting:saved_report_list"),
    # Every role may view accounts and leads (its scope narrows which ones).
    NavItem("Accounts", "crm:account_list", frozenset(Role)),
    NavItem("Leads", "crm:lead_list", frozenset(Role)),
    NavItem("Territories", "territories:tree", permission="territories.view_territory"),
    # Every role: reps see their own quota and attainment, managers their reviews and subtree.
    NavItem("Quotas", "quotas:home", frozenset(Role)),
    # Every role: sellers see the plans they are on (and accept them), ops build and assign.
    NavItem("Comp plans", "compensation:plan_list", permission="compensation.view_compplan"),
    # Sellers read their own settled statements; managers also their team's.
    NavItem(
        "My commissions",
        "compensation:my_commissions",
        frozenset({Role.REP, Role.MANAGER}),
        permission="compensation.view_payoutline",
    ),
    NavItem("Disputes", "compensation:dispute_list", frozenset({Role.OPS, Role.ADMIN})),
    # Commission runs: sales ops calculate and adjust, finance approve, pay and export.
    NavItem(
        "Commissions",
        "compensation:run_list",
        frozenset({Role.OPS, Role.FINANCE, Role.ADMIN}),
        permission="compensation.view_commissionrun",
    ),
    NavItem("Pipelines", "crm:pipeline_settings", frozenset({Role.OPS, Role.ADMIN})),
    NavItem("Data quality", "reporting:quality", frozenset({Role.OPS, Role.ADMIN})),
    NavItem("Import", "imports:list", permission="imports.add_importjob"),
    NavItem(
        "Teams", "org:team_list", frozenset({Role.MANAGER, Role.OPS, Role.FINANCE, Role.ADMIN})
    ),
    NavItem("Exchange rates", "org:rate_list", frozenset({Role.OPS, Role.FINANCE, Role.ADMIN})),
    NavItem("Audit log", "org:audit_list", frozenset({Role.OPS, Role.FINANCE, Role.ADMIN})),
    NavItem("Settings", "org:settings", frozenset({Role.OPS, Role.FINANCE, Role.ADMIN})),
    NavItem("API", "api-docs", frozenset({Role.OPS, Role.FINANCE, Role.ADMIN})),
]


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    role = user.role
    current = request.resolver_match.view_name if request.resolver_match else ""
    items = [
        {"label": item.label, "url": reverse(item.url_name), "active": item.url_name == current}
        for item in NAV_ITEMS
        if item.visible_for(role, user)
    ]
    return {"nav_items": items, "user_role": role, "show_admin_link": user.is_staff}
