"""``python -m bench [--repeat N] [--generator-runs N] [--regenerate]``: run every benchmark."""

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
        "--generator-runs", type=int, default=1, help="timed generate_org runs (default 1)"
    )
    parser.add_argument(
        "--regenerate", action="store_true", help="rebuild the large org before measuring"
    )
    parser.add_argument(
        "--pages-only", action="store_true", help="skip the (minutes-long) generator benchmark"
    )
    args = parser.parse_args(argv)

    from bench.environment import setup_django

    started = time.perf_counter()
    setup_django()
    # Imported after setup: these modules import Django models and settings.
    from bench import generator, pages, report
    from bench.environment import ensure_large_org

    print(f"bench: {ensure_large_org(regenerate=args.regenerate)}", flush=True)
    # Pages first: the generator benchmark replaces the org (same seed, so the same rows).
    results = pages.run(repeat=args.repeat)
    if not args.pages_only:
        results += generator.run(runs=args.generator_runs)
    print()
    print(report.render(results, [pages.FLOOR_NOTE, generator.FLOOR_NOTE]))
    print(f"\nbench: done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
