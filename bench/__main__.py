"""``python -m bench [--repeat N] [--moves N] [--kpi-changes N] [--generator-runs N]
[--regenerate] [--pages-only | --skip-generator]``: run every benchmark."""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--repeat", type=int, default=50, help="timed requests per page (default 50)"
    )
    parser.add_argument(
        "--moves",
        type=int,
        default=200,
        help="timed API deal moves, forward and back (default 200)",
    )
    parser.add_argument(
        "--kpi-changes",
        type=int,
        default=5,
        help="deal changes, each followed by a timed incremental KPI recompute (default 5)",
    )
    parser.add_argument(
        "--generator-runs", type=int, default=1, help="timed generate_org runs (default 1)"
    )
    parser.add_argument(
        "--regenerate", action="store_true", help="rebuild the large org before measuring"
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--pages-only",
        action="store_true",
        help="only the page timings: no deal moves, import or KPI recompute (nothing written), "
        "no generator",
    )
    only.add_argument(
        "--skip-generator",
        action="store_true",
        help="pages, deal moves, import and KPI recompute, without the (minutes-long) generator "
        "benchmark",
    )
    args = parser.parse_args(argv)

    from bench.environment import setup_django

    started = time.perf_counter()
    setup_django()
    # Imported after setup: these modules import Django models and settings.
    from bench import compensation, generator, imports, kpis, moves, pages, report, territories
    from bench.environment import ensure_large_org

    print(f"bench: {ensure_large_org(regenerate=args.regenerate)}", flush=True)
    manager = pages.wide_manager()
    print(f"bench: {manager.describe()}", flush=True)
    # Pages first, read-only; then the moves, which write (and put every deal back), the deal
    # import (rolled back), the KPI recomputes (snapshots kept, changed deals put back), the
    # territory and commission runs (rolled back; the first commission bench adds the plans and
    # deal terms an older org lacks); then the generator, which replaces the org (same seed, so
    # the same rows).
    results = pages.run(repeat=args.repeat, manager=manager)
    notes = [pages.FLOOR_NOTE]
    if not args.pages_only:
        results += moves.run(moves=args.moves, manager=manager)
        notes.append(moves.FLOOR_NOTE)
        results += imports.run()
        notes.append(imports.FLOOR_NOTE)
        results += kpis.run(changes=args.kpi_changes)
        notes.append(kpis.FLOOR_NOTE)
        results += territories.run()
        notes.append(territories.FLOOR_NOTE)
        results += compensation.run()
        notes.append(compensation.FLOOR_NOTE)
    if not (args.pages_only or args.skip_generator):
        results += generator.run(runs=args.generator_runs)
        notes.append(generator.FLOOR_NOTE)
    print()
    print(report.render(results, notes))
    print(f"\nbench: done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
