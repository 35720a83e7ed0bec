"""The market pulse on a store loaded with the real filings, and the table image.

The weekly numbers are checked against sums made by hand from the filings' rows.
"""

from __future__ import annotations

import io
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from PIL import Image

from bot.ingest import ingest_paths
from bot.pulse import MAX_WEEKS, market_pulse, monday_of
from bot.render.reply import Reply, Table
from bot.render.table_image import render_table_png, reply_table_png
from bot.sec.form4 import parse_document
from bot.store.db import Store
from tests.conftest import FORM4, form4, read_rows

# Week of Monday 2019-04-29 in the corpus: one sale, one purchase.
# AAPL_wf-form4_155718184308434.xml (Jeffrey Williams), code S on 2019-05-02:
#   13,433 x 208.99 = 2,807,362.67
#   18,256 x 209.71 = 3,828,465.76
#    8,601 x 210.98 = 1,814,638.98
#   14,571 x 211.83 = 3,086,574.93
#    1,550 x 212.46 =   329,313.00
#                     11,866,355.34
# TSLA_0001494730-19-000001 (Elon Musk), code P on 2019-05-02: 102,880 x 243.00 = 24,999,840.00
WEEK_SOLD = 11_866_355.34
WEEK_BOUGHT = 24_999_840.00
AS_OF = datetime(2019, 5, 10, 12, 0, tzinfo=UTC)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as img:
        img.verify()
    with Image.open(io.BytesIO(data)) as img:
        return img.size


@pytest.fixture
async def corpus(store: Store) -> Store:
    await ingest_paths(store, [FORM4])
    return store


def test_the_hand_sums_are_the_filings() -> None:
    sold = read_rows(form4("AAPL_wf-form4_155718184308434"))
    assert {(r["date"], r["code"]) for r in sold} == {("2019-05-02", "S")}
    assert sum(float(r["shares"]) * float(r["price"]) for r in sold) == pytest.approx(WEEK_SOLD)
    (bought,) = read_rows(form4("TSLA_0001494730-19-000001"))
    assert (bought["date"], bought["code"], bought["shares"], bought["price"]) == ("2019-05-02", "P", "102880",
                                                                                  "243.0")


async def test_weekly_ratio_against_hand_sums(corpus: Store) -> None:
    reply = await market_pulse(corpus, weeks=4, as_of=AS_OF)
    assert reply.data is not None
    weeks = {w["week_start"]: w for w in reply.data["weeks"]}
    assert list(weeks) == ["2019-04-15", "2019-04-22", "2019-04-29", "2019-05-06"]
    week = weeks["2019-04-29"]
    assert week["sell_value"] == pytest.approx(WEEK_SOLD, abs=0.005)
    assert week["buy_value"] == pytest.approx(WEEK_BOUGHT, abs=0.005)
    assert week["ratio"] == pytest.approx(WEEK_SOLD / WEEK_BOUGHT)  # 0.4747
    assert (week["sellers"], week["buyers"], week["partial"]) == (1, 1, False)
    assert (week["week_end"]) == "2019-05-05"
    # No trades in the other weeks: zero dollars and no ratio (not an infinite or zero one).
    for start in ("2019-04-15", "2019-04-22"):
        assert (weeks[start]["sell_value"], weeks[start]["buy_value"], weeks[start]["ratio"]) == (0, 0, None)
    current = weeks["2019-05-06"]
    assert current["partial"] and current["week_end"] == "2019-05-10"

    assert "Week of 2019-04-29" in reply.description and "0.47×" in reply.description
    assert reply.table is not None
    assert reply.table.rows[:2] == (("2019-05-06*", "$0", "$0", "n/a"), ("2019-04-29", "$11.87M", "$25M", "0.47×"))
    assert reply.chart is not None and reply.chart.filename == "market_pulse.png"
    assert png_size(reply.chart.png) == (1200, 750)


async def test_as_of_counts_only_filings_accepted_by_then(store: Store) -> None:
    sale = parse_document(form4("AAPL_wf-form4_155718184308434").read_bytes(), source="williams")
    buy = parse_document(form4("TSLA_0001494730-19-000001").read_bytes(), source="musk")
    buy = replace(buy, accepted_at=datetime(2019, 5, 6, 21, 0, tzinfo=UTC))
    await store.filings.ingest_many([sale, buy])
    before = await market_pulse(store, weeks=2, as_of=datetime(2019, 5, 6, 20, 0, tzinfo=UTC), chart=False)
    assert before.data is not None
    week = next(w for w in before.data["weeks"] if w["week_start"] == "2019-04-29")
    assert (week["buy_value"], week["ratio"]) == (0, None)
    assert "no open-market purchases" in before.description
    after = await market_pulse(store, weeks=2, as_of=datetime(2019, 5, 6, 22, 0, tzinfo=UTC), chart=False)
    assert after.data is not None
    week = next(w for w in after.data["weeks"] if w["week_start"] == "2019-04-29")
    assert week["buy_value"] == pytest.approx(WEEK_BOUGHT)
    assert after.chart is None


async def test_a_quiet_window_has_no_chart(corpus: Store) -> None:
    reply = await market_pulse(corpus, weeks=3, as_of=datetime(2019, 8, 1, tzinfo=UTC))
    assert reply.chart is None and reply.table is None
    assert reply.description.startswith("No open-market insider purchases or sales")
    assert reply.data is not None and len(reply.data["weeks"]) == 3


async def test_weeks_are_bounded(corpus: Store) -> None:
    reply = await market_pulse(corpus, weeks=10_000, as_of=AS_OF, chart=False)
    assert reply.data is not None and len(reply.data["weeks"]) == MAX_WEEKS


async def test_chart_renders_in_a_worker_process(corpus: Store) -> None:
    with ProcessPoolExecutor(max_workers=1) as pool:
        reply = await market_pulse(corpus, weeks=12, as_of=datetime(2022, 1, 5, tzinfo=UTC), executor=pool)
    assert reply.chart is not None and png_size(reply.chart.png) == (1200, 750)
    # Nov-Dec 2021 in the corpus: Musk's sales and no purchases at all.
    assert reply.description.startswith("**Week of 2021-12-27: $1.02B sold and no open-market purchases.**")


# ---- the table image ---------------------------------------------------------------------------------------


async def test_pulse_table_as_png(corpus: Store) -> None:
    reply = await market_pulse(corpus, weeks=8, as_of=AS_OF, chart=False)
    png = reply_table_png(reply)
    assert png is not None
    width, height = png_size(png)
    assert 640 <= width <= 1000 and 300 <= height <= 1000
    assert len(png) < 300_000


def test_wide_table_png_stays_phone_sized() -> None:
    table = Table(
        columns=("#", "Ticker", "Net", "Sold", "Bought", "Ins.", "Return"),
        rows=tuple((str(i), f"T{i:04d}", f"-${i * 1.3:.2f}M", f"${i * 1.5:.1f}M", "$0", str(i % 4 + 1),
                    f"{(-1) ** i * i * 1.7:+.1f}%" if i % 5 else "n/a") for i in range(1, 26)),
        align=(">", "<", ">", ">", ">", ">", ">"),
    )
    width, height = png_size(render_table_png(table, title="Largest net insider sales since 2024-01-01",
                                              notes=["… and 40 more"]))
    assert 640 <= width <= 1100  # ~50 characters of 20 pt monospace
    assert height <= 1600
    assert png_size(render_table_png(Table(columns=("A",), rows=())))[0] == 640
    assert reply_table_png(Reply(title="no table")) is None


def test_dates_are_weeks_from_monday() -> None:
    assert monday_of(date(2019, 5, 2)) == date(2019, 4, 29)
    assert monday_of(date(2019, 4, 29)) == date(2019, 4, 29)
    assert monday_of(date(2019, 5, 5)) == date(2019, 4, 29)
