"""Import target for a plan's assignment rules: the bulk edit of ``territories.exports``' CSV.

A file REPLACES every rule of one plan (a draft scenario, or the live plan), all or nothing: the
plan is the import's ``plan`` option (id or name). Every row is checked before anything is
written (the territory key exists in that plan, numbers are numbers, a minimum is not above its
maximum, a catch-all sets no conditions) and the file must hold exactly one catch-all rule, so
no account can land nowhere. The rules are then written through ``territories.services`` (the
same checks as an edit on the page), inside the engine's one transaction.

``rules_import`` runs the target on a CSV text for the plan pages and the API; the generic
import pages and API run it too (target ``territory_rules``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q

from crm.models import Segment
from salesops.errors import DomainError
from salesops.exports import FORMULA_TRIGGERS
from salesops.imports.engine import Outcome, run_import
from salesops.imports.fields import ImportField, ImportOption, Kind, parse_country, parse_integer
from salesops.imports.reading import read_table
from salesops.imports.targets import ImportContext, ImportTarget, Plan, Record
from salesops.org.models import User
from salesops.permissions import restrict
from territories import services
from territories.exports import LIST_COLUMNS, LIST_SEPARATOR, RULE_COLUMNS
from territories.models import AssignmentRule, Territory, TerritoryPlan

TARGET_KEY = "territory_rules"
ZERO = Decimal(0)
CONDITIONS = (
    "countries", "regions", "postal_prefixes", "industries", "segments", "employees_min",
    "employees_max", "revenue_min", "revenue_max", "named_account_ids",
)  # fmt: skip
_SEGMENTS = {
    **{str(label).lower(): value for value, label in Segment.choices},
    **{value: value for value in Segment.values},
}


def _field(name: str, kind: Kind = Kind.TEXT, **kwargs) -> ImportField:
    # The file's columns are fixed (the rules export), so a field's label is its column name:
    # a report line then reads "Row 3, territory_key: …", naming the column to fix.
    return ImportField(name, name, kind, **kwargs)


class AssignmentRuleImport(ImportTarget):
    key = TARGET_KEY
    label = "Territory rules"
    description = (
        "Replaces every assignment rule of one territory plan (a draft scenario or the live "
        "plan) with the rows of the file: the CSV that the plan's rules export gives."
    )
    permissions = (
        "territories.add_assignmentrule",
        "territories.change_assignmentrule",
        "territories.delete_assignmentrule",
    )
    fields = (
        _field("position", Kind.INTEGER, required=True, minimum=ZERO,
               help="Rules are tried from the lowest position; the catch-all always last."),
        _field("territory_key", required=True, max_length=60,
               help="Key of a territory of the plan (e.g. us-west-norcal)."),
        _field("name", max_length=120),
        _field("countries", help="ISO codes or country names, separated by ';'."),
        _field("regions", help="States or regions, separated by ';'."),
        _field("postal_prefixes", help="Postal code prefixes, separated by ';'."),
        _field("industries", help="Industries, separated by ';'."),
        _field("segments", help="smb, mid or ent, separated by ';'."),
        _field("employees_min", Kind.INTEGER, minimum=ZERO),
        _field("employees_max", Kind.INTEGER, minimum=ZERO),
        _field("revenue_min", Kind.DECIMAL, minimum=ZERO),
        _field("revenue_max", Kind.DECIMAL, minimum=ZERO),
        _field("named_account_ids", help="Account ids, separated by ';'."),
        _field("catch_all", Kind.BOOLEAN,
               help="yes on exactly one row: the rule that takes every account left."),
    )  # fmt: skip
    options = (
        ImportOption(
            "plan",
            "Territory plan",
            help="Id or name of the draft scenario (or the live plan) whose rules the file "
            "replaces.",
        ),
    )
    key_field = None  # rules have no identity across files: the file is the whole set

    def plan(self, records: dict[int, Record], context: ImportContext) -> Plan:
        target = _plan_option(context)
        services.require_planner(context.acting_user)
        services.require_editable(target)
        territories = {t.key.lower(): t for t in Territory.objects.filter(plan=target)}
        plan = Plan(extra={"plan": target})
        catch_all_row: int | None = None
        for row, record in records.items():
            fields = self._fields(row, record, territories, target, context)
            if fields is None:
                continue
            if fields["catch_all"]:
                if catch_all_row is not None:
                    context.error(
                        row, "catch_all",
                        f"the catch-all rule is already on row {catch_all_row}; "
                        "a plan has exactly one",
                    )  # fmt: skip
                    continue
                catch_all_row = row
            plan.creates.append({"row": row, "fields": fields})
        if catch_all_row is None and not context.errors:
            raise DomainError(
                "The file has no catch-all rule, so some accounts could land nowhere: set "
                "catch_all to yes on the last rule (the one that takes every account left).",
                field="catch_all",
            )
        replaced = target.rules.count()
        plan.notes.append(f"Replaces the {replaced} rule{'s' * (replaced != 1)} of {target}.")
        return plan

    def _fields(
        self,
        row: int,
        record: Record,
        territories: dict[str, Territory],
        target: TerritoryPlan,
        context: ImportContext,
    ) -> dict[str, Any] | None:
        """The ``rule_save`` fields of one row, or None after reporting what is wrong with it."""
        record = {k: _unescaped(v) if isinstance(v, str) else v for k, v in record.items()}
        failed = False

        def fail(field_name: str, message: str) -> None:
            nonlocal failed
            context.error(row, field_name, message)
            failed = True

        key = record["territory_key"]
        territory = territories.get(key.lower())
        if territory is None:
            fail("territory_key", f"no territory '{key}' in this plan")
        fields: dict[str, Any] = {
            "territory": territory,
            "position": record["position"],
            "name": record.get("name", ""),
            "catch_all": record.get("catch_all", False),
        }
        for name in ("employees_min", "employees_max", "revenue_min", "revenue_max"):
            fields[name] = record.get(name)
        for name in LIST_COLUMNS:
            try:
                fields[name] = _list(name, record.get(name, ""))
            except ValueError as error:
                fail(name, str(error))
        for low, high in (("employees_min", "employees_max"), ("revenue_min", "revenue_max")):
            if fields[low] is not None and fields[high] is not None and fields[low] > fields[high]:
                fail(low, f"the minimum ({fields[low]}) is more than the maximum ({fields[high]})")
        if fields["catch_all"] and any(fields.get(f) not in (None, []) for f in CONDITIONS):
            fail("catch_all", "a catch-all rule takes every account left, so it sets no conditions")
        if failed:
            return None
        # What the model itself checks (lengths, decimal places), as the service will.
        rule = AssignmentRule(plan=target, **fields)
        try:
            rule.full_clean(exclude=["plan", "territory"], validate_constraints=False)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                context.error(row, name, " ".join(messages))
            return None
        return fields

    def write(self, plan: Plan, context: ImportContext) -> dict[str, int]:
        target: TerritoryPlan = plan.extra["plan"]
        user = context.acting_user
        old = list(AssignmentRule.objects.filter(plan=target).select_related("plan"))
        old_catch_all = next((r for r in old if r.catch_all), None)
        for rule in old:
            if not rule.catch_all:
                services.rule_delete(rule=rule, acting_user=user)
        for item in plan.creates:
            fields = item["fields"]
            existing = old_catch_all if fields["catch_all"] else None
            services.rule_save(plan=target, acting_user=user, rule=existing, fields=fields)
        return {"removed": len(old), "written": len(plan.creates)}

    def describe(self, item) -> str:
        fields = item["fields"]
        what = "catch-all" if fields["catch_all"] else (fields["name"] or "rule")
        return f"{fields['position']}: {what} → {fields['territory'].key}"


def _plan_option(context: ImportContext) -> TerritoryPlan:
    """The plan named by the ``plan`` option (an id or a name), among the caller's plans."""
    text = str(context.options.get("plan") or "").strip()
    if not text:
        raise DomainError("Choose the territory plan whose rules the file replaces.", field="plan")
    plans = restrict(TerritoryPlan.objects.all(), context.acting_user, "change")
    if context.commit:
        plans = plans.select_for_update()
    condition = Q(name__iexact=text) | (Q(pk=int(text)) if text.isdigit() else Q())
    found = list(plans.filter(condition)[:2])
    if len(found) != 1:
        reason = "names several plans" if found else "is not the id or name of a plan"
        raise DomainError(f"'{text}' {reason}.", field="plan")
    return found[0]


def _unescaped(text: str) -> str:
    """The text an export wrote with a leading apostrophe (so it would not run as a formula)."""
    if text.startswith("'") and text[1:].startswith(FORMULA_TRIGGERS):
        return text[1:]
    return text


def _list(name: str, text: str) -> list:
    values = [v.strip() for v in text.split(LIST_SEPARATOR) if v.strip()]
    if name == "countries":
        return [_country(v) for v in values]
    if name == "segments":
        return [_segment(v) for v in values]
    if name == "named_account_ids":
        return [parse_integer(v) for v in values]
    return values


def _country(text: str) -> str:
    # Two letters are kept as written (as the rule form does); names and ISO-3 become ISO-2.
    if len(text) == 2 and text.isalpha():
        return text.upper()
    try:
        return parse_country(text)
    except LookupError:  # pycountry's fuzzy search raises when nothing is even close
        raise ValueError(f"not a country name or ISO code: '{text}'") from None


def _segment(text: str) -> str:
    try:
        return _SEGMENTS[text.lower()]
    except KeyError:
        allowed = ", ".join(Segment.values)
        raise ValueError(f"'{text}' is not a segment ({allowed})") from None


def report_lines(report: dict[str, Any]) -> list[str]:
    """The report's row errors as sentences: "Row 3, territory_key: no territory …"."""
    lines = []
    for error in report.get("errors") or []:
        message = error["message"]
        end = "" if message.endswith(".") else "."
        lines.append(f"Row {error['row']}, {error['field']}: {message}{end}")
    return lines


def rules_import(
    *, plan: TerritoryPlan, csv_text: str | bytes, acting_user: User, commit: bool = True
) -> Outcome:
    """Replace ``plan``'s rules with the rules in ``csv_text`` (the rules export's format).

    All or nothing: with any row error nothing is written, and the outcome's report lists every
    error (row, field, message; ``report_lines`` words them). A problem with the file as a whole
    (columns missing or unknown, no catch-all rule, a plan that cannot be edited) raises
    ``DomainError``. ``commit=False`` checks the file and writes nothing.
    """
    content = csv_text.encode() if isinstance(csv_text, str) else csv_text
    table = read_table(content, "rules.csv")
    unknown = [c for c in table.columns if c not in RULE_COLUMNS]
    missing = [c for c in RULE_COLUMNS if c not in table.columns]
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"unknown columns: {', '.join(unknown)}")
        if missing:
            problems.append(f"missing columns: {', '.join(missing)}")
        raise DomainError(
            f"The file is not a rules export ({'; '.join(problems)}). Its header must be: "
            f"{','.join(RULE_COLUMNS)}.",
            field="file",
        )
    mapping = {
        "fields": {name: {"column": name} for name in RULE_COLUMNS},
        "options": {"plan": str(plan.pk)},
    }
    return run_import(
        content=content, file_name="rules.csv", target_key=TARGET_KEY, mapping=mapping,
        acting_user=acting_user, commit=commit, reason="rules_import",
    )  # fmt: skip
