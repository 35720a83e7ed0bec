"""Price loaders, split table, local price folder and returns, on the real vendor files in fixtures/prices.

Expected values were read from the files with a text viewer, not produced by the code under test.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from bot.prices import (
    DEMO_PRICES_DIR,
    LocalPrices,
    PriceDataError,
    PriceSeries,
    Split,
    SplitTable,
    demo_prices,
    demo_splits,
    load_price_file,
    load_yahoo_chart,
    period_return,
)

PRICES = Path(__file__).parent / "fixtures" / "prices"
TSLA_2013 = PRICES / "TSLA_daily_2013-2023.csv"  # Date,Open,High,Low,Close,Volume
TSLA_2020 = PRICES / "TSLA_daily_2020-2026.csv"  # Date,Close,High,Low,Open,Volume
AAPL_YAHOO = PRICES / "AAPL_yahoo_2018-04-16_2023-04-14_with_extra_cols.csv"
AAPL_STOOQ = PRICES / "stooq_aapl.us.txt"
AAPL_V8 = PRICES / "yahoo_chart_v8_AAPL_2020-08-31_to_2020-11-07.body.json"
AAPL_V8_FIXTURE = PRICES / "yahoo_chart_v8_AAPL_2020-08-31_to_2020-11-07.fixture.json"
AMZN_V8 = PRICES / "yahoo_chart_v8_AMZN_2020-01-01_to_2020-01-03.body.json"
AAPL_V8_WEEKEND = PRICES / "yahoo_chart_v8_AAPL_1m_2025-02-01_empty-weekend.body.json"
RUM_YAHOO = PRICES / "RUM_yahoo_2021-04-14_2024-03-08.csv"


def close(series: PriceSeries, day: date) -> float:
    found = series.close_on_or_before(day)
    assert found is not None and found[0] == day, f"no close on {day}"
    return found[1]


# ---- loaders ---------------------------------------------------------------------------------------------


def test_yfinance_csv_open_first() -> None:
    s = load_price_file(TSLA_2013)
    assert s.ticker == "TSLA"
    assert (s.first_day, s.last_day, len(s)) == (date(2013, 1, 2), date(2023, 12, 29), 2768)
    # Row "2021-11-08,383.26...,399.0,377.66...,387.64666748046875,100337100": Close is the 5th column.
    assert close(s, date(2021, 11, 8)) == pytest.approx(387.64666748046875)
    assert close(s, date(2013, 1, 2)) == pytest.approx(2.357332944869995)


def test_yfinance_csv_close_first_is_read_by_header_name() -> None:
    s = load_price_file(TSLA_2020)
    # Row "2021-11-08,387.64666748046875,399.0,377.66...,383.26...": here Close is the 2nd column, and the
    # other file agrees on the same day.
    assert close(s, date(2021, 11, 8)) == pytest.approx(387.64666748046875)
    assert close(s, date(2020, 1, 2)) == pytest.approx(28.68400001525879)
    assert s.last_day == date(2026, 2, 13)
    assert close(s, date(2026, 2, 13)) == pytest.approx(417.44000244140625)


def test_yahoo_csv_us_dates_and_quoted_thousands() -> None:
    s = load_price_file(AAPL_YAHOO)
    assert s.ticker == "AAPL"
    assert len(s) == 1259
    assert (s.first_day, s.last_day) == (date(2018, 4, 16), date(2023, 4, 14))
    # '1/24/2019,38.5275,38.619999,37.935001,38.174999,36.78941,101766000,"35,000",1,...': the quoted
    # "35,000" in AD Net must not shift the columns; Close (not Adj Close) is kept.
    assert close(s, date(2019, 1, 24)) == pytest.approx(38.174999)
    assert close(s, date(2020, 8, 31)) == pytest.approx(129.039993)
    assert close(s, date(2023, 4, 14)) == pytest.approx(165.210007)


def test_yahoo_download_csv() -> None:
    s = load_price_file(RUM_YAHOO)
    assert s.ticker == "RUM"
    assert close(s, date(2023, 8, 17)) == pytest.approx(7.24)
    assert close(s, date(2021, 12, 1)) == pytest.approx(9.755)


def test_stooq_native_file() -> None:
    s = load_price_file(AAPL_STOOQ)
    assert s.ticker == "AAPL"  # from <TICKER> AAPL.US
    assert len(s) == 10462
    assert (s.first_day, s.last_day) == (date(1984, 9, 7), date(2026, 3, 18))
    assert close(s, date(2026, 3, 18)) == pytest.approx(249.94)
    assert close(s, date(2020, 8, 31)) == pytest.approx(125.4)  # Stooq also adjusts for dividends
    assert "Stooq" in s.source


def test_yahoo_chart_v8_closes_and_split_event() -> None:
    s, splits = load_yahoo_chart(AAPL_V8)
    assert s.ticker == "AAPL"
    assert len(s) == 49
    assert (s.first_day, s.last_day) == (date(2020, 8, 31), date(2020, 11, 6))
    assert close(s, date(2020, 8, 31)) == pytest.approx(129.0399932861328)
    assert close(s, date(2020, 11, 6)) == pytest.approx(118.69000244140625)
    # events.splits {"1598880600": {"numerator": 4, "denominator": 1, "splitRatio": "4:1"}}; the dividend
    # event of 2020-11-06 is not a split.
    assert splits == (Split("AAPL", date(2020, 8, 31), 4.0, "4:1"),)
    # The recorded request/response wrapper reads the same.
    assert close(load_price_file(AAPL_V8_FIXTURE), date(2020, 9, 1)) == pytest.approx(134.17999267578125)


def test_yahoo_chart_v8_closes_are_split_adjusted() -> None:
    s = load_price_file(AMZN_V8)
    # AMZN closed at $1,898.01 on 2020-01-02; the response (recorded 2025) carries the 20:1-adjusted value.
    assert close(s, date(2020, 1, 2)) == pytest.approx(94.90049743652344)


def test_yahoo_chart_without_bars_is_a_clear_error() -> None:
    with pytest.raises(PriceDataError, match="no price bars"):
        load_price_file(AAPL_V8_WEEKEND)


def test_empty_and_unknown_files(tmp_path: Path) -> None:
    empty = tmp_path / "XYZ.csv"
    empty.write_text("\n  \n")
    with pytest.raises(PriceDataError, match="XYZ.csv: file is empty"):
        load_price_file(empty)
    with pytest.raises(PriceDataError, match="unrecognised price file"):
        load_price_file(PRICES / "splits.csv")
    header_only = tmp_path / "ABC.csv"
    header_only.write_text(TSLA_2013.read_text().splitlines()[0] + "\n")
    with pytest.raises(PriceDataError, match="ABC.csv"):
        load_price_file(header_only)
    with pytest.raises(PriceDataError, match="cannot read"):
        load_price_file(tmp_path / "missing.csv")


# ---- splits ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def splits() -> SplitTable:
    return SplitTable.from_csv(PRICES / "splits.csv")


def test_tsla_factors(splits: SplitTable) -> None:
    assert splits.factor_after("TSLA", date(2021, 11, 8)) == 3  # only the 2022-08-25 3:1 is later
    assert splits.factor_after("TSLA", date(2020, 1, 2)) == 15  # 5:1 (2020-08-31) and 3:1
    assert splits.factor_after("TSLA", date(2020, 8, 28)) == 15
    assert splits.factor_after("TSLA", date(2020, 8, 31)) == 3  # the split day trades on the new basis
    assert splits.factor_after("TSLA", date(2022, 8, 25)) == 1
    assert splits.factor_after("tsla", date(2010, 6, 29)) == 15


def test_other_tickers(splits: SplitTable) -> None:
    assert splits.factor_after("AAPL", date(2014, 6, 6)) == 28  # 7:1 and 4:1
    assert splits.factor_after("GOOG", date(2022, 4, 13)) == 20
    assert splits.factor_after("GOOGL", date(2022, 7, 15)) == 20
    assert splits.factor_after("GOOGL", date(2022, 7, 18)) == 1
    assert splits.factor_after("FB", date(2017, 7, 19)) == 1.0  # FB -> META, never split
    assert splits.factor_after("META", date(2013, 1, 2)) == 1.0
    assert splits.factor_after("NOPE", date(2020, 1, 1)) == 1.0


def test_share_class_alias_when_only_one_class_is_listed() -> None:
    only_googl = SplitTable([Split("GOOGL", date(2022, 7, 18), 20.0)])
    assert only_googl.factor_after("GOOG", date(2015, 10, 2)) == 20


def test_musk_sale_converted_to_todays_basis(splits: SplitTable) -> None:
    # TSLA 0000899243-21-044060: 2021-11-08, S, 1100 shares at $1,135.05 (as reported).
    assert splits.adjust_price("TSLA", date(2021, 11, 8), 1135.05) == pytest.approx(378.35)
    assert splits.adjust_shares("TSLA", date(2021, 11, 8), 1100) == 3300
    adjusted_close = close(load_price_file(TSLA_2013), date(2021, 11, 8))
    assert abs(1135.05 / 3 / adjusted_close - 1) < 0.05


def test_yahoo_split_event_agrees_with_split_table(splits: SplitTable) -> None:
    _, events = load_yahoo_chart(AAPL_V8)
    assert next(s for s in splits.splits_for("AAPL") if s.day == events[0].day).ratio == events[0].ratio
    merged = splits.merged(events)
    assert len(merged) == len(splits)  # same split, not counted twice
    assert merged.factor_after("AAPL", date(2020, 8, 28)) == 4
    assert SplitTable().merged(events).factor_after("AAPL", date(2020, 8, 28)) == 4


def test_bad_split_file(tmp_path: Path) -> None:
    bad = tmp_path / "splits.csv"
    bad.write_text("ticker,date,ratio\nTSLA,2022-08-25,three\n")
    with pytest.raises(PriceDataError, match="line 2"):
        SplitTable.from_csv(bad)
    bad.write_text("symbol,when\n")
    with pytest.raises(PriceDataError, match="lacks column"):
        SplitTable.from_csv(bad)


# ---- a folder of files -----------------------------------------------------------------------------------


def test_local_prices_picks_the_most_recent_file() -> None:
    store = LocalPrices(PRICES)
    assert set(store.tickers()) >= {"TSLA", "AAPL", "RUM"}
    tsla = store.get("TSLA")
    assert tsla is not None and tsla.last_day == date(2026, 2, 13)
    # A chart from 2015 wants the file that has 2015.
    older = store.get("TSLA", since=date(2015, 1, 2))
    assert older is not None and older.first_day == date(2013, 1, 2)
    aapl = store.get("aapl")
    assert aapl is not None and aapl.last_day == date(2026, 3, 18)  # the Stooq file beats the 2023 CSV


def test_local_prices_unknown_ticker_and_bad_files(tmp_path: Path) -> None:
    shutil.copy(RUM_YAHOO, tmp_path / "RUM.csv")
    (tmp_path / "BAD_prices.csv").write_text("")
    shutil.copy(PRICES / "splits.csv", tmp_path / "splits.csv")
    store = LocalPrices(tmp_path)
    assert store.tickers() == ["BAD", "RUM"]
    assert store.get("NOPE") is None
    assert store.get("BAD") is None  # logged and skipped, no crash
    assert "RUM" in store and "NOPE" not in store
    rum = store.get("RUM")
    assert rum is not None and close(rum, date(2023, 8, 17)) == pytest.approx(7.24)
    assert LocalPrices(tmp_path / "nowhere").get("TSLA") is None


def test_demo_prices_cover_the_demo_tickers() -> None:
    store = demo_prices()
    for ticker in ("TSLA", "MSFT", "META", "FB", "NTRA", "SQ", "MDB", "GOOGL", "GOOG", "AAPL", "RUM",
                   "DKNG", "WDAY", "SNOW"):
        assert store.get(ticker) is not None, ticker
    fb = store.get("FB", since=date(2017, 7, 19))
    assert fb is not None and fb.ticker == "META" and fb.first_day is not None
    assert fb.first_day <= date(2017, 7, 19)
    msft_2017 = store.get("MSFT", since=date(2017, 8, 30))
    assert msft_2017 is not None and msft_2017.first_day is not None
    assert msft_2017.first_day <= date(2017, 8, 30)
    assert demo_splits().factor_after("TSLA", date(2021, 11, 8)) == 3
    size = sum(p.stat().st_size for p in DEMO_PRICES_DIR.iterdir())
    assert size < 3_000_000
    assert (DEMO_PRICES_DIR / "README.md").is_file()


# ---- returns ---------------------------------------------------------------------------------------------


def test_period_return() -> None:
    s = load_price_file(TSLA_2013)
    # 2021-11-08 close 387.64666748046875 -> 2021-12-31 close 352.260009765625
    r = period_return(s, date(2021, 11, 8), date(2021, 12, 31))
    assert r == pytest.approx(352.260009765625 / 387.64666748046875 - 1)
    # Saturday 2021-11-06 starts at Monday's close; Sunday 2022-01-02 ends at Friday's.
    assert period_return(s, date(2021, 11, 6), date(2022, 1, 2)) == pytest.approx(r)
    assert period_return(s, date(2021, 11, 6), date(2021, 11, 7)) is None  # one weekend, no session
    assert period_return(s, date(2024, 6, 1), date(2024, 12, 31)) is None  # after the file ends
    assert period_return(s, date(2010, 1, 1), date(2013, 1, 2)) == pytest.approx(0.0)


def test_close_lookups_and_between() -> None:
    s = load_price_file(TSLA_2013)
    assert s.close_on_or_before(date(2021, 11, 7)) == (date(2021, 11, 5), 407.36334228515625)
    assert s.close_on_or_after(date(2021, 11, 6)) == (date(2021, 11, 8), 387.64666748046875)
    assert s.close_on_or_before(date(2012, 12, 31)) is None
    assert s.close_on_or_after(date(2024, 1, 2)) is None
    assert s.close_on_or_before(date(2024, 3, 1), max_gap_days=7) is None
    nov = s.between(date(2021, 11, 1), date(2021, 11, 30))
    assert (nov.first_day, nov.last_day, len(nov)) == (date(2021, 11, 1), date(2021, 11, 30), 21)
