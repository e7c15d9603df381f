"""Page latency: each role's home page, the users and open-deals APIs, in-process, against
hello-world.

Requests go through Django's test ``Client`` (whole middleware stack, no network, no server), so
the hello-world floor takes out the cost every request pays (session, auth, audit context) and
the ratio shows what the page itself adds. Requests are interleaved round-robin (see
``interleaved_medians_ms``). Query counts are taken on one extra, untimed request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bench.measure import Result, interleaved_medians_ms
from bench.urls import HELLO_PATH

FLOOR_NOTE = (
    "pages: floor = GET /bench/hello, a view returning HttpResponse('ok') through the same "
    "middleware as a logged-in user; ratio = page median / hello median"
)
WARMUP = 5
HELLO_LABEL = "GET /bench/hello (floor)"
OPEN_DEALS_PATH = "/api/v1/deals/?status=open"
# Plain static storage: the manifest needs `collectstatic` output, which the bench does not
# build; a manifest lookup is a dict get, so latency is the same.
_STATIC = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}


@dataclass(frozen=True)
class Page:
    """A page to time: who asks for it and where."""

    label: str
    username: str
    path: str


def pages_to_time() -> list[Page]:
    """The home page for every demo role, then the users and open-deals APIs.

    The APIs are asked by a narrow and a wide reader: the open-deals list filters ~1M deals down
    to one team's (manager) or the whole org's (ops), so its cost is the scoped, paginated query
    on the biggest table rather than the rendering.
    """
    from salesops.org.generate import DEMO_LOGINS
    from salesops.org.roles import Role

    home = reverse("home")
    pages = [Page(f"GET / as {name}", name, home) for name in DEMO_LOGINS.values()]
    for role in (Role.OPS, Role.MANAGER):
        name = DEMO_LOGINS[role]
        pages.append(Page(f"GET /api/v1/users/ as {name}", name, "/api/v1/users/"))
    for role in (Role.MANAGER, Role.OPS):
        name = DEMO_LOGINS[role]
        pages.append(Page(f"GET {OPEN_DEALS_PATH} as {name}", name, OPEN_DEALS_PATH))
    return pages


def run(*, repeat: int) -> list[Result]:
    """Time the hello floor and every page, each as a median over ``repeat`` requests."""
    from django.conf import settings

    storages = {**settings.STORAGES, "staticfiles": _STATIC}
    with override_settings(ROOT_URLCONF="bench.urls", STORAGES=storages):
        clients: dict[str, Client] = {}
        hello = Page(HELLO_LABEL, pages_to_time()[0].username, HELLO_PATH)
        targets = [hello, *pages_to_time()]
        calls = {t.label: _getter(_client(clients, t.username), t.path) for t in targets}
        medians = interleaved_medians_ms(calls, repeat=repeat, warmup=WARMUP)
        queries = {label: _count_queries(call) for label, call in calls.items()}
    floor = medians[HELLO_LABEL]
    return [
        Result(label, ms, floor, "ms", ms / floor, _q(queries[label]))
        for label, ms in medians.items()
    ]


def _client(clients: dict[str, Client], username: str) -> Client:
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
