"""Returns around trades (bot.analysis.returns) on closes read from the real price files.

Expected values were read from the files with a text viewer (rows quoted next to each number).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from bot.analysis.returns import (
    Anchor,
    add_months,
    adjust_for_splits,
    after_trade,
    anchor_close,
    horizon_return,
    return_over,
    sale_waves,
    summarize,
)
from bot.prices import PriceSeries, Split, load_price_file, load_yahoo_chart, period_return
from tests.edgar_fake import FIXTURES_DIR

PRICES = FIXTURES_DIR / "prices"
TSLA = PRICES / "TSLA_daily_2013-2023.csv"
AAPL_CSV = PRICES / "AAPL_yahoo_2018-04-16_2023-04-14_with_extra_cols.csv"
AAPL_V8 = PRICES / "yahoo_chart_v8_AAPL_2020-08-31_to_2020-11-07.body.json"


@pytest.fixture(scope="module")
def tsla() -> PriceSeries:
    return load_price_file(TSLA)


@pytest.fixture(scope="module")
def aapl() -> PriceSeries:
    return load_price_file(AAPL_CSV)


def at(anchor: Anchor | None) -> tuple[date, float] | None:
    return None if anchor is None else (anchor.day, anchor.close)


def test_add_months() -> None:
    assert add_months(date(2021, 11, 8), 1) == date(2021, 12, 8)
    assert add_months(date(2021, 11, 8), 6) == date(2022, 5, 8)
    assert add_months(date(2020, 8, 31), 1) == date(2020, 9, 30)  # clamped to the month's end
    assert add_months(date(2020, 1, 31), 1) == date(2020, 2, 29)
    assert add_months(date(2021, 12, 15), 1) == date(2022, 1, 15)


def test_period_return_on_known_closes(tsla: PriceSeries) -> None:
    # "2021-11-08,...,387.64666748046875,..." and "2021-12-08,...,356.32000732421875,..."
    expected = 356.32000732421875 / 387.64666748046875 - 1
    assert period_return(tsla, date(2021, 11, 8), date(2021, 12, 8)) == pytest.approx(expected)
    assert return_over(tsla, date(2021, 11, 8), date(2021, 12, 8)) == pytest.approx(expected)
    # Saturday 2021-11-06 starts at Monday's close; Sunday 2021-12-12 ends at Friday 2021-12-10's.
    # "2021-12-10,...,339.010009765625,..."
    assert return_over(tsla, date(2021, 11, 6), date(2021, 12, 12)) == pytest.approx(
        339.010009765625 / 387.64666748046875 - 1)


def test_return_over_refuses_a_window_the_data_does_not_cover(tsla: PriceSeries) -> None:
    # The file starts 2013-01-02 and ends 2023-12-29.
    assert return_over(tsla, date(2012, 6, 1), date(2013, 6, 1)) is None
    assert return_over(tsla, date(2023, 6, 1), date(2024, 6, 1)) is None
    assert return_over(None, date(2021, 1, 1), date(2021, 2, 1)) is None
    # period_return (bot.prices) would silently shorten the window; return_over does not.
    assert period_return(tsla, date(2023, 6, 1), date(2024, 6, 1)) is not None


def test_after_trade_one_and_six_months(tsla: PriceSeries) -> None:
    after = after_trade(tsla, date(2021, 11, 8))
    assert at(after.anchor) == (date(2021, 11, 8), pytest.approx(387.64666748046875))
    assert after.get(1) == pytest.approx(356.32000732421875 / 387.64666748046875 - 1)
    # 2022-05-08 is a Sunday: Friday "2022-05-06,...,288.54998779296875,..."
    assert after.get(6) == pytest.approx(288.54998779296875 / 387.64666748046875 - 1)


def test_after_trade_on_a_weekend_anchors_to_the_previous_session(aapl: PriceSeries) -> None:
    # Cook's 2019-08-24 vesting is dated a Saturday: Friday "8/23/2019,...,50.66,..." is the anchor.
    anchor = anchor_close(aapl, date(2019, 8, 24))
    assert at(anchor) == (date(2019, 8, 23), pytest.approx(50.66))


def test_trade_before_the_split_from_the_split_adjusted_csv(aapl: PriceSeries) -> None:
    # "8/28/2020,...,124.807503,..." (the $499.23 of that day on the 4:1 basis) and "9/28/2020,...,114.959999".
    after = after_trade(aapl, date(2020, 8, 28))
    assert at(after.anchor) == (date(2020, 8, 28), pytest.approx(124.807503))
    assert after.get(1) == pytest.approx(114.959999 / 124.807503 - 1)  # -7.9%, not 114.96 / 499.23 - 1
    # 2021-02-28 is a Sunday: Friday "2/26/2021,...,121.260002,..."
    assert after.get(6) == pytest.approx(121.260002 / 124.807503 - 1)


def test_trade_before_the_split_from_the_yahoo_chart_response() -> None:
    series, splits = load_yahoo_chart(AAPL_V8)
    assert splits == (Split("AAPL", date(2020, 8, 31), 4.0, "4:1"),)
    after = after_trade(series, date(2020, 8, 28))
    # The response begins on the split day: the next session's close (129.0399932861328) is the anchor.
    assert at(after.anchor) == (date(2020, 8, 31), pytest.approx(129.0399932861328))
    assert after.get(1) == pytest.approx(114.95999908447266 / 129.0399932861328 - 1)
    assert after.get(6) is None  # the response ends 2020-11-06


def test_horizon_not_reached_is_none(aapl: PriceSeries) -> None:
    # The file ends Friday 2023-04-14.
    anchor = anchor_close(aapl, date(2023, 3, 14))
    assert anchor is not None
    assert horizon_return(aapl, anchor, date(2023, 4, 14)) is not None
    assert horizon_return(aapl, anchor, date(2023, 4, 16)) is not None  # Sunday: Friday's close is the close
    assert horizon_return(aapl, anchor, date(2023, 4, 17)) is None  # Monday: not in the data
    after = after_trade(aapl, date(2023, 4, 3))
    assert after.get(1) is None and after.get(6) is None
    assert after.anchor is not None
    assert after_trade(None, date(2023, 4, 3)).anchor is None
    assert after_trade(aapl, date(2010, 1, 4)).get(1) is None  # before the file starts


def test_raw_closes_across_a_split_are_adjusted(aapl: PriceSeries) -> None:
    # Make the adjusted file raw across 2020-08-31 (x4 before it), as an unadjusted vendor would send it.
    window = aapl.between(date(2020, 7, 1), date(2020, 10, 30))
    raw_values = window.closes.copy()
    before = raw_values.index < pd.Timestamp(2020, 8, 31)
    raw_values[before] = raw_values[before] * 4
    raw = PriceSeries("AAPL", raw_values, "raw")
    assert raw.close_on_or_before(date(2020, 8, 28))[1] == pytest.approx(499.230012)  # type: ignore[index]
    split = Split("AAPL", date(2020, 8, 31), 4.0)
    fixed = adjust_for_splits(raw, [split])
    assert fixed.closes.to_numpy() == pytest.approx(window.closes.to_numpy())
    assert after_trade(fixed, date(2020, 8, 28)).get(1) == pytest.approx(114.959999 / 124.807503 - 1)
    # An adjusted series is left alone (the same object), and so is a split outside its span.
    assert adjust_for_splits(window, [split]) is window
    assert adjust_for_splits(window, [Split("AAPL", date(2014, 6, 9), 7.0)]) is window


def test_summary() -> None:
    s = summarize([0.1, -0.2, None, 0.05])
    assert (s.count, s.up, s.down) == (3, 2, 1)
    assert s.median == pytest.approx(0.05)
    assert summarize([None]).median is None


def test_sale_waves_group_days_and_sellers() -> None:
    days = [
        (date(2021, 11, 8), "1494730", 100),
        (date(2021, 11, 9), "1494730", 200),
        (date(2021, 11, 9), "999", 50),
        (date(2021, 11, 23), "1494730", 10),  # 14 days after the 9th: same wave
        (date(2021, 12, 8), "1494730", 5),  # 15 days later: a new wave
    ]
    waves = sale_waves(days, gap_days=14)
    assert [(w.start, w.end, w.value_cents, w.sellers, w.days) for w in waves] == [
        (date(2021, 11, 8), date(2021, 11, 23), 360, 2, 3),
        (date(2021, 12, 8), date(2021, 12, 8), 5, 1, 1),
    ]
    assert sale_waves([]) == []
