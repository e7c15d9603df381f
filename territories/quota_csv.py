"""A quota plan's quotas as CSV: the file sales ops bulk-edit in a spreadsheet and import back.

Columns (``QUOTA_COLUMNS``), one row per quota:

* ``period_key``: the fiscal period, ``2027`` (year), ``2027-Q01`` (quarter), ``2027-M03`` (month);
* ``holder_type``: ``rep``, ``team`` or ``territory``;
* ``holder``: a rep's username (or employee id), a team's name (its path, ``Americas / East``,
  when several teams share the name), a territory's key;
* ``amount``: what the holder carries (ramped, for reps), in the plan's currency;
* ``full_amount``: the quota before ramp. It comes from allocation: the import leaves it as it is
  (for teams and territories it follows ``amount``, as with an edit on the page).

The export lists each holder's year, then each quarter followed by its months, reps first, then
teams, then territories, by name; it is scoped like every list (``restrict``). Text a spreadsheet
would run as a formula gets a leading apostrophe (``salesops.exports.safe_cell``); the import
takes it off again.

The import (``quota_plan_import``) changes existing quotas, all or nothing, in one transaction:
every row is checked first, and any error (reported as "Row 4, holder: no rep 'jdoe'.", with
spreadsheet row numbers, the header being row 1) writes nothing. Rows whose amount is what the
plan holds change nothing, so an export imported unchanged is a no-op. Each changed row is then
applied as ``territories.quotas.quota_set`` applies an edit (the same arithmetic: a month moves
its quarter and year, a quarter or year is spread over its parts), finest periods first, so a
spreadsheet where only months were edited, or months and their sums together, both import. A
file whose changes contradict each other (a quarter and its months that do not add up) is refused
row by row. Changed rows are marked ``source = import``; the audit trail records the acting user
and the reason "CSV import". A published (locked) plan refuses the import.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from salesops.audit import audit_context
from salesops.errors import DomainError, NotAllowed
from salesops.exports import FORMULA_TRIGGERS, safe_cell
from salesops.fiscal import PeriodKind
from salesops.imports.reading import read_table
from salesops.money import minor_unit, round_money
from salesops.org.models import Team, User
from salesops.org.selectors import fiscal_calendar
from salesops.permissions import restrict
from territories.models import Quota, QuotaPlan, QuotaSource, Territory

# The rules of an ops edit, shared with ``quota_set`` so that an import and a page edit of the
# same cell give the same quotas (lock the plan, refuse a published one, keep periods adding up).
from territories.quotas import edit_holder_periods, plan_locked_for_write, require_unlocked

QUOTA_COLUMNS = ("period_key", "holder_type", "holder", "amount", "full_amount")
REQUIRED_COLUMNS = ("period_key", "holder_type", "holder", "amount")
HOLDER_TYPES = ("rep", "team", "territory")
IMPORT_REASON = "CSV import"
TEAM_PATH_SEPARATOR = " / "
_KIND_ORDER = {PeriodKind.YEAR: 0, PeriodKind.QUARTER: 1, PeriodKind.MONTH: 2}
_FINEST_FIRST = {PeriodKind.MONTH: 0, PeriodKind.QUARTER: 1, PeriodKind.YEAR: 2}


# --- Export --------------------------------------------------------------------------------------


def team_labels() -> dict[int, str]:
    """Each team's label in the file: its name, or its path from the root when another team
    has the same name (``Americas / East``). One query."""
    teams = {
        pk: (name, parent)
        for pk, name, parent in Team.objects.values_list("pk", "name", "parent_id")
    }
    counts: dict[str, int] = defaultdict(int)
    for name, _parent in teams.values():
        counts[name.lower()] += 1
    labels = {}
    for pk, (name, parent) in teams.items():
        if counts[name.lower()] == 1:
            labels[pk] = name
            continue
        path, seen = [name], {pk}
        while parent is not None and parent not in seen:
            seen.add(parent)
            parent_name, parent = teams[parent]
            path.append(parent_name)
        labels[pk] = TEAM_PATH_SEPARATOR.join(reversed(path))
    return labels


def quota_rows(plan: QuotaPlan, user: User) -> Iterator[list]:
    """The plan's quotas that ``user`` may see, as rows of ``QUOTA_COLUMNS`` values, in the
    order of the module docstring. Two queries."""
    labels = team_labels()
    quotas = restrict(Quota.objects.filter(plan=plan), user).values_list(
        "period_key", "period_kind", "period_start", "user__username", "team_id",
        "territory__key", "amount", "full_amount",
    )  # fmt: skip
    rows = []
    for key, kind, start, username, team_id, territory_key, amount, full_amount in quotas:
        if username is not None:
            holder_type, holder = "rep", username
        elif team_id is not None:
            holder_type, holder = "team", labels[team_id]
        else:
            holder_type, holder = "territory", territory_key
        order = (HOLDER_TYPES.index(holder_type), holder.lower(), start, _KIND_ORDER[kind])
        rows.append((order, [key, holder_type, holder, amount, full_amount]))
    rows.sort(key=lambda row: row[0])
    for _order, row in rows:
        yield row


def quotas_csv(plan: QuotaPlan, user: User) -> str:
    """The CSV text of the plan's quotas ``user`` may see (with a BOM, so Excel reads UTF-8)."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(QUOTA_COLUMNS)
    for row in quota_rows(plan, user):
        writer.writerow([safe_cell(value) for value in row])
    return buffer.getvalue()


def quotas_csv_filename(plan: QuotaPlan) -> str:
    return f"quotas-FY{plan.fiscal_year}.csv"


# --- Import --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """What is wrong with one cell of the file (``row`` is the spreadsheet row number)."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        end = "" if self.message.endswith(".") else "."
        return f"Row {self.row}, {self.field}: {self.message}{end}"


@dataclass
class QuotaImportResult:
    """What an import found and did. ``changed`` counts the file's rows that change a quota,
    ``written`` the quotas written (the quarters and years that follow included)."""

    rows: int
    errors: list[RowError] = field(default_factory=list)
    changed: int = 0
    written: int = 0
    committed: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        return [str(error) for error in self.errors]


@dataclass
class _Row:
    """A checked row of the file, with the quota it sets."""

    row: int
    holder_type: str
    holder: str
    period_key: str
    amount: Decimal
    quota: Quota
    key: tuple[str, int]  # (holder type, holder id)


def quota_plan_import(
    *,
    plan: QuotaPlan,
    content: bytes | str,
    acting_user: User,
    file_name: str = "quotas.csv",
    commit: bool = True,
) -> QuotaImportResult:
    """Set the plan's quotas to the amounts of a file in the export's format (CSV or XLSX),
    all or nothing (see the module docstring). ``commit=False`` only checks the file.

    A problem with the file as a whole (not a quota file, no records), with the caller's rights
    or with the plan (published) raises ``DomainError``; row problems come back in the result,
    and then nothing is written.
    """
    if not acting_user.has_perm("territories.change_quota"):
        raise NotAllowed("Only sales ops can import quotas.")
    data = content.encode() if isinstance(content, str) else content
    table = read_table(data, file_name)
    unknown = [c for c in table.columns if c not in QUOTA_COLUMNS]
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"unknown columns: {', '.join(unknown)}")
        if missing:
            problems.append(f"missing columns: {', '.join(missing)}")
        raise DomainError(
            f"The file is not a quotas export ({'; '.join(problems)}). Its header must be: "
            f"{','.join(QUOTA_COLUMNS)} (full_amount may be left out).",
            field="file",
        )
    with (
        transaction.atomic(),
        audit_context(acting_user=acting_user, reason=IMPORT_REASON, action="quota_import"),
    ):
        plan = plan_locked_for_write(plan)
        require_unlocked(plan)
        result = QuotaImportResult(rows=len(table))
        holders = _Holders(plan, table.frame)
        checked = _check_rows(plan, table.frame, holders, result.errors)
        if result.errors:
            return result
        changes = [row for row in checked if row.amount != row.quota.amount]
        written = _apply(plan, changes, holders, result.errors)
        if result.errors:
            return result
        result.changed, result.written = len(changes), len(written)
        if commit and written:
            now = timezone.now()
            for quota in written:
                if quota.user_id is None:
                    quota.full_amount = quota.amount
                quota.source = QuotaSource.IMPORT
                quota.updated_at = now
            Quota.objects.bulk_update(
                written, ["amount", "full_amount", "source", "updated_at"], batch_size=2000
            )
        result.committed = commit
    return result


class _Holders:
    """The plan's quotas by holder and period, and the holders the file's names point at."""

    def __init__(self, plan: QuotaPlan, frame) -> None:
        self.plan = plan
        self.quotas: dict[tuple[str, int], dict[str, Quota]] = defaultdict(dict)
        for quota in Quota.objects.filter(plan=plan):
            if quota.user_id is not None:
                holder = ("rep", quota.user_id)
            elif quota.team_id is not None:
                holder = ("team", quota.team_id)
            else:
                holder = ("territory", quota.territory_id)
            self.quotas[holder][quota.period_key] = quota
        names = {
            _unescaped(name).lower()
            for kind, name in zip(frame["holder_type"], frame["holder"], strict=True)
            if kind.lower() == "rep" and name
        }
        self.reps: dict[str, list[int]] = defaultdict(list)
        if names:
            users = (
                User.objects.annotate(
                    login=Lower("username"), employee=Lower("rep_profile__employee_id")
                )
                .filter(Q(login__in=names) | Q(employee__in=names))
                .values_list("pk", "login", "employee")
            )
            for pk, login, employee in users:
                self.reps[login].append(pk)
                if employee and employee != login:
                    self.reps[employee].append(pk)
        self.teams: dict[str, list[int]] = defaultdict(list)
        names_of = {pk: name for pk, name in Team.objects.values_list("pk", "name")}
        self.team_labels = team_labels()
        for pk, label in self.team_labels.items():
            self.teams[label.lower()].append(pk)
            if label != names_of[pk]:
                self.teams[names_of[pk].lower()].append(pk)
        self.territories = {
            key.lower(): pk
            for pk, key in Territory.objects.filter(quotas__plan=plan)
            .distinct()
            .values_list("pk", "key")
        }

    def find(self, holder_type: str, name: str) -> tuple[int | None, str | None]:
        """``(holder id, None)``, or ``(None, why not)``."""
        fy = f"FY{self.plan.fiscal_year}"
        text = name.lower()
        if holder_type == "territory":
            pk = self.territories.get(text)
            if pk is None:
                return None, f"no territory '{name}' with {fy} quotas"
            return pk, None
        found = (self.reps if holder_type == "rep" else self.teams).get(text, [])
        if not found:
            return None, f"no {holder_type} '{name}'"
        if len(set(found)) > 1:
            if holder_type == "team":
                paths = " or ".join(f"'{self.team_labels[pk]}'" for pk in sorted(set(found)))
                return None, f"several teams are named '{name}'; write its path: {paths}"
            return None, f"'{name}' is the username of one rep and the employee id of another"
        pk = found[0]
        if (holder_type, pk) not in self.quotas:
            return None, f"{holder_type} '{name}' has no {fy} quotas"
        return pk, None


def _check_rows(plan: QuotaPlan, frame, holders: _Holders, errors: list[RowError]) -> list[_Row]:
    """Every row of the file checked; what is wrong goes to ``errors``."""
    calendar = fiscal_calendar()
    currency = plan.currency
    seen: dict[tuple[str, int, str], int] = {}
    checked = []
    has_full = "full_amount" in frame.columns
    for row, record in frame.iterrows():
        failed = False

        def fail(field_name: str, message: str, row=row) -> None:
            nonlocal failed
            errors.append(RowError(row, field_name, message))
            failed = True

        for name in REQUIRED_COLUMNS:
            if not record[name]:
                fail(name, "is required but empty")
        period = None
        if record["period_key"]:
            try:
                period = calendar.parse(record["period_key"])
            except ValueError as error:
                fail("period_key", str(error))
            else:
                if period.fiscal_year != plan.fiscal_year:
                    fail("period_key", f"{period.label} is not in FY{plan.fiscal_year}")
                    period = None
        holder_type = record["holder_type"].lower()
        holder_name = _unescaped(record["holder"])
        holder_id = None
        if holder_type and holder_type not in HOLDER_TYPES:
            fail("holder_type", f"'{record['holder_type']}' is not rep, team or territory")
        elif holder_type and holder_name:
            holder_id, problem = holders.find(holder_type, holder_name)
            if problem:
                fail("holder", problem)
        amount = None
        if record["amount"]:
            amount, problem = _amount(record["amount"], currency)
            if problem:
                fail("amount", problem)
        if failed or period is None or holder_id is None or amount is None:
            continue
        quota = holders.quotas[(holder_type, holder_id)].get(period.key)
        if quota is None:
            fail("period_key", f"{holder_type} '{holder_name}' has no {period.key} quota")
            continue
        key = (holder_type, holder_id, period.key)
        if key in seen:
            fail(
                "period_key",
                f"{holder_type} '{holder_name}' {period.key} is also on row {seen[key]}",
            )
            continue
        seen[key] = row
        if has_full and record["full_amount"]:
            full, problem = _amount(record["full_amount"], currency)
            allowed = {quota.full_amount} | ({amount} if holder_type != "rep" else set())
            if problem:
                fail("full_amount", problem)
            elif full not in allowed:
                fail(
                    "full_amount",
                    "the quota before ramp comes from allocation and is not imported; leave it "
                    f"as exported ({quota.full_amount}) or empty",
                )
            if failed:
                continue
        checked.append(
            _Row(row, holder_type, holder_name, period.key, amount, quota, (holder_type, holder_id))
        )
    return checked


def _amount(text: str, currency: str) -> tuple[Decimal | None, str | None]:
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        return None, f"not a number: '{text}'"
    if not amount.is_finite():
        return None, f"not a number: '{text}'"
    if amount < 0:
        return None, f"cannot be negative: {text}"
    if round_money(amount, currency) != amount:
        unit = "cents" if minor_unit(currency) < 1 else "units"
        return None, f"is in whole {currency} {unit}; {text} has more decimals"
    return round_money(amount, currency), None


def _apply(
    plan: QuotaPlan, changes: list[_Row], holders: _Holders, errors: list[RowError]
) -> list[Quota]:
    """Apply the changes as ``quota_set`` does, in memory, finest periods first; the quotas
    that change. A change that another row of the file undoes is an error on its row."""
    by_holder: dict[tuple[str, int], list[_Row]] = defaultdict(list)
    for change in changes:
        by_holder[change.key].append(change)
    written: dict[int, Quota] = {}
    for holder, holder_changes in by_holder.items():
        periods = list(holders.quotas[holder].values())  # the objects the rows point at
        holder_changes.sort(
            key=lambda c: (_FINEST_FIRST[PeriodKind(c.quota.period_kind)], c.quota.period_start)
        )
        for change in holder_changes:
            if change.quota.amount == change.amount:
                continue  # an earlier row of the file already made it so
            for quota in edit_holder_periods(change.quota, periods, change.amount, plan.currency):
                written[quota.pk] = quota
        for change in holder_changes:
            if change.quota.amount != change.amount:
                other = _undoing(change, holder_changes)
                errors.append(
                    RowError(
                        change.row,
                        "amount",
                        f"{change.holder_type} '{change.holder}' {change.period_key} would end "
                        f"at {change.quota.amount}, not {change.amount}, because row {other.row} "
                        f"changes {other.period_key} too; give a period and the periods it adds "
                        "up to amounts that match, or change only one of them",
                    )
                )
    errors.sort(key=lambda error: (error.row, error.field))
    return list(written.values())


def _undoing(change: _Row, changes: list[_Row]) -> _Row:
    """The row of the same holder whose period contains, or lies in, ``change``'s period and
    was applied after it (the one that moved it again)."""
    quota = change.quota
    overlapping = [
        other
        for other in changes
        if other is not change
        and (
            other.quota.period_start
            <= quota.period_start
            <= quota.period_end
            <= other.quota.period_end
            or quota.period_start
            <= other.quota.period_start
            <= other.quota.period_end
            <= quota.period_end
        )
    ]
    return overlapping[-1] if overlapping else change


def _unescaped(text: str) -> str:
    """The text an export wrote with a leading apostrophe (so it would not run as a formula)."""
    if text.startswith("'") and text[1:].startswith(FORMULA_TRIGGERS):
        return text[1:]
    return text
