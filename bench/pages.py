"""Page latency: each role's home page, the users and open-deals APIs, the kanban board and the
deal list, in-process, against hello-world.

Requests go through Django's test ``Client`` (whole middleware stack, no network, no server), so
the hello-world floor takes out the cost every request pays (session, auth, audit context) and
the ratio shows what the page itself adds. Requests are interleaved round-robin (see
``interleaved_samples_ms``); each row gives the p50 and p95 of its samples against the same
percentiles of the floor's. Query counts are taken on the first request, untimed.

These pages only read. The deal moves (``bench.moves``) run after them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bench.measure import Result, interleaved_samples_ms, latency_result
from bench.urls import HELLO_PATH

FLOOR_NOTE = (
    "pages: floor = GET /bench/hello, a view returning HttpResponse('ok') through the same "
    "middleware as a logged-in user; ratio = page p50 / hello p50, p95 ratio = page p95 / "
    "hello p95 (same interleaved rounds)"
)
WARMUP = 5
# A page slower than this on its first request is timed SLOW_REPEAT times, not --repeat times.
SLOW_MS = 2000
SLOW_REPEAT = 3
HELLO_LABEL = "GET /bench/hello (floor)"
OPEN_DEALS_PATH = "/api/v1/deals/?status=open"
# Short name of the wide manager in row labels (their username is printed once, above the table).
WIDE_MANAGER = "region-manager"
# Plain static storage: the manifest needs `collectstatic` output, which the bench does not
# build; a manifest lookup is a dict get, so latency is the same.
_STATIC = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}


@dataclass(frozen=True)
class Page:
    """A page to time: who asks for it and where."""

    label: str
    username: str
    path: str
    # Run untimed before each timed request (the cold-cache row empties the cache with it).
    prepare: Callable[[], object] | None = None


@dataclass(frozen=True)
class WideManager:
    """The manager whose team subtree holds the most reps (a region's manager in the large org)."""

    username: str
    team_name: str
    team_ids: list[int]
    reps: int

    def describe(self) -> str:
        return (
            f"{WIDE_MANAGER} = {self.username}, manager of {self.team_name} "
            f"({len(self.team_ids)} teams, {self.reps:,} reps)"
        )


def wide_manager() -> WideManager:
    """The manager of the team with the most active reps in its subtree; ties: lowest team id.

    The demo ``manager`` runs one front-line team of ~11 reps; a region's manager sees ~500 reps
    and ~250k deals, the widest scope a manager has and so the slowest board and list.
    """
    from salesops.org.models import RepProfile, Team
    from salesops.org.selectors import team_subtree_ids

    best: WideManager | None = None
    roots = Team.objects.filter(parent__isnull=True, manager__isnull=False).select_related(
        "manager"
    )
    for team in roots.order_by("pk"):
        subtree = team_subtree_ids([team.pk])
        reps = RepProfile.objects.filter(team__in=subtree, active=True).count()
        if best is None or reps > best.reps:
            best = WideManager(team.manager.username, team.name, subtree, reps)
    if best is None:
        raise RuntimeError("bench: no team has a manager; is the large org generated?")
    return best


def pages_to_time(manager: WideManager) -> list[Page]:
    """The home page for every demo role, the users and open-deals APIs, the board and list.

    The APIs are asked by a narrow and a wide reader: the open-deals list filters ~1M deals down
    to one team's (manager) or the whole org's (ops), so its cost is the scoped, paginated query
    on the biggest table rather than the rendering. The board and the deal list are asked by the
    widest manager (and the list also by ops), with their default filters and with filters a
    person sets: the board (first pipeline) narrowed to the manager's rep with the most open
    deals, the list to the first pipeline's middle open stage (Proposal) with a close date in
    this fiscal quarter (``?stage&close_date``). The ops home page is timed twice: as served
    (org-wide pipeline figures from the cache) and with the cache emptied before each request.
    """
    from crm.home import forget_org_figures
    from salesops.org.generate import DEMO_LOGINS
    from salesops.org.roles import Role

    home = reverse("home")
    pages = [Page(f"GET / as {name}", name, home) for name in DEMO_LOGINS.values()]
    ops = DEMO_LOGINS[Role.OPS]
    # The org-wide pipeline figures are cached; this row pays for computing them every time.
    pages.append(Page(f"GET / as {ops}, figures not cached", ops, home, forget_org_figures))
    for role in (Role.OPS, Role.MANAGER):
        name = DEMO_LOGINS[role]
        pages.append(Page(f"GET /api/v1/users/ as {name}", name, "/api/v1/users/"))
    for role in (Role.MANAGER, Role.OPS):
        name = DEMO_LOGINS[role]
        pages.append(Page(f"GET {OPEN_DEALS_PATH} as {name}", name, OPEN_DEALS_PATH))

    pages.append(Page(f"GET / as {WIDE_MANAGER}", manager.username, home))
    board, deal_list = reverse("crm:board"), reverse("crm:deal_list")
    rep_id, stage, quarter = _filters(manager)
    pages.append(Page(f"GET {board} as {WIDE_MANAGER}", manager.username, board))
    pages.append(
        Page(
            f"GET {board}?owner=<rep> as {WIDE_MANAGER}",
            manager.username,
            f"{board}?{urlencode({'owner': rep_id})}",
        )
    )
    filtered = urlencode(
        {
            "stage": stage.pk,
            "close_date_after": quarter.start.isoformat(),
            "close_date_before": quarter.end.isoformat(),
        }
    )
    for label, username in ((WIDE_MANAGER, manager.username), (ops, ops)):
        pages.append(Page(f"GET {deal_list} as {label}", username, deal_list))
        pages.append(
            Page(
                f"GET {deal_list}?stage&close_date as {label}",
                username,
                f"{deal_list}?{filtered}",
            )
        )
    # Dashboards read the KPI snapshots (the KPI benchmark, or generate_org, fills them): the
    # region manager's (by sub-team), the executive one (ops: the company by region), a
    # manager's team (by rep) and a rep's own; and one with a filter, computed live.
    dashboard = reverse("reporting:dashboard")
    for label, username in (
        (WIDE_MANAGER, manager.username),
        (ops, ops),
        (DEMO_LOGINS[Role.MANAGER], DEMO_LOGINS[Role.MANAGER]),
        (DEMO_LOGINS[Role.REP], DEMO_LOGINS[Role.REP]),
    ):
        pages.append(Page(f"GET {dashboard} as {label}", username, dashboard))
    pipeline_id = stage.pipeline_id
    pages.append(
        Page(
            f"GET {dashboard}?pipeline (live) as {DEMO_LOGINS[Role.MANAGER]}",
            DEMO_LOGINS[Role.MANAGER],
            f"{dashboard}?{urlencode({'pipeline': pipeline_id})}",
        )
    )
    return pages


def _filters(manager: WideManager):
    """A rep of the manager's (most open deals, for the board's owner filter), the first
    pipeline's Proposal-like stage and this fiscal quarter (for the list's filters)."""
    from django.db.models import Count
    from django.utils import timezone

    from crm.models import Deal, Stage
    from crm.selectors import pipelines
    from salesops.fiscal import PeriodKind
    from salesops.org.selectors import fiscal_calendar

    rep_id = (
        Deal.objects.open()
        .filter(owner__rep_profile__team__in=manager.team_ids)
        .values("owner")
        .annotate(n=Count("pk"))
        .order_by("-n", "owner")
        .values_list("owner", flat=True)
        .first()
    )
    pipeline = pipelines().first()
    open_stages = list(
        Stage.objects.filter(pipeline=pipeline, is_won=False, is_lost=False).order_by("position")
    )
    stage = open_stages[len(open_stages) // 2]
    quarter = fiscal_calendar().period(timezone.localdate(), PeriodKind.QUARTER)
    return rep_id, stage, quarter


def bench_settings():
    """Bench URLs (the hello view) and static files that need no ``collectstatic``."""
    from django.conf import settings

    storages = {**settings.STORAGES, "staticfiles": _STATIC}
    return override_settings(ROOT_URLCONF="bench.urls", STORAGES=storages)


def run(*, repeat: int, manager: WideManager) -> list[Result]:
    """Time the hello floor and every page, ``repeat`` requests each, interleaved.

    Each page is first asked once, untimed, counting its SQL queries; a page that takes more
    than ``SLOW_MS`` then is timed ``SLOW_REPEAT`` times only, and its detail says so.
    """
    with bench_settings():
        clients: dict[str, Client] = {}
        pages = pages_to_time(manager)
        hello = Page(HELLO_LABEL, pages[0].username, HELLO_PATH)
        targets = [hello, *pages]
        calls = {t.label: _getter(client_for(clients, t.username), t.path) for t in targets}
        queries, first_ms = {}, {}
        for target in targets:
            if target.prepare is not None:
                target.prepare()
            started = time.perf_counter()
            queries[target.label] = _count_queries(calls[target.label])
            first_ms[target.label] = (time.perf_counter() - started) * 1000
        slow = {label for label, ms in first_ms.items() if ms > SLOW_MS}
        prepare = {t.label: t.prepare for t in targets if t.prepare is not None}
        samples = interleaved_samples_ms(
            calls,
            repeat=repeat,
            warmup=WARMUP - 1,
            sparse=slow,
            sparse_repeat=SLOW_REPEAT,
            prepare=prepare,
        )
    floor = samples[HELLO_LABEL]
    results = []
    for label, values in samples.items():
        detail = _q(queries[label])
        if label in slow:
            detail += f"; slow: {len(values)} samples only"
        results.append(latency_result(label, values, floor, detail))
    return results


def client_for(clients: dict[str, Client], username: str) -> Client:
    """One logged-in client per user, reused, so every timed request carries a real session."""
    if username not in clients:
        from salesops.org.models import User

        # SERVER_NAME: "testserver" is only allowed under the test runner, which the bench is not.
        client = Client(SERVER_NAME="localhost")
        client.force_login(User.objects.get(username=username))
        clients[username] = client
    return clients[username]


def _getter(client: Client, path: str) -> Callable[[], None]:
    def get() -> None:
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}, not 200")

    return get


def _count_queries(call: Callable[[], None]) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured.captured_queries)


def _q(count: int) -> str:
    return f"{count} SQL quer{'y' if count == 1 else 'ies'}"
