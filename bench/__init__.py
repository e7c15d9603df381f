"""Benchmarks on the large generated organisation, reported as ratios to floors measured in
the same run (see ``bench/README.md``). Run with ``make bench`` or ``python -m bench``."""
