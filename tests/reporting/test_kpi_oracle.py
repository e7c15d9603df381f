import datetime as dt
import time

from salesops.org.generate import SCALES, generate_org
from tests.reporting.oracle import expected


def test_scratch(db):
    t = time.perf_counter()
    generate_org(scale=SCALES["demo"], seed=7, as_of=dt.date(2026, 10, 31))
    print("gen", time.perf_counter() - t)
    for as_of in (None, dt.date(2026, 3, 31), dt.date(2025, 8, 15)):
        t = time.perf_counter()
        df = expected(as_of)
        print(as_of, "oracle", time.perf_counter() - t, len(df))
        print(df.groupby("metric").size())
    df.to_pickle("/tmp/oracle_scratch/gen.pkl")
