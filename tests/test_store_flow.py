"""Store and analysis on real filings: expected values come from reading the filings."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from bot import rules
from bot.analysis.flow import issuer_flow, trade_days
from bot.ingest import ingest_paths
from bot.sec.form4 import parse_document
from bot.store.db import Store
from tests.conftest import FIXTURES, FORM4, form4, read_rows

SUBMISSIONS = FIXTURES / "sec" / "submissions"
TSLA = 1318605
MUSK = 1494730
AMENDMENT = FIXTURES / "amendments" / "TSLA_0000899243-21-999001_4A_test.xml"


async def _ingest(store: Store, *paths: Path) -> None:
    report = await ingest_paths(store, paths)
    assert not report.quarantined, report.quarantined


def _musk_day(days, day: date):
    [d] = [d for d in days if d.day == day and d.side == rules.SELL and str(MUSK) in d.group_key.split(",")]
    return d


async def test_musk_sale_wave_is_one_trade_day_across_two_filings(store: Store) -> None:
    first, second = form4("TSLA_0000899243-21-044060"), form4("TSLA_0000899243-21-044077")
    await _ingest(store, first, second)
    history = await store.trades.issuer_history(TSLA)
    day = _musk_day(trade_days(history), date(2021, 11, 8))
    # From the filings: direct holding went 2,154,572 (after the M exercise) -> 1,220,481 over 49 sales.
    sales = [r for r in read_rows(first) + read_rows(second) if r["code"] == "S"]
    assert len(sales) == 49 and day.rows == 49
    assert day.shares == 2_154_572 - 1_220_481 == sum(float(r["shares"]) for r in sales)
    assert day.accessions == ("0000899243-21-044060", "0000899243-21-044077")
    expected_cents = sum(round(float(r["shares"]) * float(r["price"]) * 100) for r in sales)
    assert day.value_cents == expected_cents
    # ΔOwn: sold over everything held just before the first sale: direct 2,154,572 plus the trust's
    # 170,492,985 (the holding reported on the second filing).
    assert day.delta_own == pytest.approx(934_091 / (2_154_572 + 170_492_985))
    assert day.plan is True  # F1: 10b5-1 plan adopted on September 14, 2021
    assert day.plan_adoption_date == date(2021, 9, 14)
    assert day.sell_to_cover is True  # F2: sold solely to satisfy tax withholding


async def test_ingest_is_idempotent(store: Store) -> None:
    path = form4("TSLA_0000899243-21-044060")
    await _ingest(store, path)
    before = await store.trades.counts()
    report = await ingest_paths(store, [path])
    assert report.added == 0 and report.duplicates == 1
    assert await store.trades.counts() == before


async def test_submissions_json_dates_bare_xml_and_late_flag(store: Store) -> None:
    await _ingest(store, form4("TSLA_0000899243-21-044060"), SUBMISSIONS / "TSLA_CIK0001318605.json")
    history = await store.trades.issuer_history(TSLA)
    row = history.rows[0]
    # data.sec.gov: filed 2021-11-10, accepted 2021-11-10T23:23:34Z
    assert row.filed_date == date(2021, 11, 10)
    assert row.accepted_at == datetime(2021, 11, 10, 23, 23, 34, tzinfo=timezone.utc)
    # traded Monday 2021-11-08, filed Wednesday: two business days, on time
    assert rules.is_late(row.transaction_date, row.filed_date) is False


async def test_point_in_time_as_of_excludes_later_filings(store: Store) -> None:
    await _ingest(store, form4("TSLA_0000899243-21-044060"), SUBMISSIONS / "TSLA_CIK0001318605.json")
    before = await store.trades.issuer_history(TSLA, as_of=datetime(2021, 11, 10, 23, 0, tzinfo=timezone.utc))
    after = await store.trades.issuer_history(TSLA, as_of=datetime(2021, 11, 10, 23, 30, tzinfo=timezone.utc))
    assert before.rows == ()
    assert len(after.rows) == 31  # 30 non-derivative rows + the option row of the derivative table


async def test_amendment_supersedes_original_from_its_acceptance(store: Store) -> None:
    await _ingest(store, form4("TSLA_0000899243-21-044060"), form4("TSLA_0000899243-21-044077"),
                  SUBMISSIONS / "TSLA_CIK0001318605.json")
    amended = parse_document(
        AMENDMENT.read_bytes(), source=str(AMENDMENT),
        accepted_at=datetime(2021, 11, 15, 21, 0, tzinfo=timezone.utc), filed_date=date(2021, 11, 15),
    )
    assert amended.document_type == "4/A" and amended.date_of_original_submission == date(2021, 11, 10)
    assert await store.filings.ingest(amended)
    now = _musk_day(trade_days(await store.trades.issuer_history(TSLA)), date(2021, 11, 8))
    assert now.shares == 934_091 - 100  # the 4/A's 8,102 replaces the original's 8,202, never added to it
    assert now.rows == 49
    assert "0000899243-21-044077" not in now.accessions
    earlier = _musk_day(
        trade_days(await store.trades.issuer_history(TSLA, as_of=datetime(2021, 11, 12, tzinfo=timezone.utc))),
        date(2021, 11, 8),
    )
    assert earlier.shares == 934_091


async def test_amendment_ingested_before_its_original(store: Store) -> None:
    amended = parse_document(AMENDMENT.read_bytes(), source=str(AMENDMENT), filed_date=date(2021, 11, 15))
    await store.filings.ingest(amended)
    await _ingest(store, form4("TSLA_0000899243-21-044077"), SUBMISSIONS / "TSLA_CIK0001318605.json")
    flow = issuer_flow(await store.trades.issuer_history(TSLA))
    assert flow.sell_shares == 1_897_293 - 1_220_481 - 100


async def test_joint_filing_counts_once(store: Store) -> None:
    await _ingest(store, form4("ADGI_0001209191-21-051298"))
    history = await store.trades.issuer_history(1832038)
    flow = issuer_flow(history)
    # Four reporting owners (Mithril II LP, its GP, its UGP, Thiel), one purchase of 1,997,000 at $17.00.
    assert flow.buyers == 1
    assert flow.buy_shares == 1_997_000
    assert flow.buy_cents == 1_997_000 * 17 * 100
    [group] = history.groups.values()
    assert len(group.owner_ciks) == 4 and 1211060 in group.owner_ciks
    # the conversions (code C) are shown, never counted as buying
    assert [o.code for o in flow.other_codes] == ["C"]


async def test_fb_and_meta_are_one_issuer(store: Store) -> None:
    await _ingest(store, *sorted(FORM4.glob("FB_*.xml")), form4("META_olivan"))
    fb = await store.issuers.resolve("FB")
    meta = await store.issuers.resolve("meta")
    assert fb.cik == meta.cik == 1326801
    assert meta.ticker == "META" and "FB" in meta.former_tickers


async def test_unknown_ticker_suggests_close_matches(store: Store) -> None:
    from bot.store.issuers import UnknownTicker

    await _ingest(store, form4("TSLA_0000899243-21-044060"))
    with pytest.raises(UnknownTicker) as err:
        await store.issuers.resolve("TSLQ")
    assert "TSLA" in err.value.suggestions


async def test_ranking_nets_purchases_against_sales(store: Store) -> None:
    paths = [form4("TSLA_0000899243-21-044060"), form4("TSLA_0000899243-21-044077"),
             form4("ADGI_0001209191-21-051298")]
    await _ingest(store, *paths)
    ranked = {r.ticker: r for r in await store.trades.rank_issuers(date(2021, 1, 1), date(2021, 12, 31))}
    assert ranked["ADGI"].net_cents == 1_997_000 * 1700
    sales = [r for p in paths[:2] for r in read_rows(p) if r["code"] == "S"]
    assert ranked["TSLA"].sell_cents == sum(round(float(r["shares"]) * float(r["price"]) * 100) for r in sales)
    assert ranked["TSLA"].buy_cents == 0 and ranked["TSLA"].sellers == 1
    assert await store.trades.rank_issuers(date(2022, 1, 1), date(2022, 12, 31)) == []


async def test_bad_files_are_quarantined_and_nothing_stored_is_lost(store: Store, tmp_path: Path) -> None:
    await _ingest(store, form4("TSLA_0000899243-21-044060"))
    before = await store.trades.counts()
    truncated = tmp_path / "truncated.xml"
    truncated.write_bytes(form4("TSLA_0000899243-21-044077").read_bytes()[:3000])
    html = tmp_path / "page.xml"
    html.write_bytes(b"<!DOCTYPE html><html><body>File Unavailable</body></html>")
    report = await ingest_paths(store, [truncated, html])
    assert report.added == 0 and len(report.quarantined) == 2
    after = await store.trades.counts()
    assert after["transactions"] == before["transactions"] and after["quarantined"] == 2
