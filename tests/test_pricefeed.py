"""PriceSource against a local fake Yahoo/Stooq serving recorded responses, the store's price cache, and the
returns that the bot shows next to insider flow (/top, /insider, /insiders).

Expected closes were read from the recorded files (tests/fixtures/prices/) with a text viewer; the trade
values from the filings (tests/fixtures/sec/form4/).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.ingest import ingest_paths
from bot.periods import Period
from bot.pricefeed import PriceSource
from bot.rankings import (
    after_sale_waves,
    sale_wave_records,
    top_with_returns,
    track_record,
    track_record_fields,
)
from bot.sec.form4 import parse_document
from bot.settings import Settings
from bot.store.db import Store
from bot.store.prices import PriceCache
from tests.conftest import FORM4, form4
from tests.edgar_fake import FIXTURES_DIR, EdgarFake, FakeResponse, closed_port_url

PRICES = FIXTURES_DIR / "prices"
FEED = FIXTURES_DIR / "pricefeed"
AAPL_V8 = PRICES / "yahoo_chart_v8_AAPL_2020-08-31_to_2020-11-07.body.json"
STOOQ_AAPL = PRICES / "stooq_aapl.us.txt"
CHART_AAPL = "/v8/finance/chart/AAPL"
STOOQ = "/q/d/l/"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

# Closes read from the recorded Yahoo v8 chart response (AAPL, 4:1-split basis).
V8_AUG31 = 129.0399932861328
V8_SEP01 = 134.17999267578125
V8_SEP28 = 114.95999908447266
V8_OCT09 = 116.97000122070312
V8_NOV06 = 118.69000244140625


def settings_for(base: str, tmp_path: Path, *, prices_dir: Path | None = None, stooq: str | None = None) -> Settings:
    empty = tmp_path / "no_local_prices"
    empty.mkdir(exist_ok=True)
    return Settings(yahoo_base=base, stooq_base=stooq or base, prices_dir=str(prices_dir or empty))


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def epoch(day: date) -> str:
    return str(int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()))


# ---- vendors and fallbacks ---------------------------------------------------------------------------------


async def test_yahoo_chart_request_closes_and_split_events(edgar_fake: EdgarFake, store: Store,
                                                           tmp_path: Path) -> None:
    edgar_fake.route(CHART_AAPL, FakeResponse.file(AAPL_V8))
    async with PriceSource(settings_for(edgar_fake.url, tmp_path), store=store, clock=Clock()) as prices:
        series = await prices.daily("aapl", date(2020, 8, 28), date(2020, 11, 6))
    assert series is not None
    assert (series.first_day, series.last_day, len(series)) == (date(2020, 8, 31), date(2020, 11, 6), 49)
    assert series.close_on_or_before(date(2020, 8, 31)) == (date(2020, 8, 31), pytest.approx(V8_AUG31))
    assert series.close_on_or_before(date(2020, 11, 6)) == (date(2020, 11, 6), pytest.approx(V8_NOV06))
    (request,) = edgar_fake.requests
    assert request.path == CHART_AAPL
    assert request.query == {"period1": epoch(date(2020, 8, 28)), "period2": epoch(date(2020, 11, 7)),
                             "interval": "1d", "events": "split"}
    assert "Mozilla" in request.headers["User-Agent"]
    # The 4:1 split event is kept with the closes.
    splits = await PriceCache(store).splits("AAPL")
    assert [(s.day, s.ratio) for s in splits] == [(date(2020, 8, 31), 4.0)]
    assert not edgar_fake.unmatched


async def test_cache_second_call_makes_no_request(edgar_fake: EdgarFake, store: Store, tmp_path: Path) -> None:
    edgar_fake.route(CHART_AAPL, FakeResponse.file(AAPL_V8))
    settings = settings_for(edgar_fake.url, tmp_path)
    async with PriceSource(settings, store=store, clock=Clock()) as prices:
        first = await prices.daily("AAPL", date(2020, 9, 1), date(2020, 10, 30))
    assert edgar_fake.count() == 1
    # A new source (a restarted bot) on the same store: the cache answers, for the window and inside it.
    async with PriceSource(settings, store=store, clock=Clock()) as prices:
        again = await prices.daily("AAPL", date(2020, 9, 1), date(2020, 10, 30))
        inner = await prices.daily("AAPL", date(2020, 9, 28), date(2020, 9, 28))
    assert edgar_fake.count() == 1
    assert first is not None and again is not None and inner is not None
    assert again.closes.equals(first.closes)
    assert "cached" in again.source
    assert inner.close_on_or_before(date(2020, 9, 28)) == (date(2020, 9, 28), pytest.approx(V8_SEP28))

    # A wider window asks again, for the union of both, so the cache stays one fetch on one split basis.
    async with PriceSource(settings, store=store, clock=Clock()) as prices:
        await prices.daily("AAPL", date(2020, 8, 28), date(2020, 11, 6))
    assert edgar_fake.count() == 2
    assert edgar_fake.requests[-1].query["period1"] == epoch(date(2020, 8, 28))
    assert edgar_fake.requests[-1].query["period2"] == epoch(date(2020, 11, 7))
    rows = await store.fetchone("SELECT COUNT(*), MIN(day), MAX(day) FROM price_days WHERE ticker='AAPL'")
    assert tuple(rows) == (49, "2020-08-31", "2020-11-06")  # type: ignore[arg-type]


async def test_recent_window_is_asked_again_after_a_few_hours(edgar_fake: EdgarFake, store: Store,
                                                             tmp_path: Path) -> None:
    edgar_fake.route(CHART_AAPL, FakeResponse.file(AAPL_V8))
    clock = Clock(datetime(2020, 11, 6, 21, 30, tzinfo=UTC))  # the window ends "today"
    async with PriceSource(settings_for(edgar_fake.url, tmp_path), store=store, clock=clock) as prices:
        await prices.daily("AAPL", date(2020, 10, 1), date(2020, 11, 6))
        clock.now += timedelta(hours=1)
        await prices.daily("AAPL", date(2020, 10, 1), date(2020, 11, 6))
        assert edgar_fake.count() == 1
        clock.now += timedelta(hours=6)  # new closes may exist now
        await prices.daily("AAPL", date(2020, 10, 1), date(2020, 11, 6))
        assert edgar_fake.count() == 2


@pytest.mark.parametrize("yahoo", [
    FakeResponse.file(FEED / "yahoo_chart_not_found.json", status=404),
    FakeResponse.text("upstream error", status=500),
    FakeResponse.text("Too Many Requests", status=429),
    FakeResponse.text("<html>not json</html>", status=200, content_type="text/html"),
])
async def test_stooq_when_yahoo_fails(edgar_fake: EdgarFake, store: Store, tmp_path: Path,
                                      yahoo: FakeResponse) -> None:
    edgar_fake.route(CHART_AAPL, yahoo)
    edgar_fake.route(STOOQ, FakeResponse.file(STOOQ_AAPL), query={"s": "aapl.us", "i": "d"})
    async with PriceSource(settings_for(edgar_fake.url, tmp_path), store=store, clock=Clock()) as prices:
        series = await prices.daily("AAPL", date(2020, 9, 1), date(2020, 9, 4))
    assert series is not None and series.source == "Stooq daily"
    # Stooq rows "AAPL.US,D,20200901,...,130.389,..." .. "20200904,...,117.542": its own (dividend-adjusted)
    # basis, never mixed with Yahoo's.
    assert len(series) == 4
    assert series.close_on_or_before(date(2020, 9, 1)) == (date(2020, 9, 1), pytest.approx(130.389))
    assert series.close_on_or_before(date(2020, 9, 4)) == (date(2020, 9, 4), pytest.approx(117.542))
    assert [r.path for r in edgar_fake.requests] == [CHART_AAPL, STOOQ]
    span = await PriceCache(store).span("AAPL")
    assert span is not None and span.source == "stooq" and not span.missing


async def test_network_error_falls_back_to_stooq(edgar_fake: EdgarFake, store: Store, tmp_path: Path) -> None:
    edgar_fake.route(STOOQ, FakeResponse.file(STOOQ_AAPL), query={"s": "aapl.us", "i": "d"})
    settings = settings_for(closed_port_url(), tmp_path, stooq=edgar_fake.url)
    async with PriceSource(settings, store=store, clock=Clock()) as prices:
        series = await prices.daily("AAPL", date(2023, 3, 1), date(2023, 3, 3))
    assert series is not None and series.close_on_or_before(date(2023, 3, 3)) == (date(2023, 3, 3),
                                                                                  pytest.approx(149.014))


async def test_delisted_ticker_is_none_with_a_logged_reason_and_remembered(
    edgar_fake: EdgarFake, store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.pricefeed")
    edgar_fake.route("/v8/finance/chart/LNKD", FakeResponse.file(FEED / "yahoo_chart_not_found.json", status=404))
    edgar_fake.route(STOOQ, FakeResponse.file(FEED / "stooq_no_data.csv"), query={"s": "lnkd.us"})
    clock = Clock()
    async with PriceSource(settings_for(edgar_fake.url, tmp_path), store=store, clock=clock) as prices:
        assert await prices.daily("LNKD", date(2015, 1, 1), date(2015, 12, 31)) is None
        assert "symbol may be delisted" in prices.reasons["LNKD"]
        assert "Stooq: no data" in prices.reasons["LNKD"]
        assert any("no prices for LNKD" in r.getMessage() and "delisted" in r.getMessage() for r in caplog.records)
        assert edgar_fake.count() == 2
        # Remembered for a day: no new requests, whatever the window.
        assert await prices.daily("LNKD", date(2012, 1, 1), date(2012, 6, 30)) is None
        assert edgar_fake.count() == 2
        clock.now += timedelta(hours=25)
        assert await prices.daily("LNKD", date(2012, 1, 1), date(2012, 6, 30)) is None
        assert edgar_fake.count() == 4
    span = await PriceCache(store).span("LNKD")
    assert span is not None and span.missing


async def test_cached_history_survives_a_delisting(edgar_fake: EdgarFake, store: Store, tmp_path: Path) -> None:
    edgar_fake.route(CHART_AAPL, FakeResponse.file(AAPL_V8))
    settings = settings_for(edgar_fake.url, tmp_path)
    async with PriceSource(settings, store=store, clock=Clock()) as prices:
        await prices.daily("AAPL", date(2020, 9, 1), date(2020, 10, 30))
    # Later both vendors stop knowing the symbol; a wider window cannot be fetched.
    edgar_fake.route(CHART_AAPL, FakeResponse.file(FEED / "yahoo_chart_not_found.json", status=404))
    edgar_fake.route(STOOQ, FakeResponse.file(FEED / "stooq_no_data.csv"))
    async with PriceSource(settings, store=store, clock=Clock()) as prices:
        series = await prices.daily("AAPL", date(2020, 8, 28), date(2020, 11, 6))
    assert series is not None and (series.first_day, series.last_day) == (date(2020, 9, 1), date(2020, 10, 30))
    assert "older window" in series.source
    span = await PriceCache(store).span("AAPL")
    assert span is not None and not span.missing  # the cached closes were kept


async def test_both_vendors_down_is_none_and_not_remembered(edgar_fake: EdgarFake, store: Store,
                                                          tmp_path: Path) -> None:
    edgar_fake.route(CHART_AAPL, FakeResponse.text("", status=503))
    edgar_fake.route(STOOQ, FakeResponse.text("", status=502))
    async with PriceSource(settings_for(edgar_fake.url, tmp_path), store=store, clock=Clock()) as prices:
        assert await prices.daily("AAPL", date(2020, 9, 1), date(2020, 9, 30)) is None
        assert "HTTP 503" in prices.reasons["AAPL"] and "HTTP 502" in prices.reasons["AAPL"]
        assert await prices.daily("AAPL", date(2020, 9, 1), date(2020, 9, 30)) is None
    assert edgar_fake.count() == 4  # an outage is not an answer: asked again
    assert await PriceCache(store).span("AAPL") is None


async def test_not_a_ticker_asks_nobody(edgar_fake: EdgarFake, store: Store, tmp_path: Path) -> None:
    async with PriceSource(settings_for(edgar_fake.url, tmp_path), store=store, clock=Clock()) as prices:
        assert await prices.daily("../etc", date(2020, 1, 1), date(2020, 2, 1)) is None
        assert await prices.daily("AAPL", date(2020, 2, 1), date(2020, 1, 1)) is None  # empty window
    assert edgar_fake.count() == 0


async def test_local_files_before_the_network(edgar_fake: EdgarFake, store: Store, tmp_path: Path) -> None:
    edgar_fake.route(CHART_AAPL, FakeResponse.text("", status=500))
    edgar_fake.route(STOOQ, FakeResponse.file(STOOQ_AAPL), query={"s": "aapl.us", "i": "d"})
    local = tmp_path / "prices"
    local.mkdir()
    for name in ("TSLA_daily_2020-2026.csv", "AAPL_yahoo_2018-04-16_2023-04-14_with_extra_cols.csv"):
        (local / name).symlink_to(PRICES / name)
    settings = settings_for(edgar_fake.url, tmp_path, prices_dir=local)
    async with PriceSource(settings, store=store, clock=Clock()) as prices:
        # TSLA_daily_2020-2026.csv row "2021-11-08,387.64666748046875,...": no request at all.
        tsla = await prices.daily("TSLA", date(2021, 11, 1), date(2021, 12, 31))
        assert tsla is not None and tsla.close_on_or_before(date(2021, 11, 8)) == (
            date(2021, 11, 8), pytest.approx(387.64666748046875))
        # AAPL_yahoo_2018-04-16_2023-04-14...csv row "8/28/2020,...,124.807503,...".
        aapl = await prices.daily("AAPL", date(2020, 8, 28), date(2020, 9, 30))
        assert aapl is not None and aapl.close_on_or_before(date(2020, 8, 28)) == (
            date(2020, 8, 28), pytest.approx(124.807503))
        assert edgar_fake.count() == 0
        # That file ends 2023-04-14: a window past it goes to the network (Yahoo fails here, Stooq answers).
        later = await prices.daily("AAPL", date(2023, 3, 1), date(2023, 6, 30))
    assert later is not None and later.source == "Stooq daily"
    assert later.close_on_or_before(date(2023, 6, 30)) == (date(2023, 6, 30), pytest.approx(191.642))
    assert [r.path for r in edgar_fake.requests] == [CHART_AAPL, STOOQ]


# ---- the split rule: returns from closes, never from the Form 4 price ---------------------------------------


async def test_trade_before_the_aapl_split_measures_from_closes(edgar_fake: EdgarFake, store: Store,
                                                                tmp_path: Path) -> None:
    # Maestri's real Form 4 (sale of 2020-10-09 at $116.89, after the split), and a constructed copy moved to
    # Friday 2020-08-28, the last session before AAPL's 4:1 split, priced as a Form 4 then reported it:
    # $499.23 (= 4 x 124.807503, that day's split-adjusted close in the Yahoo CSV).
    real = parse_document(form4("AAPL_maestri").read_bytes(), source="maestri")
    row = real.transactions[0]
    assert (row.code, row.transaction_date, row.price) == ("S", date(2020, 10, 9), 116.89)
    before = replace(real, accession="9999999999-20-000828", accession_known=True,
                     period_of_report=date(2020, 8, 28),
                     transactions=(replace(row, transaction_date=date(2020, 8, 28), price=499.23),))
    await store.filings.ingest_many([real, before])
    edgar_fake.route(CHART_AAPL, FakeResponse.file(AAPL_V8))

    async with PriceSource(settings_for(edgar_fake.url, tmp_path), store=store, clock=Clock()) as prices:
        records = await track_record(store, prices, 1513362)
    by_day = {r["day"]: r for r in records}
    assert sorted(by_day) == ["2020-08-28", "2020-10-09"]

    pre = by_day["2020-08-28"]
    assert pre["side"] == "sell" and pre["ticker"] == "AAPL"
    assert pre["reported_price"] == pytest.approx(499.23)  # shown as reported, used for nothing
    # The recorded response starts on the split day, so the trade is measured from the next session's close.
    assert (pre["anchor_day"], pre["anchor_close"]) == ("2020-08-31", pytest.approx(V8_AUG31))
    assert pre["return_1m"] == pytest.approx(V8_SEP28 / V8_AUG31 - 1)  # -10.9%
    assert pre["return_1m"] > -0.2  # from the Form 4 price it would read 114.96 / 499.23 - 1 = -77%
    assert pre["return_6m"] is None  # the response ends 2020-11-06: no close for 2021-02-28, and never 0

    post = by_day["2020-10-09"]
    assert (post["anchor_day"], post["anchor_close"]) == ("2020-10-09", pytest.approx(V8_OCT09))
    assert post["return_1m"] is None  # 2020-11-09 (a Monday) is after the last close of the response
    assert post["value"] == pytest.approx(243431 * 116.89)

    fields = track_record_fields(records)
    assert fields[0].name == "Stock after their sales (2 day(s))"
    assert fields[0].value.splitlines()[0] == "1 month: median -10.9% (0 of 1 up)"
    assert "6 months: n/a" in fields[0].value
    assert "2020-08-28 AAPL sold" in fields[-1].value and "1m -10.9% · 6m n/a" in fields[-1].value
    assert all(len(f.value) <= 1024 for f in fields)


# ---- returns next to flow, on the real filings -------------------------------------------------------------


@pytest.fixture
async def corpus(store: Store) -> Store:
    await ingest_paths(store, [FORM4])
    return store


def offline(tmp_path: Path) -> Settings:
    """Local fixture prices only: both vendors are unreachable."""
    url = closed_port_url()
    return Settings(yahoo_base=url, stooq_base=url, prices_dir=str(PRICES))


async def test_top_with_returns_adds_a_return_column(corpus: Store, tmp_path: Path) -> None:
    period = Period(date(2021, 11, 1), date(2022, 5, 31), "since 2021-11-01")
    async with PriceSource(offline(tmp_path), store=corpus, clock=Clock()) as prices:
        reply = await top_with_returns(corpus, prices, period, side="sells", limit=10)
    assert reply.table is not None and reply.data is not None
    assert reply.table.columns == ("#", "Ticker", "Net", "Sold", "Bought", "Ins.", "Return")
    assert [r["ticker"] for r in reply.data["rows"]] == ["TSLA", "GOOG", "AAPL"]
    rows = {r["ticker"]: r for r in reply.data["rows"]}
    cells = {r[1]: r for r in reply.table.rows}
    # TSLA closes (TSLA_daily_2020-2026.csv): 2021-11-01 402.86334228515625, 2022-05-31 252.75332641601562.
    assert rows["TSLA"]["return"] == pytest.approx(252.75332641601562 / 402.86334228515625 - 1)
    assert cells["TSLA"][-1] == "-37.3%"
    # No GOOG (or GOOGL) prices here and the vendors are down: "n/a", never "0".
    assert rows["GOOG"]["return"] is None and cells["GOOG"][-1] == "n/a"
    assert rows["AAPL"]["return"] is not None  # from a local AAPL file
    assert any("GOOG" in n for n in reply.notes)
    assert reply.data["return_basis"] == {"from": "2021-11-01", "to": "2022-05-31",
                                          "method": "close to close, split-adjusted daily closes"}
    assert "2021-11-01" in reply.description


async def test_top_with_returns_for_all_history_has_no_return(corpus: Store, tmp_path: Path) -> None:
    async with PriceSource(offline(tmp_path), store=corpus, clock=Clock()) as prices:
        reply = await top_with_returns(corpus, prices, Period(None, None, "over all stored history"), limit=3)
    assert reply.table is not None and all(row[-1] == "n/a" for row in reply.table.rows)
    assert any("start date" in n for n in reply.notes)


async def test_musk_track_record(corpus: Store, tmp_path: Path) -> None:
    async with PriceSource(offline(tmp_path), store=corpus, clock=Clock()) as prices:
        records = await track_record(corpus, prices, 1494730)
    by_key = {(r["day"], r["side"]): r for r in records}
    sale = by_key[("2021-11-08", "sell")]
    # TSLA_daily_2013-2023.csv: 2021-11-08 387.64666748046875; 2021-12-08 356.32000732421875; the 6-month
    # target 2022-05-08 is a Sunday, so Friday 2022-05-06 288.54998779296875.
    assert sale["anchor_close"] == pytest.approx(387.64666748046875)
    assert sale["return_1m"] == pytest.approx(356.32000732421875 / 387.64666748046875 - 1)
    assert sale["return_6m"] == pytest.approx(288.54998779296875 / 387.64666748046875 - 1)
    # 2021-11-08 in the filings: two Form 4s (0000899243-21-044060 and -044061) with $1,102,342,478.72 in all.
    assert sale["value"] == pytest.approx(1_102_342_478.72)
    # His 2012 purchase predates every local file, and the vendors are unreachable: n/a, not 0.
    buy_2012 = by_key[("2012-10-03", "buy")]
    assert buy_2012["anchor_day"] is None and buy_2012["return_1m"] is None
    fields = track_record_fields(records)
    assert [f.name.split(" (")[0] for f in fields] == ["Stock after their purchases", "Stock after their sales",
                                                       "Recent trade days"]
    assert "without prices" in fields[0].value


async def test_after_sale_waves_tsla(corpus: Store, tmp_path: Path) -> None:
    async with PriceSource(offline(tmp_path), store=corpus, clock=Clock()) as prices:
        waves = await sale_wave_records(corpus, prices, 1318605)
        fields = await after_sale_waves(corpus, prices, 1318605)
    assert [(w["start"], w["end"]) for w in waves] == [
        ("2021-11-08", "2021-12-28"), ("2022-04-26", "2022-04-28"), ("2022-08-05", "2022-08-09"),
        ("2022-11-04", "2022-11-08"), ("2022-12-12", "2022-12-14"),
    ]  # the 2010-07-02 sale ($24M) is the smallest of six and left out
    first = waves[0]
    # Daily sums of the stored filings for 2021-11-08 .. 2021-12-28 (code S), in cents.
    assert first["value"] * 100 == pytest.approx(
        110234247872 + 335349689612 + 52727141103 + 68729709356 + 123560732852 + 93071875975 + 97335317317
        + 104944944478 + 101365083184 + 96321135468 + 90648754435 + 88413401548 + 85374046035 + 92857165269
        + 101977408829
    )
    # From the 2021-12-28 close 362.8233337402344: 2022-01-28 282.1166687011719, 2022-06-28 232.663330078125.
    assert first["return_1m"] == pytest.approx(282.1166687011719 / 362.8233337402344 - 1)
    assert first["return_6m"] == pytest.approx(232.663330078125 / 362.8233337402344 - 1)
    assert fields[0].name.startswith("After the 5 largest sale waves")
    assert fields[0].value.splitlines()[0].startswith("2021-11-08 → 2021-12-28 · $16.43B by 1 seller · 1m -22.2% · 6m -35.9%")
    assert fields[1].name == "Typical move after a wave"
