"""Import target for users (e.g. a Salesforce User export), so owners of imported records exist.

Users are few (thousands at most), so each row goes through the org services that create a user
in one role and, for reps with a team, their rep profile: the same rules as the admin pages.
Imported users get no password; they set one through "forgot password" or an admin.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models.functions import Lower

from salesops.imports.fields import ImportField, Kind
from salesops.imports.lookups import Lookup
from salesops.imports.targets import ImportContext, ImportTarget, Plan, Preset, Record
from salesops.org import services
from salesops.org.models import SalesRole, Team, User
from salesops.org.roles import Role

SALESFORCE_USERS = Preset(
    key="salesforce-user",
    name="Salesforce: User export (User.csv)",
    target="users",
    headers=("Id", "Username", "FirstName", "LastName", "UserType"),
    help="Standard (human) users only; integration and automated users are left out.",
    mapping={
        "fields": {
            "external_id": {"column": "Id"},
            "username": {"column": "Username"},
            "email": {"column": "Email"},
            "first_name": {"column": "FirstName"},
            "last_name": {"column": "LastName"},
            "is_active": {"column": "IsActive"},
            "role": {"default": Role.REP.value},
        },
        "options": {"filter_column": "UserType", "filter_values": "Standard"},
    },
)
MAVEN_TEAMS = Preset(
    key="maven-sales-teams",
    name="Maven CRM sample: sales_teams.csv (agents as reps in their regional office's team)",
    target="users",
    headers=("sales_agent", "manager", "regional_office"),
    help="The regional offices (Central, East, West) must exist as teams first.",
    mapping={
        "fields": {
            "external_id": {"column": "sales_agent"},
            "full_name": {"column": "sales_agent"},
            "team": {"column": "regional_office"},
            "role": {"default": Role.REP.value},
        },
        "options": {},
    },
)


class UserImport(ImportTarget):
    key = "users"
    label = "Users"
    description = "People who sign in. Reps with a team get a rep profile in that team."
    permissions = ("org.add_user", "org.change_user")
    fields = (
        ImportField("external_id", "External id", max_length=64, aliases=("id",)),
        ImportField("username", "Username", max_length=150),
        ImportField("email", "Email", Kind.EMAIL, max_length=254),
        ImportField("first_name", "First name", max_length=150, aliases=("firstname",)),
        ImportField("last_name", "Last name", max_length=150, aliases=("lastname",)),
        ImportField("full_name", "Full name", max_length=300, aliases=("name",),
                    help="Split into first and last name when those are not mapped."),
        ImportField("is_active", "Active", Kind.BOOLEAN, aliases=("isactive",)),
        ImportField("role", "Role", Kind.CHOICE, choices=[(r.value, r.label) for r in Role]),
        ImportField("team", "Team", Kind.REFERENCE,
                    help="Team name (or Parent/Team); reps get a profile there."),
        ImportField("sales_role", "Sales role", Kind.CHOICE, choices=SalesRole.choices),
        ImportField("hire_date", "Hire date", Kind.DATE),
    )  # fmt: skip
    presets = (SALESFORCE_USERS, MAVEN_TEAMS)

    def plan(self, records: dict[int, Record], context: ImportContext) -> Plan:
        plan = Plan()
        keys = {r["external_id"] for r in records.values() if r.get("external_id")}
        existing = {u.external_id: u for u in User.objects.filter(external_id__in=keys)}
        taken = set(
            User.objects.annotate(u=Lower("username")).values_list("u", flat=True).iterator()
        )
        teams = Lookup(
            Team.objects.select_related("parent"),
            lambda t: (t.name, f"{t.parent.name}/{t.name}" if t.parent else None),
            "team",
        )
        for row, record in records.items():
            values = self._names(record)
            for name in ("email", "is_active"):
                if name in record:
                    values[name] = record[name]
            team = None
            if record.get("team"):
                team = teams.find(record["team"])
                if team is None:
                    reason = (
                        "names several teams" if teams.matches(record["team"]) else "does not exist"
                    )
                    context.error(
                        row,
                        "team",
                        f"team '{record['team']}' {reason}; add it on the Teams page first",
                    )
                    continue
            user = existing.get(record.get("external_id"))
            if user is not None:
                changes = {k: v for k, v in values.items() if getattr(user, k) != v}
                role = record.get("role")
                role = role if role and user.role != Role(role) else None
                if changes or role:
                    plan.updates.append((row, user, changes, role))
                else:
                    plan.unchanged += 1
                continue
            username = record.get("username") or _username_for(values, record)
            if not username:
                context.error(row, "username", "needs a username, an email or a name to make one")
                continue
            if username.lower() in taken:
                context.error(row, "username", f"'{username}' is already taken")
                continue
            taken.add(username.lower())
            plan.creates.append(
                {
                    "row": row, "username": username, "values": values,
                    "external_id": record.get("external_id"), "team": team,
                    "role": Role(record.get("role") or Role.REP),
                    "sales_role": record.get("sales_role") or SalesRole.AE,
                    "hire_date": record.get("hire_date") or context.now.date(),
                }
            )  # fmt: skip
        return plan

    def _names(self, record: Record) -> dict[str, Any]:
        values = {k: record[k] for k in ("first_name", "last_name") if k in record}
        if "full_name" in record and not values:
            first, _, last = record["full_name"].partition(" ")
            values = {"first_name": first, "last_name": last or first}
        return values

    def write(self, plan: Plan, context: ImportContext) -> dict[str, int]:
        by = context.acting_user
        for item in plan.creates:
            values = item["values"]
            user = services.user_create(
                username=item["username"], role=item["role"], email=values.get("email", ""),
                first_name=values.get("first_name", ""), last_name=values.get("last_name", ""),
                acting_user=by,
            )  # fmt: skip
            user.external_id = item["external_id"]
            user.is_active = values.get("is_active", True)
            user.save(update_fields=["external_id", "is_active"])
            if item["team"] is not None and item["role"] == Role.REP:
                services.rep_profile_create(
                    user=user, team=item["team"], sales_role=item["sales_role"],
                    employee_id=item["external_id"] or item["username"],
                    hire_date=item["hire_date"], acting_user=by,
                )  # fmt: skip
        for _, user, changes, role in plan.updates:
            for name, value in changes.items():
                setattr(user, name, value)
            if changes:
                user.save(update_fields=list(changes))
            if role and user.role != Role(role):
                services.user_set_role(user=user, role=Role(role), acting_user=by)
        return {"created": len(plan.creates), "updated": len(plan.updates)}

    def describe(self, item) -> str:
        name = " ".join(
            filter(None, [item["values"].get("first_name"), item["values"].get("last_name")])
        )
        team = f", team {item['team']}" if item["team"] else ""
        return f"{name or item['username']} ({item['role'].label}{team})"


def _username_for(values: dict[str, Any], record: Record) -> str:
    if values.get("email"):
        return values["email"]
    name = f"{values.get('first_name', '')}.{values.get('last_name', '')}".strip(".")
    return re.sub(r"[^a-z0-9._-]", "", name.lower().replace(" ", "."))
