"""Territory auto-balancing: propose moves of units between sibling territories to even out a measure.

Sales-ops analysts pick a measure (account count, potential, open pipeline, bookings) and let the
planner suggest which units (whole states/countries, or single accounts) to move so that the
territories carry loads as even as possible, within a cap on the number of moves and without moving
locked units or sending a unit where it may not go.

This module works on plain values only (no models, no database) so that the planner page, an API
action or a Celery task can all call it and the tests need no fixtures. The optimiser is HiGHS,
through ``scipy.optimize.milp``; floats exist only inside the solver, every load reported back is a
sum of the callers' Decimals.

Formulation (``propose``): a binary x[u, t] for each movable unit u and each territory t it may be
in (its current one always); each unit sits in exactly one territory; locked units are constants;
at most ``max_moves`` units leave their current territory; minimise the sum over territories of
|load_t - mean| (linearised with d_t >= load_t - mean and d_t >= mean - load_t; the mean is a
constant because moves do not change the total), plus ``MAX_LOAD_WEIGHT`` times the largest load
(among plans equally even by that sum, the one whose heaviest territory is lightest wins), plus
``MOVE_PENALTY`` per move, so that among equally even plans the one with the fewest moves wins. Loads are divided by the mean before they
reach the solver, so the numbers HiGHS sees are around 1 whatever the measure's scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

# Cost of one move, in units of the mean territory load (loads reach the solver divided by the mean):
# a move is only worth making if it brings the total deviation down by more than 0.01% of an
# average territory. Small enough never to cost real balance, large enough for HiGHS to tell apart
# from its tolerances.
MOVE_PENALTY = 1e-4
# Weight of the largest (scaled) load in the objective: a tie-break well above MOVE_PENALTY, so
# among plans with the same total deviation the one with the lighter heaviest territory wins
# (the sum of |load - mean| cannot tell 10/6 from 8/8 when a third sibling is stuck at 0).
MAX_LOAD_WEIGHT = 1e-2

STATUS_OPTIMAL = "optimal"
STATUS_TIME_LIMIT = "time_limit"
STATUS_NO_IMPROVEMENT = "no_improvement"

_HIGHS_OPTIMAL = 0
_HIGHS_LIMIT_REACHED = 1  # time (or node/iteration) limit


@dataclass(frozen=True)
class Unit:
    """Something that can be moved between territories as a whole: a state, a country, an account."""

    key: str  # e.g. "US/CA" (a state) or "account:123"
    territory: str  # key of the territory it is in now
    load: Decimal  # its value on the chosen measure (>= 0)
    locked: bool = False  # must stay where it is (named accounts, accounts with late-stage deals)
    # Territories it may move to (None = any). Callers use it to keep regions contiguous, e.g. only
    # territories serving the same country. Its current territory is always allowed.
    allowed: frozenset[str] | None = None


@dataclass(frozen=True)
class Balance:
    """How even a set of territory loads is, in the figures the planner page shows."""

    loads: dict[str, Decimal]  # territory -> total load
    cv: float  # coefficient of variation = population std dev / mean (0 if the mean is 0)
    max_min_ratio: float | None  # max load / min load; None when the min load is 0 (show as "∞")
    spread: Decimal  # max - min


@dataclass(frozen=True)
class Move:
    """One unit changing territory in a proposal."""

    unit: str
    from_territory: str
    to_territory: str
    load: Decimal


@dataclass(frozen=True)
class Proposal:
    """The moves to review, the balance before and after them, and a sentence for the analyst."""

    moves: list[Move]
    before: Balance
    after: Balance
    status: str  # "optimal", "time_limit" (best found within the limit), "no_improvement"
    message: str  # e.g. "12 moves bring the CV from 0.41 to 0.03."


def balance_scores(loads: Mapping[str, Decimal]) -> Balance:
    """Score how even ``loads`` are, so a plan can be compared with the current state."""
    if not loads:
        raise ValueError("There are no territories to score; give at least one.")
    for territory, load in loads.items():
        if not load.is_finite() or load < 0:
            raise ValueError(
                f"Territory {territory!r} has load {load}; loads must be zero or more."
            )
    values = list(loads.values())
    count = len(values)
    mean = sum(values, Decimal(0)) / count
    if mean == 0:
        cv = 0.0
    else:
        variance = sum(((value - mean) ** 2 for value in values), Decimal(0)) / count
        cv = float(variance.sqrt() / mean)
    lowest, highest = min(values), max(values)
    return Balance(
        loads=dict(loads),
        cv=cv,
        max_min_ratio=None if lowest == 0 else float(highest / lowest),
        spread=highest - lowest,
    )


def propose(
    units: Sequence[Unit],
    territories: Sequence[str],
    *,
    max_moves: int,
    time_limit: float = 10.0,
) -> Proposal:
    """Propose at most ``max_moves`` moves that make the territories' loads as even as possible.

    ``territories`` are the siblings being balanced; one with no units still counts, with load 0.
    The proposal never moves a locked unit, never sends a unit outside ``allowed`` and never makes
    the total deviation from the mean or the CV worse: if the best plan found would, it proposes
    no moves (status "no_improvement"). ``time_limit`` (seconds) bounds the solver; when it stops
    at the limit, the best plan found so far is returned with status "time_limit".
    """
    _validate(units, territories, max_moves=max_moves, time_limit=time_limit)
    order = list(territories)
    current = {unit.key: unit.territory for unit in units}
    before_loads = _loads(units, current, order)
    before = balance_scores(before_loads)
    mean = sum(before_loads.values(), Decimal(0)) / len(order)

    def unchanged(message: str) -> Proposal:
        return Proposal(
            moves=[], before=before, after=before, status=STATUS_NO_IMPROVEMENT, message=message
        )

    if mean == 0:
        return unchanged("Every territory has zero load, so there is nothing to balance.")
    if max_moves == 0:
        return unchanged(
            f"max_moves is 0, so no moves are proposed; the CV stays at {_cv(before)}."
        )
    movable = [unit for unit in units if _options(unit, order)[1:] and unit.load > 0]
    if not movable:
        return unchanged(
            "No unit can move (each one is locked, has zero load or may only stay where it is); "
            f"the CV stays at {_cv(before)}."
        )

    placement, highs_status, highs_message = _solve(
        units, movable, order, mean=mean, max_moves=max_moves, time_limit=time_limit
    )
    if placement is None:
        return unchanged(
            f"The solver stopped without a plan ({highs_message}); the CV stays at {_cv(before)}."
        )
    _drop_useless_moves(placement, units, order, mean)

    after = balance_scores(_loads(units, placement, order))
    moved = [unit for unit in units if placement[unit.key] != unit.territory]
    if len(moved) > max_moves or any(unit.locked for unit in moved):
        # Cannot happen with a correct solver result; refuse rather than propose an invalid plan.
        raise RuntimeError("The solver returned a plan that breaks the move limit or a lock.")

    stopped_early = highs_status != _HIGHS_OPTIMAL
    if _total_deviation(after.loads, mean) >= _total_deviation(before_loads, mean):
        if stopped_early:
            return unchanged(
                f"No better plan was found within the {time_limit:g}-second limit; "
                f"the CV stays at {_cv(before)}."
            )
        return unchanged(
            f"The territories are already as even as the constraints allow (CV {_cv(before)})."
        )
    if _squared_deviation(after.loads, mean) > _squared_deviation(before_loads, mean):
        # Minimising the total absolute deviation can, rarely, spread the loads more unevenly in
        # the squared sense; a plan that raises the CV shown to the analyst is not proposed.
        return unchanged(
            "The best plan found by total deviation would raise the CV from "
            f"{_cv(before, after)} to {_cv(after, before)}, so no moves are proposed."
        )

    moves = [
        Move(
            unit=unit.key,
            from_territory=unit.territory,
            to_territory=placement[unit.key],
            load=unit.load,
        )
        for unit in moved
    ]
    count = f"{len(moves)} move brings" if len(moves) == 1 else f"{len(moves)} moves bring"
    summary = f"{count} the CV from {_cv(before, after)} to {_cv(after, before)}."
    if stopped_early:
        return Proposal(
            moves=moves,
            before=before,
            after=after,
            status=STATUS_TIME_LIMIT,
            message=(
                f"Best plan found within the {time_limit:g}-second limit: {summary[0].lower()}"
                f"{summary[1:-1]}; a longer run may find a better one."
            ),
        )
    return Proposal(moves=moves, before=before, after=after, status=STATUS_OPTIMAL, message=summary)


def _validate(
    units: Sequence[Unit], territories: Sequence[str], *, max_moves: int, time_limit: float
) -> None:
    if not territories:
        raise ValueError("There are no territories to balance; give at least one.")
    known: set[str] = set()
    for territory in territories:
        if territory in known:
            raise ValueError(f"Territory {territory!r} is listed more than once.")
        known.add(territory)
    if max_moves < 0:
        raise ValueError(f"max_moves must be zero or more, got {max_moves}.")
    if not time_limit > 0:
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit}.")
    seen: set[str] = set()
    for unit in units:
        if unit.key in seen:
            raise ValueError(f"Unit {unit.key!r} is listed more than once; list each unit once.")
        seen.add(unit.key)
        if unit.territory not in known:
            raise ValueError(
                f"Unit {unit.key!r} is in territory {unit.territory!r}, "
                "which is not among the territories being balanced."
            )
        if not unit.load.is_finite() or unit.load < 0:
            raise ValueError(f"Unit {unit.key!r} has load {unit.load}; loads must be zero or more.")
        for territory in sorted(unit.allowed or ()):
            if territory not in known:
                raise ValueError(
                    f"Unit {unit.key!r} is allowed to move to {territory!r}, "
                    "which is not among the territories being balanced."
                )


def _options(unit: Unit, order: Sequence[str]) -> list[str]:
    """Where ``unit`` may end up: its current territory first, then the others it may move to."""
    if unit.locked:
        return [unit.territory]
    others = [
        territory
        for territory in order
        if territory != unit.territory and (unit.allowed is None or territory in unit.allowed)
    ]
    return [unit.territory, *others]


def _solve(
    units: Sequence[Unit],
    movable: Sequence[Unit],
    order: Sequence[str],
    *,
    mean: Decimal,
    max_moves: int,
    time_limit: float,
) -> tuple[dict[str, str] | None, int, str]:
    """Build and run the MILP; return the placement of every unit (None if no plan came back)."""
    index = {territory: position for position, territory in enumerate(order)}
    movable_keys = {unit.key for unit in movable}
    fixed = [Decimal(0)] * len(order)
    for unit in units:
        if unit.key not in movable_keys:
            fixed[index[unit.territory]] += unit.load
    fixed_scaled = np.array([float(load / mean) for load in fixed])

    columns: list[tuple[Unit, str]] = [
        (unit, territory) for unit in movable for territory in _options(unit, order)
    ]
    n_x = len(columns)
    n_t = len(order)
    n_vars = n_x + n_t + 1  # x[u, t] first, then d_t, then the largest load
    cost = np.concatenate(
        [
            [0.0 if territory == unit.territory else MOVE_PENALTY for unit, territory in columns],
            np.ones(n_t),
            [MAX_LOAD_WEIGHT],
        ]
    )

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    lower: list[float] = []
    upper: list[float] = []

    def add(row: int, col: int, value: float) -> None:
        rows.append(row)
        cols.append(col)
        vals.append(value)

    # Each movable unit sits in exactly one territory.
    unit_row = {unit.key: position for position, unit in enumerate(movable)}
    for col, (unit, _territory) in enumerate(columns):
        add(unit_row[unit.key], col, 1.0)
    lower += [1.0] * len(movable)
    upper += [1.0] * len(movable)

    # d_t >= load_t - mean and d_t >= mean - load_t, with load_t = fixed_t + sum(w_u x[u, t]) and
    # everything divided by the mean (so the scaled mean is 1).
    above = len(movable)
    below = above + n_t
    for col, (unit, territory) in enumerate(columns):
        weight = float(unit.load / mean)
        add(above + index[territory], col, -weight)
        add(below + index[territory], col, weight)
    for position in range(n_t):
        add(above + position, n_x + position, 1.0)
        add(below + position, n_x + position, 1.0)
    lower += list(fixed_scaled - 1.0) + list(1.0 - fixed_scaled)
    upper += [np.inf] * (2 * n_t)

    # The largest load: top >= load_t for every territory.
    top = below + n_t
    for col, (unit, territory) in enumerate(columns):
        add(top + index[territory], col, -float(unit.load / mean))
    for position in range(n_t):
        add(top + position, n_x + n_t, 1.0)
    lower += list(fixed_scaled)
    upper += [np.inf] * n_t

    # At most max_moves units leave their current territory (only binding below len(movable)).
    n_rows = top + n_t
    if max_moves < len(movable):
        for col, (unit, territory) in enumerate(columns):
            if territory != unit.territory:
                add(n_rows, col, 1.0)
        lower.append(0.0)
        upper.append(float(max_moves))
        n_rows += 1

    matrix = coo_array((vals, (rows, cols)), shape=(n_rows, n_vars)).tocsr()
    result = milp(
        cost,
        integrality=np.concatenate([np.ones(n_x), np.zeros(n_t + 1)]),
        bounds=Bounds(np.zeros(n_vars), np.concatenate([np.ones(n_x), np.full(n_t + 1, np.inf)])),
        constraints=LinearConstraint(matrix, np.array(lower), np.array(upper)),
        options={"time_limit": time_limit},
    )
    solved = result.status in (_HIGHS_OPTIMAL, _HIGHS_LIMIT_REACHED)
    if not solved or result.x is None:
        return None, result.status, str(result.message)

    placement = {unit.key: unit.territory for unit in units}
    best: dict[str, tuple[float, str]] = {}
    for value, (unit, territory) in zip(result.x[:n_x], columns, strict=True):
        if unit.key not in best or value > best[unit.key][0]:
            best[unit.key] = (value, territory)
    for key, (_value, territory) in best.items():
        placement[key] = territory
    return placement, result.status, str(result.message)


def _drop_useless_moves(
    placement: dict[str, str], units: Sequence[Unit], order: Sequence[str], mean: Decimal
) -> None:
    """Send back any moved unit whose move helps neither deviation, measured exactly in Decimal.

    The move penalty already steers HiGHS to the fewest moves, but its gap tolerance (and a stop
    at the time limit) can leave a move that buys nothing; each remaining move must pay its way.
    """
    loads = _loads(units, placement, order)
    changed = True
    while changed:
        changed = False
        for unit in units:
            there = placement[unit.key]
            home = unit.territory
            if there == home:
                continue
            old = (loads[there], loads[home])
            new = (loads[there] - unit.load, loads[home] + unit.load)
            absolute = sum(abs(load - mean) for load in new) - sum(abs(load - mean) for load in old)
            squared = sum((load - mean) ** 2 for load in new) - sum(
                (load - mean) ** 2 for load in old
            )
            if absolute <= 0 and squared <= 0:
                placement[unit.key] = home
                loads[there], loads[home] = new
                changed = True


def _loads(
    units: Sequence[Unit], placement: Mapping[str, str], order: Sequence[str]
) -> dict[str, Decimal]:
    loads = {territory: Decimal(0) for territory in order}
    for unit in units:
        loads[placement[unit.key]] += unit.load
    return loads


def _total_deviation(loads: Mapping[str, Decimal], mean: Decimal) -> Decimal:
    return sum((abs(load - mean) for load in loads.values()), Decimal(0))


def _squared_deviation(loads: Mapping[str, Decimal], mean: Decimal) -> Decimal:
    return sum(((load - mean) ** 2 for load in loads.values()), Decimal(0))


def _cv(balance: Balance, other: Balance | None = None) -> str:
    """The CV to two decimals, or four when two decimals would make ``other`` look the same."""
    if other is not None and f"{balance.cv:.2f}" == f"{other.cv:.2f}":
        return f"{balance.cv:.4f}"
    return f"{balance.cv:.2f}"
