"""Screens (/latest, /screen, /clusters) on real filings: the core, the CLI, and end to end through discord.py.

Expected values come from reading the filings (numbers quoted in the comments), the submissions JSON for
filing dates, and the bundled price file for the stock's move.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import itertools
import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from rich.console import Console

from bot import rules
from bot.app import InsiderBot, create_bot
from bot.ingest import ingest_paths
from bot.screens import (
    CSV_MARGIN,
    LineFilter,
    ScreenError,
    add_screen_commands,
    cluster_filter,
    clusters_report,
    latest_filter,
    latest_report,
    matching_companies,
    matching_lines,
    screen_csv,
    screen_filter,
    screen_report,
)
from bot.sec.form4 import parse_document
from bot.store.db import Store
from bot.store.screens import Line, _has_role, date_slices, screens_of
from tests.conftest import FIXTURES, FORM4
from tests.discord_fake import DEFAULT_GUILD_ID, EPHEMERAL
from tests.discord_harness import OTHER_USER_ID, DiscordEnv, open_discord_env
from tests.edgar_fake import EdgarFake, fake_settings

TODAY = date(2026, 11, 25)
AAPL, TSLA, META, ADGI, SQ = 320193, 1318605, 1326801, 1832038, 1512673
COOK, LEVINSON, WILLIAMS = 1214156, 1214128, 1496686
ADGI_GROUP = "1211060,1669609,1878230,1878232"  # Mithril II LP, its GP, its UGP and Peter Thiel: one filing
AMENDMENT = FIXTURES / "amendments" / "TSLA_0000899243-21-999001_4A_test.xml"
PRICES = Path(__file__).resolve().parent.parent / "bot" / "demo_data" / "prices"

# From the filings: Cook sold 129,555 @ 205.75, 132,113 @ 206.55 and 3,492 @ 207.13 on 2019-08-26 out of
# 990,454 + 129,555 = 1,120,009 shares; Levinson sold 17,500 @ 201.69 on 2019-08-12 right after exercising
# (direct 1,150,783) while 14,000 more were held indirectly; Williams sold five lots on 2019-05-02.
COOK_SALES = [(129_555, 205.75), (132_113, 206.55), (3_492, 207.13)]
LEVINSON_SALES = [(17_500, 201.69)]
WILLIAMS_SALES = [(13_433, 208.99), (18_256, 209.71), (8_601, 210.98), (14_571, 211.83), (1_550, 212.46)]


def _cents(sales: list[tuple[int, float]]) -> int:
    return sum(round(shares * price * 100) for shares, price in sales)


COOK_DELTA = 265_160 / 1_120_009
LEVINSON_DELTA = 17_500 / (1_150_783 + 14_000)


# ---------------------------------------------------------------------------------------------- fixtures


async def _build(path: Path) -> None:
    store = await Store.open(path)
    try:
        report = await ingest_paths(store, [
            FORM4, FIXTURES / "sec" / "submissions",
            FIXTURES / "edgar" / "submissions" / "company_tickers.json",
        ])
        assert report.added > 300 and not report.quarantined
        # The complete .txt submissions carry acceptance times; a second pass lets them date the XML copies.
        await ingest_paths(store, [FIXTURES / "sec" / "sgml"])
    finally:
        await store.close()


@pytest.fixture(scope="session")
def corpus_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("screens") / "corpus.db"
    asyncio.run(_build(path))
    return path


@pytest.fixture
async def store(corpus_db: Path, tmp_path: Path) -> AsyncIterator[Store]:
    copy = tmp_path / "screens.db"
    shutil.copy(corpus_db, copy)
    s = await Store.open(copy)
    yield s
    await s.close()


def _keys(lines: tuple[Line, ...] | list[Line]) -> set[tuple[str, str, str]]:
    """(ticker, trade date, code with * for derivative rows) of each line."""
    return {(ln.ticker or str(ln.issuer_cik), str(ln.transaction_date), ln.code + ("*" if ln.is_derivative else ""))
            for ln in lines}


async def _all(store: Store, f: LineFilter) -> set[tuple[str, str, str]]:
    return _keys((await matching_lines(store, f, order="traded", count=100_000)).lines)


def _f(**kw: object) -> LineFilter:
    return LineFilter(today=TODAY, **kw)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------- clusters


async def test_cluster_rule_finds_cook_and_levinson_selling_apple_within_14_days(store: Store) -> None:
    c = cluster_filter(side="sales", today=TODAY)
    [head] = await screens_of(store).cluster_heads(c, count=10)
    assert (head.issuer_cik, head.start_day, head.end_day, head.insiders) == (AAPL, date(2019, 8, 12),
                                                                              date(2019, 8, 26), 2)
    assert head.value_cents == _cents(COOK_SALES) + _cents(LEVINSON_SALES)
    reply = await clusters_report(store, c, prices=_prices())
    [row] = reply.data["rows"]  # type: ignore[index]
    members = {m["owner_ciks"][0]: m for m in row["members"]}
    assert set(members) == {COOK, LEVINSON}
    assert members[COOK]["value"] == pytest.approx(_cents(COOK_SALES) / 100)
    assert members[COOK]["delta_own"] == pytest.approx(COOK_DELTA)
    assert members[LEVINSON]["delta_own"] == pytest.approx(LEVINSON_DELTA)
    assert "CEO" in members[COOK]["roles"] and members[LEVINSON]["roles"] == ["Director"]
    # The split-adjusted close went from 51.622501 (2019-08-26) to 165.210007 (2023-04-14, the file's last).
    assert row["move_since"] == pytest.approx(165.210007 / 51.622501 - 1)
    assert row["move_to"] == "2023-04-14"
    assert "+220.0%" in reply.fields[0].value and "COOK TIMOTHY D" in reply.fields[0].value


async def test_cluster_window_and_size_are_the_rule(store: Store) -> None:
    screens = screens_of(store)
    # Levinson sold 14 days before Cook: outside a 13-day window.
    assert await screens.cluster_heads(cluster_filter(side="sales", days=13, today=TODAY), count=10) == []
    assert await screens.cluster_heads(cluster_filter(side="sales", min_insiders=3, today=TODAY), count=10) == []
    assert await screens.cluster_heads(cluster_filter(side="sales", since="2020-01-01", today=TODAY), count=10) == []
    assert await screens.cluster_heads(cluster_filter(side="sales", issuer_ciks=[TSLA], today=TODAY), count=10) == []
    [head] = await screens.cluster_heads(cluster_filter(side="sales", until="2019-12-31", today=TODAY), count=10)
    assert head.issuer_cik == AAPL


async def test_adgi_joint_filing_is_one_filer_group_not_a_cluster(store: Store) -> None:
    # Mithril II LP, Mithril II GP LP, Mithril II UGP LLC and Peter Thiel reported one purchase of
    # 1,997,000 shares at $17.00 on 2021-08-10 on one Form 4: four owners, one insider.
    owners = await screens_of(store).owners(["0001209191-21-051298"])
    assert len(owners["0001209191-21-051298"]) == 4
    assert await screens_of(store).cluster_heads(cluster_filter(today=TODAY), count=10) == []
    reply = await clusters_report(store, cluster_filter(today=TODAY))
    assert "No clusters" in reply.description and "side sales" in reply.description
    grouped = await matching_companies(store, _f(codes=("P",), group_by_company=True, min_insiders=2), count=50)
    assert grouped == ([], False)
    [adgi] = [r for r in (await matching_companies(store, _f(codes=("P",), group_by_company=True), count=50))[0]
              if r.issuer_cik == ADGI]
    assert adgi.insiders == 1 and adgi.buy_cents == 1_997_000 * 17_00


# ------------------------------------------------------------------------------------------------ latest


async def test_latest_is_in_filing_order_with_links(store: Store) -> None:
    reply = await latest_report(store, latest_filter(today=TODAY))
    rows = reply.data["rows"]  # type: ignore[index]
    # The newest open-market filing: DraftKings' Dodge, accepted 2025-03-19T00:01:08Z (filed 2025-03-18,
    # the 20:01 ET acceptance counts for that day), two sale days on one filing.
    assert [r["accession"] for r in rows[:2]] == ["0001104659-25-025206"] * 2
    assert rows[0]["filed_date"] == "2025-03-18" and rows[0]["filed_at"] == "2025-03-19T00:01:08Z"
    keys = [(r["filed_date"], r["filed_at"] or "") for r in rows]
    assert keys == sorted(keys, reverse=True)
    assert reply.links[0].url.endswith("/0001104659-25-025206-index.htm")
    assert reply.data["has_more"] and len(rows) == 8  # type: ignore[index]
    # Page through everything: lines with an unknown filing date (bare XML files) come last.
    everything = await matching_lines(store, latest_filter(today=TODAY), order="filed", count=10_000)
    dated = [ln.filed_date is not None for ln in everything.lines]
    assert dated == sorted(dated, reverse=True) and not dated[-1]
    page2 = await latest_report(store, latest_filter(today=TODAY), page=1)
    assert page2.data["rows"][0]["accession"] == everything.lines[8].accession  # type: ignore[index]


async def test_latest_filters(store: Store) -> None:
    buys = await latest_report(store, latest_filter(side="purchases", today=TODAY))
    assert {r["code"] for r in buys.data["rows"]} == {"P"} and buys.tone == "buy"  # type: ignore[index]
    big = await latest_report(store, latest_filter(min_value=1e9, today=TODAY))
    assert all(r["value"] >= 1e9 for r in big.data["rows"])  # type: ignore[index]
    ceo = await latest_report(store, latest_filter(role="CEO", side="sales", today=TODAY))
    assert {r["owner_name"] for r in ceo.data["rows"]} == {"Musk Elon"}  # type: ignore[index]
    grants = await latest_report(store, latest_filter(code="A", today=TODAY))
    assert {r["code"] for r in grants.data["rows"]} == {"A"}  # type: ignore[index]
    no_plan = await latest_report(store, latest_filter(plan="no plan", today=TODAY))
    assert all(r["plan_10b5_1"] is False for r in no_plan.data["rows"])  # type: ignore[index]
    scoped = await latest_report(store, latest_filter(issuer_ciks=[AAPL], today=TODAY))
    assert {r["ticker"] for r in scoped.data["rows"]} == {"AAPL"}  # type: ignore[index]


async def test_superseded_rows_are_out_as_of_now_and_in_before_the_amendment(store: Store) -> None:
    amended = parse_document(AMENDMENT.read_bytes(), source=str(AMENDMENT),
                             accepted_at=datetime(2021, 11, 15, 21, 0, tzinfo=UTC), filed_date=date(2021, 11, 15))
    assert await store.filings.ingest(amended)
    day = {"traded_since": date(2021, 11, 8), "traded_until": date(2021, 11, 8), "codes": ("S",)}
    now = (await matching_lines(store, _f(**day), order="traded", count=100)).lines
    assert {ln.accession for ln in now} == {"0000899243-21-044060", "0000899243-21-999001"}
    before = (await matching_lines(store, _f(**day, as_of=datetime(2021, 11, 12, tzinfo=UTC)), order="traded",
                                   count=100)).lines
    assert {ln.accession for ln in before} == {"0000899243-21-044060", "0000899243-21-044077"}
    # The firehose shows the 4/A as filed on 2021-11-15.
    filed = _f(codes=("S",), issuer_ciks=(TSLA,), filed_since=date(2021, 11, 15), filed_until=date(2021, 11, 15))
    latest = await matching_lines(store, filed, order="filed", count=100)
    assert {ln.document_type for ln in latest.lines if ln.accession == "0000899243-21-999001"} == {"4/A"}


# ------------------------------------------------------------------------------ each screener filter


AUG_2019 = {"traded_since": date(2019, 8, 1), "traded_until": date(2019, 8, 31)}
AAPL_2019 = {"traded_since": date(2019, 1, 1), "traded_until": date(2019, 12, 31), "issuer_ciks": (AAPL,)}


async def test_filter_trade_window(store: Store) -> None:
    got = await _all(store, _f(codes=("S",), **AUG_2019))
    assert got == {("AAPL", "2019-08-12", "S"), ("AAPL", "2019-08-26", "S"), ("META", "2019-08-22", "S")}
    assert got != await _all(store, _f(codes=("S",)))


async def test_filter_filing_window(store: Store) -> None:
    # The TSLA submissions JSON dates which of the corpus's filings were filed on 2021-11-10.
    submissions = json.loads((FIXTURES / "sec" / "submissions" / "TSLA_CIK0001318605.json").read_text())
    recent = submissions["filings"]["recent"]
    corpus = {p.name.split("_")[1] for p in FORM4.glob("TSLA_*.xml")}
    expected = {acc for acc, day, form in zip(recent["accessionNumber"], recent["filingDate"], recent["form"])
                if day == "2021-11-10" and form == "4" and acc in corpus}
    assert len(expected) == 10
    f = _f(codes=("S",), filed_since=date(2021, 11, 10), filed_until=date(2021, 11, 10))
    got = (await matching_lines(store, f, order="traded", count=1000)).lines
    assert {ln.accession for ln in got} == expected
    assert {str(ln.transaction_date) for ln in got} == {"2021-11-08", "2021-11-09", "2021-11-10"}
    assert len(await _all(store, _f(codes=("S",)))) > len(got)


async def test_filter_value_range(store: Store) -> None:
    # Williams sold $11.87M, Cook $54.67M, Levinson $3.53M.
    assert _cents(LEVINSON_SALES) < 10_000_000_00 < _cents(WILLIAMS_SALES) < 20_000_000_00 < _cents(COOK_SALES)
    got = await _all(store, _f(codes=("S",), min_value_cents=10_000_000_00, max_value_cents=20_000_000_00, **AAPL_2019))
    assert got == {("AAPL", "2019-05-02", "S")}
    assert await _all(store, _f(codes=("S",), min_value_cents=50_000_000_00, **AAPL_2019)) == {("AAPL", "2019-08-26", "S")}
    assert len(await _all(store, _f(codes=("S",), **AAPL_2019))) == 3


async def test_filter_delta_own_range(store: Store) -> None:
    assert LEVINSON_DELTA < 0.10 < COOK_DELTA
    high = await matching_lines(store, _f(codes=("S",), min_delta_own=0.10, issuer_ciks=(AAPL,), **AUG_2019),
                                order="traded", count=50)
    assert _keys(high.lines) == {("AAPL", "2019-08-26", "S")}
    assert high.delta_own[high.lines[0].key] == pytest.approx(COOK_DELTA)
    low = await _all(store, _f(codes=("S",), max_delta_own=0.10, issuer_ciks=(AAPL,), **AUG_2019))
    assert low == {("AAPL", "2019-08-12", "S")}
    assert len(await _all(store, _f(codes=("S",), issuer_ciks=(AAPL,), **AUG_2019))) == 2


async def test_filter_price_range(store: Store) -> None:
    # Average prices: Levinson 201.69; Cook (value / 265,160) 206.2; Williams (value / 56,411) 210.4.
    cook = _cents(COOK_SALES) / 100 / 265_160
    williams = _cents(WILLIAMS_SALES) / 100 / 56_411
    assert LEVINSON_SALES[0][1] < 205 < cook < 208 < williams
    assert await _all(store, _f(codes=("S",), min_price=205, **AAPL_2019)) == {
        ("AAPL", "2019-08-26", "S"), ("AAPL", "2019-05-02", "S")}
    assert await _all(store, _f(codes=("S",), min_price=205, max_price=208, **AAPL_2019)) == {
        ("AAPL", "2019-08-26", "S")}
    assert await _all(store, _f(codes=("S",), max_price=205, **AAPL_2019)) == {("AAPL", "2019-08-12", "S")}


async def test_filter_role(store: Store) -> None:
    # Cook: director and "Chief Executive Officer"; Levinson: director; Williams: officer "COO".
    assert await _all(store, _f(codes=("S",), roles=("CEO",), **AAPL_2019)) == {("AAPL", "2019-08-26", "S")}
    assert await _all(store, _f(codes=("S",), roles=("Director",), **AAPL_2019)) == {
        ("AAPL", "2019-08-26", "S"), ("AAPL", "2019-08-12", "S")}
    assert await _all(store, _f(codes=("S",), roles=("Officer",), **AAPL_2019)) == {
        ("AAPL", "2019-08-26", "S"), ("AAPL", "2019-05-02", "S")}
    # The Mithril joint filing's owners are all 10% owners; Botha bought Block shares as a director only.
    tens = await _all(store, _f(codes=("P",), roles=("10% owner",)))
    assert ("ADGI", "2021-08-10", "P") in tens and ("SQ", "2023-11-08", "P") not in tens


async def test_filter_codes_and_derivatives(store: Store) -> None:
    # Levinson exercised 17,500 options (M) before selling; Cook's 560,000 units vested (M) and 294,840 were
    # withheld for tax (F) on 2019-08-24. Each M also has its derivative-table row.
    window = {**AAPL_2019, "traded_since": date(2019, 8, 1)}
    got = await _all(store, _f(codes=("M", "F"), **window))
    assert got == {("AAPL", "2019-08-12", "M"), ("AAPL", "2019-08-24", "M"), ("AAPL", "2019-08-24", "F")}
    with_derivatives = await _all(store, _f(codes=("M", "F"), derivatives=True, **window))
    assert with_derivatives == got | {("AAPL", "2019-08-12", "M*"), ("AAPL", "2019-08-24", "M*")}
    assert await _all(store, _f(**window)) == {("AAPL", "2019-08-12", "S"), ("AAPL", "2019-08-26", "S")}


async def test_filter_filing_delay(store: Store) -> None:
    # From TSLA's submissions JSON: Musk bought on 2018-05-07 and filed that day (0 business days); bought
    # 2018-06-13 and filed that day; bought 2019-05-02 (Thu), filed 2019-05-06 (Mon): 2; bought 2020-02-14
    # (Fri), filed 2020-02-19 (Wed) with Washington's Birthday on Monday: 2.
    tsla = {"codes": ("P",), "issuer_ciks": (TSLA,)}
    assert await _all(store, _f(min_delay=2, **tsla)) == {("TSLA", "2019-05-02", "P"), ("TSLA", "2020-02-14", "P")}
    assert await _all(store, _f(max_delay=0, **tsla)) == {("TSLA", "2018-05-07", "P"), ("TSLA", "2018-06-13", "P")}
    assert await _all(store, _f(min_delay=3, **tsla)) == set()
    assert len(await _all(store, _f(**tsla))) > 4  # 2011-2013 purchases have no known filing date


async def test_filter_plan(store: Store) -> None:
    f = _f(codes=("P",))
    everything = (await matching_lines(store, f, order="traded", count=1000)).lines
    by_plan: dict[bool | None, set] = {True: set(), False: set(), None: set()}
    for line in everything:  # the rows' own plan flags, read through the issuer history
        history = await store.trades.issuer_history(line.issuer_cik)
        flags = {r.plan_flag for r in history.rows if r.accession == line.accession and r.code == "P"
                 and r.transaction_date == line.transaction_date and not r.is_derivative}
        by_plan[flags.pop() if len(flags) == 1 else None].add(_keys([line]).pop())
    # Block's 2023-11 purchases by Botha carry an unticked 10b5-1 box: no plan.
    assert ("SQ", "2023-11-08", "P") in by_plan[False]
    assert await _all(store, _f(codes=("P",), plan="no plan")) == by_plan[False]
    assert await _all(store, _f(codes=("P",), plan="unknown")) == by_plan[None]
    assert await _all(store, _f(codes=("P",), plan="plan")) == by_plan[True]
    assert by_plan[False] and by_plan[None]


async def test_filter_group_by_company_with_min_insiders(store: Store) -> None:
    # Sellers: Apple 5 (Williams, Levinson, Cook, Maestri, Adams), Meta 2 (Thiel, Olivan), the rest one each.
    async def tickers(**kw: object) -> set[str]:
        rows, _ = await matching_companies(store, _f(codes=("S",), group_by_company=True, **kw), count=100)
        return {r.ticker for r in rows}  # type: ignore[misc]

    assert await tickers(min_insiders=2) == {"AAPL", "META"}
    assert await tickers(min_insiders=3) == {"AAPL"}
    assert {"TSLA", "AAPL", "META"} <= await tickers()
    [aapl] = [r for r in (await matching_companies(store, _f(codes=("S",), group_by_company=True, min_insiders=5),
                                                   count=5))[0]]
    assert (aapl.insiders, aapl.lines) == (5, 5)


async def test_filter_scope(store: Store) -> None:
    assert {t[0] for t in await _all(store, _f(codes=("S",), issuer_ciks=(AAPL, META)))} == {"AAPL", "META"}
    assert len({t[0] for t in await _all(store, _f(codes=("S",)))}) > 2


async def test_delta_own_grouped_and_capped_paths(store: Store) -> None:
    rows, capped = await matching_companies(
        store, _f(codes=("S",), group_by_company=True, min_insiders=2, min_delta_own=0.2), count=10)
    # ΔOwn ≥ 20%: Cook (23.7%) and Williams (34.3%) at Apple; at Meta only Thiel's big days.
    assert not capped and "AAPL" in {r.ticker for r in rows}


# ------------------------------------------------------------------------------- bad input, empty, CSV


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"min_value": 5e6, "max_value": 1e6}, "above the maximum"),
    ({"min_price": 50, "max_price": 10}, "above the maximum"),
    ({"min_delta_own": 20, "max_delta_own": 5}, "above the maximum"),
    ({"min_delay": 5, "max_delay": 1}, "above the maximum"),
    ({"traded_since": "2030-01-01"}, "in the future"),
    ({"filed_since": "2030-01-01"}, "in the future"),
    ({"traded_since": "2021-05-01", "traded_until": "2021-01-01"}, "after it ends"),
    ({"traded_since": "2021-05-01", "filed_until": "2021-01-01"}, "filed after the trade"),
    ({"traded_since": "2021-13-45"}, "not a date"),
    ({"codes": "Q"}, "not a Form 4 transaction code"),
    ({"codes": "@everyone"}, "not a Form 4 transaction code"),
    ({"role": "janitor"}, "Unknown role"),
    ({"codes": "A", "min_delta_own": 5}, "open-market"),
    ({"min_insiders": 3}, "grouping by company"),
    ({"min_delta_own": 150}, "0 to 100"),
    ({"min_value": -1}, "negative"),
])
def test_bad_options_say_what_is_wrong(kwargs: dict, words: str) -> None:
    with pytest.raises(ScreenError, match=words):
        screen_filter(today=TODAY, **kwargs)


def test_bad_latest_and_cluster_options() -> None:
    with pytest.raises(ScreenError, match="contradicts"):
        latest_filter(side="purchases", code="S", today=TODAY)
    with pytest.raises(ScreenError, match="2 to 100"):
        cluster_filter(min_insiders=1, today=TODAY)
    with pytest.raises(ScreenError, match="1 to 366"):
        cluster_filter(days=0, today=TODAY)
    with pytest.raises(ScreenError, match="in the future"):
        cluster_filter(since="2031-01-01", today=TODAY)
    assert latest_filter(code="p s", today=TODAY).codes == ("P", "S")
    assert screen_filter(traded_since="1y", today=TODAY).traded_since == date(2025, 11, 25)
    assert screen_filter(role="10%", today=TODAY).roles == ("10% owner",)


async def test_a_screen_that_matches_nothing_says_what_to_widen(store: Store) -> None:
    # Musk's purchases are the only ones by a CEO, and none reached $5B (the largest: $100M in 2013).
    reply = await screen_report(store, screen_filter(codes="P", role="CEO", min_value=5e9, today=TODAY))
    assert "Nothing matches" in reply.description and reply.table is None
    hint = reply.description.split("Nothing matches.")[1]
    assert "value ≥ $5B" in hint and "role CEO" not in hint
    stuck = await screen_report(store, screen_filter(codes="P", min_value=5e9, traded_since="2024-01-01",
                                                     today=TODAY))
    assert "The store holds open-market trades from" in stuck.description or "value" in stuck.description
    none = await latest_report(store, latest_filter(min_value=1e12, today=TODAY))
    assert "Nothing matches" in none.description and "value ≥ $1000B" in none.description


async def test_csv_export_cut_at_the_attachment_limit(store: Store) -> None:
    f = screen_filter(codes="S", issuer_ciks=[TSLA], today=TODAY)
    full = await screen_csv(store, f)
    assert not full.cut and full.rows == full.matched > 50
    table = list(csv.DictReader(io.StringIO(full.data.decode())))
    assert len(table) == full.rows and {r["code"] for r in table} == {"S"} and table[0]["ticker"] == "TSLA"
    assert table[0]["url"].startswith("https://www.sec.gov/Archives/edgar/data/1318605/")
    limit = 3_000 + CSV_MARGIN
    cut = await screen_csv(store, f, max_bytes=limit)
    assert cut.cut and 0 < cut.rows < full.rows and len(cut.data) <= limit - CSV_MARGIN
    assert "cut at" in cut.note and f"of {full.rows:,}" in cut.note
    assert full.data.startswith(cut.data)  # whole rows only, the same order
    grouped = await screen_csv(store, screen_filter(codes="S", group_by_company=True, today=TODAY))
    assert grouped.filename.endswith("companies.csv") and b"AAPL" in grouped.data


def test_role_function_agrees_with_rules_roles_of() -> None:
    titles = [None, "", "Chief Executive Officer", "CEO", "President and CEO", "Chairman & CEO", "CFO",
              "Senior Vice President, CFO", "Vice President", "President", "Executive Chair", "COO",
              "EVP, Chief Financial Officer", "ceo.", "Co-Founder"]
    for title in titles:
        for director, officer, ten in [(0, 1, 0), (1, 0, 0), (1, 1, 1), (0, 0, 1), (0, 0, 0)]:
            roles = rules.roles_of(bool(director), bool(officer), bool(ten), False, title)
            for role in ("CEO", "CFO", "President", "Chair"):
                assert bool(_has_role(role, director, officer, ten, 0, title)) == (role in roles), (role, title)
            assert _has_role("Director", director, officer, ten, 0, title) == director
            assert _has_role("10% owner", director, officer, ten, 0, title) == ten


def test_date_slices_cover_the_window_once() -> None:
    slices = date_slices(date(2020, 1, 1), date(2021, 6, 30), date(2021, 6, 30))
    days = [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in slices]
    assert days[0][1] == date(2021, 6, 30) and days[-1][0] == date(2020, 1, 1)
    assert all((newer[0] - older[1]).days == 1 for newer, older in itertools.pairwise(days))


# ---------------------------------------------------------------------------------------------------- CLI


def _cli(corpus: Path, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=str(corpus))
    parser.add_argument("--env-file", default="/nonexistent.env")
    add_screen_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


async def test_cli_screens_print_json_and_write_csv(corpus_db: Path, capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    console = Console(file=io.StringIO(), width=120)
    db = tmp_path / "cli.db"
    shutil.copy(corpus_db, db)
    args = _cli(Path(db), "clusters", "--side", "sales", "--json")
    assert await args.func(args, console) == 0
    [row] = json.loads(capsys.readouterr().out)["rows"]
    assert row["ticker"] == "AAPL" and row["insiders"] == 2 and row["move_to"] == "2023-04-14"

    args = _cli(Path(db), "latest", "--side", "sales", "--role", "ceo", "--limit", "3", "--json")
    assert await args.func(args, console) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["rows"]) == 3 and out["has_more"] and out["rows"][0]["owner_name"] == "Musk Elon"

    target = tmp_path / "screen.csv"
    args = _cli(Path(db), "screen", "--traded-since", "2019-08-01", "--traded-until", "2019-08-31", "--codes", "S",
                "--csv", str(target))
    assert await args.func(args, console) == 0
    assert "written to" in console.file.getvalue()  # type: ignore[attr-defined]
    assert len(list(csv.DictReader(target.open()))) == 3

    args = _cli(Path(db), "screen", "--min-value", "5", "--max-value", "1", "--json")
    assert await args.func(args, console) == 1
    assert "above the maximum" in json.loads(capsys.readouterr().out)["error"]

    args = _cli(Path(db), "screen", "--group-by-company", "--min-insiders", "3", "--codes", "S", "--json")
    assert await args.func(args, console) == 0
    assert [r["ticker"] for r in json.loads(capsys.readouterr().out)["rows"]] == ["AAPL"]


# ------------------------------------------------------------------------------ end to end (fake Discord)


def _prices():  # type: ignore[no-untyped-def]
    from bot.prices import LocalPrices

    return LocalPrices(PRICES)


@pytest.fixture
async def env() -> AsyncIterator[DiscordEnv]:
    async with open_discord_env(attachment_size_limit=20_000) as discord_env:
        yield discord_env


@pytest.fixture
async def edgar() -> AsyncIterator[EdgarFake]:
    async with EdgarFake() as fake:
        yield fake


@pytest.fixture
async def bot(env: DiscordEnv, edgar: EdgarFake, store: Store, tmp_path: Path) -> AsyncIterator[InsiderBot]:
    bot = create_bot(fake_settings(edgar.url, db_path=store.path, chart_workers=0), store=store)
    await env.login(bot)
    if "cogs.screens" not in bot.extensions:
        await bot.load_extension("cogs.screens")
    await bot.tree.sync()
    yield bot
    await bot.close()


def _buttons(message: dict) -> dict[str, dict]:
    return {c["label"]: c for row in message["components"] for c in row["components"]}


def _linked_rows(embed: dict) -> set[int]:
    links = next(f["value"] for f in embed["fields"] if f["name"] == "SEC filings")
    return {int(n) for line in links.splitlines() for n in line[2:].split(" ")[0].split(",")}


def _table_rows(embed: dict) -> list[str]:
    return embed["description"].split("```")[1].strip().split("\n")[1:]


async def test_e2e_latest_pages_with_buttons_only_for_the_asker(env: DiscordEnv, bot: InsiderBot) -> None:
    iid = env.dispatch(env.slash("latest"))
    assert (await env.wait_response(iid)).callback_type == 5
    reply = await env.wait_reply(iid, timeout=20)
    [embed] = reply.embeds
    assert embed["title"] == "Latest insider purchases and sales" and not reply.ephemeral
    first_rows = _table_rows(embed)
    assert len(first_rows) == 8 and "DKNG" in first_rows[0]
    assert _linked_rows(embed) == set(range(1, 9))  # every row links to its filing on EDGAR
    assert "0001104659-25-025206-index.htm" in next(f["value"] for f in embed["fields"] if f["name"] == "SEC filings")
    message = env.fake.original_message(iid)
    assert message is not None
    buttons = _buttons(message)
    assert buttons["◀ Previous"].get("disabled") and not buttons["Next ▶"].get("disabled")
    assert "Export CSV" not in buttons
    message_id = int(message["id"])

    stranger = env.dispatch(env.component(buttons["Next ▶"]["custom_id"], message_id, user_id=OTHER_USER_ID))
    refused = await env.wait_response(stranger)
    assert refused.flags & EPHEMERAL and "run it yourself" in (refused.content or "")

    turn = env.dispatch(env.component(buttons["Next ▶"]["custom_id"], message_id))
    update = await env.wait_response(turn, timeout=10)
    assert update.callback_type == 7
    second_rows = _table_rows(update.embeds[0])
    assert second_rows[0].split()[0] == "9" and second_rows != first_rows
    assert _linked_rows(update.embeds[0]) == set(range(9, 17))
    assert not _buttons(env.fake.messages[message_id])["◀ Previous"].get("disabled")


async def test_e2e_latest_bad_combination_is_ephemeral_at_once(env: DiscordEnv, bot: InsiderBot) -> None:
    iid = env.dispatch(env.slash("latest", {"side": "purchases", "code": "S"}))
    reply = await env.wait_response(iid)
    assert reply.callback_type == 4 and reply.flags & EPHEMERAL
    assert "contradicts" in reply.embeds[0]["description"]


async def test_e2e_latest_watchlist_scope(env: DiscordEnv, bot: InsiderBot) -> None:
    iid = env.dispatch(env.slash("latest", {"scope": "watchlist"}))
    empty = await env.wait_response(iid)
    assert empty.flags & EPHEMERAL and "watchlist is empty" in empty.embeds[0]["description"]
    iid = env.dispatch(env.slash("latest", {"scope": "watchlist"}, guild_id=None))
    dm = await env.wait_response(iid)
    assert dm.flags & EPHEMERAL and "server" in dm.embeds[0]["description"]
    await bot.store.guilds.add(DEFAULT_GUILD_ID, "AAPL", AAPL, 1)
    iid = env.dispatch(env.slash("latest", {"scope": "watchlist"}))
    [embed] = (await env.wait_reply(iid, timeout=10)).embeds
    rows = _table_rows(embed)
    assert rows and all(" AAPL " in r for r in rows) and "this server's watchlist" in embed["description"]


async def test_e2e_clusters_shows_insiders_roles_delta_own_and_move(env: DiscordEnv, bot: InsiderBot) -> None:
    iid = env.dispatch(env.slash("clusters", {"side": "sales"}))
    [embed] = (await env.wait_reply(iid, timeout=20)).embeds
    assert embed["title"] == "Cluster sales: 2+ insiders sold within 14 days"
    [field] = embed["fields"]
    assert field["name"] == "#1 AAPL · 2019-08-12 → 2019-08-26"
    assert "COOK TIMOTHY D (CEO, Director) sold $54.67M · ΔOwn 23.7%" in field["value"]
    assert "LEVINSON ARTHUR D (Director) sold $3.53M · ΔOwn 1.50%" in field["value"]
    assert "+220.0% since 2019-08-26 (close of 2023-04-14)" in field["value"]

    iid = env.dispatch(env.slash("clusters"))
    [embed] = (await env.wait_reply(iid, timeout=20)).embeds
    assert "No clusters" in embed["description"] and "side sales" in embed["description"]

    iid = env.dispatch(env.slash("clusters", {"since": "2031-01-01"}))
    bad = await env.wait_response(iid)
    assert bad.flags & EPHEMERAL and "in the future" in bad.embeds[0]["description"]


async def test_e2e_screen_filters_pages_and_csv(env: DiscordEnv, bot: InsiderBot) -> None:
    options = {"traded_since": "2019-01-01", "traded_until": "2019-12-31", "codes": "S", "min_value": 3_000_000}
    iid = env.dispatch(env.slash("screen", options))
    reply = await env.wait_reply(iid, timeout=20)
    [embed] = reply.embeds
    rows = _table_rows(embed)
    # 2019 sales of $3M or more: Cook 08-26, Thiel 08-22, Levinson 08-12, Williams 05-02 (newest first).
    assert [r.split()[1] for r in rows] == ["2019-08-26", "2019-08-22", "2019-08-12", "2019-05-02"]
    assert "value ≥ $3M" in embed["description"]
    message = env.fake.original_message(iid)
    buttons = _buttons(message)  # type: ignore[arg-type]
    assert buttons["Next ▶"].get("disabled") and "Export CSV" in buttons

    export = env.dispatch(env.component(buttons["Export CSV"]["custom_id"], int(message["id"])))  # type: ignore[index]
    assert (await env.wait_response(export)).callback_type == 5
    sent = await env.wait_followup(export, timeout=10)
    assert sent.ephemeral and "4 row(s)" in (sent.content or "")
    table = list(csv.DictReader(io.StringIO(sent.file("insider_screen.csv").data.decode())))
    assert [r["transaction_date"] for r in table] == ["2019-08-26", "2019-08-22", "2019-08-12", "2019-05-02"]


async def test_e2e_screen_csv_bigger_than_the_limit_is_cut_with_a_note(env: DiscordEnv, bot: InsiderBot) -> None:
    iid = env.dispatch(env.slash("screen", {"codes": "S", "traded_since": "all"}))
    await env.wait_reply(iid, timeout=20)
    message = env.fake.original_message(iid)
    buttons = _buttons(message)  # type: ignore[arg-type]
    # This server lets the bot attach 20,000 bytes (the fake enforces it); TSLA's sales alone are more.
    payload = env.component(buttons["Export CSV"]["custom_id"], int(message["id"]))  # type: ignore[index]
    payload["attachment_size_limit"] = 20_000
    export = env.dispatch(payload)
    sent = await env.wait_followup(export, timeout=20)
    data = sent.file("insider_screen.csv").data
    note = sent.content or ""
    assert len(data) <= 20_000 and "cut at" in note and "20 KB" in note


async def test_e2e_screen_bad_input_and_empty_results(env: DiscordEnv, bot: InsiderBot) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({"min_value": 5_000_000, "max_value": 1_000_000}, "above the maximum"),
        ({"traded_since": "2031-01-01"}, "in the future"),
        ({"min_insiders": 3}, "grouping by company"),
        ({"codes": "@everyone"}, "not a Form 4 transaction code"),
        ({"filed_since": "yesterday"}, "not a date"),
    ]
    for n, (options, words) in enumerate(cases):
        # a new user each time: the per-user cooldown would answer the fifth
        iid = env.dispatch(env.slash("screen", options, user_id=1_240_000_000_000_000_000 + n))
        reply = await env.wait_response(iid)
        assert reply.callback_type == 4 and reply.flags & EPHEMERAL, options
        assert words in reply.embeds[0]["description"]
    iid = env.dispatch(env.slash("screen", {"codes": "P", "role": "CEO", "min_value": 1_000_000_000_000}))
    [embed] = (await env.wait_reply(iid, timeout=20)).embeds
    assert "Nothing matches" in embed["description"] and "value ≥" in embed["description"]


async def test_e2e_screen_grouped_by_company(env: DiscordEnv, bot: InsiderBot) -> None:
    iid = env.dispatch(env.slash("screen", {"codes": "S", "group_by_company": True, "min_insiders": 2}))
    [embed] = (await env.wait_reply(iid, timeout=20)).embeds
    assert embed["title"] == "Insider screen by company"
    assert [r.split()[1] for r in _table_rows(embed)] == ["META", "AAPL"]  # Meta's newest sale is 2026-05-11

