"""Fiscal periods, including a fiscal year that starts in February."""

import datetime as dt
import itertools

import pytest

from salesops.fiscal import FiscalCalendar, PeriodKind, YearNaming

FEB_END = FiscalCalendar(start_month=2, naming=YearNaming.END)
FEB_START = FiscalCalendar(start_month=2, naming=YearNaming.START)
JAN = FiscalCalendar()


def test_february_year_named_after_the_year_it_ends_in():
    assert FEB_END.fiscal_year_of(dt.date(2026, 2, 1)) == 2027
    assert FEB_END.fiscal_year_of(dt.date(2027, 1, 31)) == 2027
    assert FEB_END.fiscal_year_of(dt.date(2026, 1, 31)) == 2026
    assert FEB_END.year_start(2027) == dt.date(2026, 2, 1)


def test_february_year_named_after_the_year_it_starts_in():
    assert FEB_START.fiscal_year_of(dt.date(2026, 2, 1)) == 2026
    assert FEB_START.fiscal_year_of(dt.date(2027, 1, 31)) == 2026
    assert FEB_START.year_start(2026) == dt.date(2026, 2, 1)


@pytest.mark.parametrize(
    ("day", "label", "start", "end"),
    [
        (dt.date(2026, 2, 1), "FY2027 Q1", dt.date(2026, 2, 1), dt.date(2026, 4, 30)),
        (dt.date(2026, 11, 23), "FY2027 Q4", dt.date(2026, 11, 1), dt.date(2027, 1, 31)),
        (dt.date(2027, 1, 31), "FY2027 Q4", dt.date(2026, 11, 1), dt.date(2027, 1, 31)),
        (dt.date(2027, 2, 1), "FY2028 Q1", dt.date(2027, 2, 1), dt.date(2027, 4, 30)),
    ],
)
def test_quarters_across_the_calendar_year_boundary(day, label, start, end):
    quarter = FEB_END.period(day, PeriodKind.QUARTER)
    assert (quarter.label, quarter.start, quarter.end) == (label, start, end)
    assert day in quarter


def test_months_count_from_the_fiscal_start():
    january = FEB_END.period(dt.date(2027, 1, 15), "month")
    assert (january.index, january.label, january.start, january.end) == (
        12,
        "FY2027 M12",
        dt.date(2027, 1, 1),
        dt.date(2027, 1, 31),
    )
    leap_feb = FEB_END.period(dt.date(2028, 2, 29), "month")
    assert (leap_feb.index, leap_feb.end, leap_feb.days) == (1, dt.date(2028, 2, 29), 29)


def test_periods_cover_the_year_without_gaps_or_overlaps():
    for kind, count in ((PeriodKind.MONTH, 12), (PeriodKind.QUARTER, 4), (PeriodKind.YEAR, 1)):
        periods = FEB_END.periods(2027, kind)
        assert len(periods) == count
        assert periods[0].start == dt.date(2026, 2, 1)
        assert periods[-1].end == dt.date(2027, 1, 31)
        for earlier, later in itertools.pairwise(periods):
            assert later.start == earlier.end + dt.timedelta(days=1)
    assert sum(p.days for p in FEB_END.periods(2027, "month")) == 365


def test_shift_moves_across_fiscal_years():
    q4 = FEB_END.period(dt.date(2026, 12, 1), "quarter")
    assert FEB_END.shift(q4, 1).label == "FY2028 Q1"
    assert FEB_END.shift(q4, -4).label == "FY2026 Q4"
    year = FEB_END.period(dt.date(2026, 12, 1), "year")
    assert FEB_END.shift(year, 1).start == dt.date(2027, 2, 1)


def test_keys_round_trip_and_bad_keys_are_explained():
    for period in FEB_END.periods(2027, "month") + FEB_END.periods(2027, "quarter"):
        assert FEB_END.parse(period.key) == period
    assert FEB_END.parse("2027").label == "FY2027"
    with pytest.raises(ValueError, match="'2027-Q5' is not a fiscal period"):
        FEB_END.parse("2027-Q5")
    with pytest.raises(ValueError, match="start month must be 1 to 12"):
        FiscalCalendar(start_month=13)


def test_january_calendar_is_the_calendar_year():
    assert JAN.period(dt.date(2026, 5, 5), "quarter").label == "FY2026 Q2"
    assert JAN.year_start(2026) == dt.date(2026, 1, 1)


def test_org_settings_drive_the_calendar(db):
    from salesops.org.selectors import fiscal_calendar
    from salesops.org.services import org_settings_update

    org_settings_update(fiscal_year_start_month=7, fiscal_year_naming="end")
    assert fiscal_calendar().period(dt.date(2026, 7, 1), "quarter").label == "FY2027 Q1"
