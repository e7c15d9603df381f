"""Deal moves through the API: ``POST /api/v1/deals/<id>/move/`` as the deals' manager.

Each timed move is a real, valid move through the whole stack (session, DRF, the service's
row lock, version check, exit criteria, history row, audit trigger, commit). To leave the data
as it was, every deal goes forward one stage and straight back: ``moves`` moves use
``moves / 2`` deals. A deal ends in the stage it started in, with ``version`` two higher, two
more history rows, two more audit events and ``stage_entered_at`` set to the run's time;
probability and forecast category are its stage's defaults again, which is what the generator
gives every open deal. The same deals are picked on every run (lowest ids in the stage), so
repeated runs only add history to those few deals. If a run stops halfway, the deals it moved
forward are moved back through the service before it ends.

Moves interleave with the hello floor round-robin, like the pages. They run after the pages,
so no page is timed on moved deals.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.measure import Result, latency_result
from bench.pages import WIDE_MANAGER, WideManager, bench_settings, client_for
from bench.urls import HELLO_PATH

FLOOR_NOTE = (
    "moves: floor = the same hello GET, interleaved one for one with the moves; moves/s = "
    "moves / their summed wall time, ratio = hello requests/s / moves/s"
)
WARMUP_PAIRS = 2


@dataclass
class _Deal:
    pk: int
    version: int
    home: int  # the stage it starts (and must end) in
    next: int  # the stage it visits


def run(*, moves: int, manager: WideManager) -> list[Result]:
    """Time ``moves`` API moves (forward and back) as ``manager``, against the hello floor."""
    pairs = max(1, moves // 2)
    deals = _pick_deals(manager, pairs + WARMUP_PAIRS)
    if len(deals) < pairs + WARMUP_PAIRS:
        raise RuntimeError(f"bench: only {len(deals)} deals to move, {pairs + WARMUP_PAIRS} needed")
    warmup, timed = deals[:WARMUP_PAIRS], deals[WARMUP_PAIRS:]
    move_ms: list[float] = []
    hello_ms: list[float] = []
    try:
        with bench_settings():
            client = client_for({}, manager.username)
            for deal in warmup[:-1]:
                _move(client, deal, deal.next)
                _move(client, deal, deal.home)
                _hello(client)
            with CaptureQueriesContext(connection) as captured:
                _move(client, warmup[-1], warmup[-1].next)
            queries = len(captured.captured_queries)
            _move(client, warmup[-1], warmup[-1].home)
            for deal in timed:
                for target in (deal.next, deal.home):
                    started = time.perf_counter()
                    _hello(client)
                    hello_ms.append((time.perf_counter() - started) * 1000)
                    started = time.perf_counter()
                    _move(client, deal, target)
                    move_ms.append((time.perf_counter() - started) * 1000)
    finally:
        _restore(deals, manager)
    label = f"POST /api/v1/deals/<id>/move/ as {WIDE_MANAGER}"
    detail = f"{len(move_ms)} moves on {len(timed)} deals, {queries} SQL queries per move"
    latency = latency_result(label, move_ms, hello_ms, detail)
    rate = len(move_ms) / (sum(move_ms) / 1000)
    floor_rate = len(hello_ms) / (sum(hello_ms) / 1000)
    throughput = Result(
        f"{label} (throughput)",
        rate,
        floor_rate,
        "moves/s",
        floor_rate / rate,
        "one client, one move at a time; floor in hello requests/s",
    )
    return [latency, throughput]


def _pick_deals(manager: WideManager, count: int) -> list[_Deal]:
    """Open deals in the manager's teams, in the first pipeline's stage just before the list
    page's filter stage, that meet the exit criteria of the stage after it: lowest ids first."""
    from crm.models import Deal, Stage
    from crm.rules import deal_values, missing_fields
    from crm.selectors import pipelines

    pipeline = pipelines().first()
    stages = list(
        Stage.objects.filter(pipeline=pipeline, is_won=False, is_lost=False).order_by("position")
    )
    middle = len(stages) // 2
    home, forward = stages[middle - 1], stages[middle]
    candidates = (
        Deal.objects.open()
        .filter(stage=home, owner__rep_profile__team__in=manager.team_ids)
        .order_by("pk")[: count * 2]
    )
    picked = [
        _Deal(deal.pk, deal.version, home.pk, forward.pk)
        for deal in candidates
        if not missing_fields(deal_values(deal), forward)
        and not missing_fields(deal_values(deal), home)
    ]
    return picked[:count]


def _hello(client: Client) -> None:
    response = client.get(HELLO_PATH)
    if response.status_code != 200:
        raise RuntimeError(f"GET {HELLO_PATH} answered {response.status_code}, not 200")


def _move(client: Client, deal: _Deal, stage: int) -> None:
    path = f"/api/v1/deals/{deal.pk}/move/"
    body = json.dumps({"stage": stage, "version": deal.version})
    response = client.post(path, body, content_type="application/json")
    if response.status_code != 200:
        raise RuntimeError(f"POST {path} answered {response.status_code}: {response.content!r}")
    deal.version = response.json()["version"]


def _restore(deals: list[_Deal], manager: WideManager) -> None:
    """Move back, through the service, any deal a failed run left in its forward stage."""
    from crm.models import Deal, Stage
    from crm.services import deal_move
    from salesops.org.models import User

    homes = {deal.pk: deal.home for deal in deals}
    stray = [d for d in Deal.objects.filter(pk__in=homes) if d.stage_id != homes[d.pk]]
    if not stray:
        return
    user = User.objects.get(username=manager.username)
    for deal in stray:
        stage = Stage.objects.get(pk=homes[deal.pk])
        deal_move(deal=deal, stage=stage, acting_user=user, expected_version=deal.version)
