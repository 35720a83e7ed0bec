"""The issuer chart: real TSLA prices and real Musk trades (rows copied from the Form 4s named below)."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from bot.prices import PriceSeries, SplitTable, load_price_file
from bot.render.chart import (
    ChartTrade,
    Side,
    adjusted_trade_points,
    format_dollars,
    monthly_net_flow,
    render_issuer_chart,
)

PRICES = Path(__file__).parent / "fixtures" / "prices"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def trade(day: date, side: Side, shares: float, price: float | None) -> ChartTrade:
    value = round(shares * price * 100) if price is not None else 0
    return ChartTrade(day, side, shares, price, value)


# TSLA 0000899243-21-044060 (Musk, 2021-11-08, code S), first rows as reported, before the 2022 3:1 split.
MUSK_2021_11_08 = [
    trade(date(2021, 11, 8), "sell", 1100, 1135.05),
    trade(date(2021, 11, 8), "sell", 600, 1138.0),
    trade(date(2021, 11, 8), "sell", 2300, 1139.487),
    trade(date(2021, 11, 8), "sell", 6400, 1141.05),
]
# TSLA 0000899243-22-015923 (2022-04-26, S), before the 2022 3:1 split.
MUSK_2022_04_26 = [
    trade(date(2022, 4, 26), "sell", 201269, 876.42),
    trade(date(2022, 4, 26), "sell", 83970, 880.23),
]
# TSLA 0001494730-20-000001 (2020-02-14, P 13,037 at $767.00), before both the 5:1 and the 3:1 split.
MUSK_2020_02_14 = [trade(date(2020, 2, 14), "buy", 13037, 767.0)]
MUSK = MUSK_2020_02_14 + MUSK_2021_11_08 + MUSK_2022_04_26


@pytest.fixture(scope="module")
def tsla() -> PriceSeries:
    return load_price_file(PRICES / "TSLA_daily_2013-2023.csv")


@pytest.fixture(scope="module")
def splits() -> SplitTable:
    return SplitTable.from_csv(PRICES / "splits.csv")


def assert_png(data: bytes) -> None:
    assert data[:8] == PNG_MAGIC
    assert 20_000 < len(data) < 1_000_000
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        assert img.size == (1200, 800)
        # Dark theme: the corner pixel is the Discord embed background.
        assert img.convert("RGB").getpixel((2, 2)) == (0x2B, 0x2D, 0x31)


# ---- the pure helpers ------------------------------------------------------------------------------------


def test_pre_split_trades_land_on_the_adjusted_close(tsla: PriceSeries, splits: SplitTable) -> None:
    points = {(p.day, p.side): p for p in adjusted_trade_points(MUSK, tsla, splits, "TSLA")}
    # (day, adjusted close that day, split factor)
    cases: list[tuple[date, Side, float, int]] = [
        (date(2021, 11, 8), "sell", 387.64666748046875, 3),
        (date(2022, 4, 26), "sell", 292.1400146484375, 3),
        (date(2020, 2, 14), "buy", 53.33533477783203, 15),
    ]
    for day, side, adjusted_close, factor in cases:
        p = points[(day, side)]
        assert p.split_factor == factor
        assert p.price_source == "reported"
        assert p.price is not None and abs(p.price / adjusted_close - 1) < 0.15, (day, p.price)
    # Without the split table the 2021 sale would float ~3x above the line.
    raw = adjusted_trade_points(MUSK_2021_11_08, tsla, None, "TSLA")[0]
    assert raw.price is not None and raw.price > 2.5 * 387.64666748046875


def test_one_point_per_day_and_side_with_share_weighted_price(tsla: PriceSeries, splits: SplitTable) -> None:
    points = adjusted_trade_points(MUSK_2021_11_08, tsla, splits, "TSLA")
    assert len(points) == 1
    p = points[0]
    shares = 1100 + 600 + 2300 + 6400
    dollars = 1100 * 1135.05 + 600 * 1138.0 + 2300 * 1139.487 + 6400 * 1141.05
    assert p.trades == 4
    assert p.price == pytest.approx(dollars / shares / 3)
    assert p.shares == pytest.approx(shares * 3)
    assert p.value_cents == sum(t.value_cents for t in MUSK_2021_11_08)


def test_priceless_trade_sits_on_the_close(tsla: PriceSeries, splits: SplitTable) -> None:
    saturday = trade(date(2021, 11, 6), "sell", 1000, None)
    monday = trade(date(2021, 11, 8), "buy", 1000, None)
    points = adjusted_trade_points([saturday, monday], tsla, splits, "TSLA")
    assert [(p.day, p.price_source) for p in points] == [
        (date(2021, 11, 6), "close"),
        (date(2021, 11, 8), "close"),
    ]
    assert points[0].price == pytest.approx(407.36334228515625)  # Friday 2021-11-05
    assert points[1].price == pytest.approx(387.64666748046875)
    # No prices and no reported price: nowhere to put it on the price axis.
    assert adjusted_trade_points([monday], None, splits, "TSLA")[0].price is None


def test_unknown_ticker_is_not_adjusted(splits: SplitTable) -> None:
    p = adjusted_trade_points(MUSK_2021_11_08[:1], None, splits, "NOPE")[0]
    assert p.split_factor == 1.0 and p.price == pytest.approx(1135.05)


def test_monthly_net_flow() -> None:
    flow = monthly_net_flow(MUSK + [trade(date(2021, 11, 30), "buy", 10, 1000.0)])
    assert [m for m, _ in flow] == [date(2020, 2, 1), date(2021, 11, 1), date(2022, 4, 1)]
    assert flow[0][1] == 13037 * 767 * 100
    assert flow[1][1] == 10 * 1000 * 100 - sum(t.value_cents for t in MUSK_2021_11_08)
    assert flow[2][1] < 0


def test_format_dollars() -> None:
    assert format_dollars(950) == "$950"
    assert format_dollars(12_300) == "$12K"
    assert format_dollars(1_500_000) == "$1.5M"
    assert format_dollars(-8_800_000_000) == "-$8.8B"
    assert format_dollars(2_000_000_000) == "$2B"
    assert format_dollars(41_000_000, signed=True) == "+$41M"
    assert format_dollars(0) == "$0"


# ---- rendering -------------------------------------------------------------------------------------------


def test_musk_chart(tsla: PriceSeries, splits: SplitTable) -> None:
    assert_png(render_issuer_chart(MUSK, tsla, title="Tesla (TSLA): Elon Musk", splits=splits, ticker="TSLA"))


def test_chart_without_price_data(splits: SplitTable) -> None:
    assert_png(render_issuer_chart(MUSK_2021_11_08, None, title="TSLA, no prices", splits=splits,
                                   ticker="TSLA"))
    no_prices_anywhere = [trade(date(2021, 11, 8), "sell", 1000, None)]
    assert_png(render_issuer_chart(no_prices_anywhere, None, title="TSLA, no prices at all"))


def test_chart_without_trades(tsla: PriceSeries) -> None:
    assert_png(render_issuer_chart([], tsla, title="TSLA, no trades", start=date(2021, 1, 1),
                                   end=date(2021, 12, 31)))
    assert_png(render_issuer_chart([], None, title="Nothing at all"))


def test_chart_with_a_single_trade(tsla: PriceSeries, splits: SplitTable) -> None:
    one = MUSK_2020_02_14
    assert_png(render_issuer_chart(one, tsla, title="One trade", splits=splits, ticker="TSLA"))
    assert_png(render_issuer_chart(one, tsla, title="One trade", splits=splits, start=one[0].day,
                                   end=one[0].day))


def test_trades_outside_the_price_history(tsla: PriceSeries, splits: SplitTable) -> None:
    # TSLA 0001494730-11-000006: 2011-06-08 purchase, before the price file starts (2013).
    early = [trade(date(2011, 6, 8), "buy", 1416000, 28.76)]
    assert_png(render_issuer_chart(early + MUSK, tsla, title="TSLA since 2011", splits=splits))


def test_bad_side_is_refused() -> None:
    with pytest.raises(ValueError, match="'buy' or 'sell'"):
        ChartTrade(date(2021, 11, 8), "S", 1.0, 1.0, 100)  # type: ignore[arg-type]


def test_bad_window_is_refused(tsla: PriceSeries) -> None:
    with pytest.raises(ValueError, match="after it ends"):
        render_issuer_chart([], tsla, title="x", start=date(2022, 1, 1), end=date(2021, 1, 1))


def test_renders_in_a_worker_process(tsla: PriceSeries, splits: SplitTable) -> None:
    window = tsla.between(date(2021, 1, 1), date(2022, 12, 31))
    trades, series, table = pickle.loads(pickle.dumps((MUSK, window, splits)))
    assert trades == MUSK and len(series) == len(window)
    assert table.factor_after("TSLA", date(2021, 1, 1)) == 3
    with ProcessPoolExecutor(max_workers=1) as pool:
        future = pool.submit(render_issuer_chart, MUSK, window, title="Tesla (TSLA)", splits=splits,
                             ticker="TSLA")
        png = future.result(timeout=60)
    assert_png(png)


def test_no_pyplot_anywhere() -> None:
    # A fresh interpreter: importing and rendering must not pull in pyplot's global state.
    code = (
        "import sys; from datetime import date; from bot.render.chart import ChartTrade, render_issuer_chart;"
        "t = ChartTrade(date(2021, 11, 8), 'sell', 10.0, 1135.05, 1135050);"
        "render_issuer_chart([t], None, title='t');"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=60)
