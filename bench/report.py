"""The printed table: one line per benchmark, then what each floor is."""

from __future__ import annotations

from collections.abc import Sequence

from bench.measure import Result

# "measured" and "floor" are the p50 (median) of latency rows, and the figure itself of rates.
_HEADERS = ("benchmark", "measured", "floor", "ratio", "p95", "floor p95", "p95 ratio", "detail")


def render(results: Sequence[Result], floor_notes: Sequence[str]) -> str:
    """A plain-text table, aligned for a terminal and readable when pasted into a PR.

    ``measured``/``floor``/``ratio`` hold the p50 of latency rows and the figure itself of rates
    (moves per second, rows per second), whose ``p95`` cells are blank.
    """
    rows = [
        (
            r.name,
            _value(r.value, r.unit),
            _value(r.floor, r.unit),
            _ratio(r.ratio),
            "" if r.p95 is None else _value(r.p95, r.unit),
            "" if r.floor_p95 is None else _value(r.floor_p95, r.unit),
            "" if r.p95_ratio is None else _ratio(r.p95_ratio),
            r.detail,
        )
        for r in results
    ]
    widths = [max(len(str(c)) for c in column) for column in zip(_HEADERS, *rows, strict=False)]
    right = {1, 2, 3, 4, 5, 6}  # numbers line up on the right

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [line(_HEADERS), line(["-" * w for w in widths]), *(line(r) for r in rows), ""]
    out += [f"* {note}" for note in floor_notes]
    return "\n".join(out)


def _ratio(ratio: float) -> str:
    # Below 1 (a part of its floor, e.g. an incremental run against the full one), keep two
    # significant digits rather than printing 0.0x.
    return f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2g}x"


def _value(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "s":
        return f"{value:,.2f} s"
    if value < 100:
        return f"{value:,.1f} {unit}"
    return f"{value:,.0f} {unit}"
