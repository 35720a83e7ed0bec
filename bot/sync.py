"""Loading an issuer's Forms 4 live from EDGAR into the store."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

from bot.ingest import IngestReport
from bot.models import Filing, ParseError
from bot.sec.client import EdgarClient, EdgarError, EdgarNotFound, Priority
from bot.sec.form4 import parse_document
from bot.settings import Settings
from bot.store.db import Store

log = logging.getLogger(__name__)

BATCH = 50


async def resolve_cik(store: Store, client: EdgarClient, ticker: str, *, priority: Priority = "user") -> int | None:
    """A ticker to its CIK: the store first (former tickers too), then SEC's ticker map."""
    from bot.store.issuers import UnknownTicker

    try:
        return (await store.issuers.resolve(ticker)).cik
    except UnknownTicker:
        pass
    tickers = await client.company_tickers(priority=priority)
    await store.issuers.load_ticker_map((t.ticker, t.cik, t.name) for t in tickers.values())
    info = await client.ticker_info(ticker, priority=priority)
    return info.cik if info else None


async def sync_issuer(
    store: Store,
    client: EdgarClient,
    cik: int,
    *,
    since: date | None = None,
    until: date | None = None,
    priority: Priority = "user",
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Fetch and ingest the issuer's Forms 4 and 4/A filed in [since, until] that the store lacks."""
    refs = await client.form4_refs(cik, since=since, priority=priority)
    if until:
        refs = [r for r in refs if r.filing_date <= until]
    await store.filings.record_index(refs)
    known = await store.filings.known_accessions(r.accession for r in refs)
    todo = [r for r in refs if r.accession not in known]
    report = IngestReport(files=len(todo), duplicates=len(refs) - len(todo))
    batch: list[Filing] = []
    try:
        await _fetch_all(store, client, cik, todo, batch, report, priority, progress)
    finally:  # an EDGAR outage midway keeps what was already fetched
        if batch:
            report.added += (await store.filings.ingest_many(batch)).added
    if progress and not todo:
        progress(0, 0)
    return report


async def _fetch_all(
    store: Store,
    client: EdgarClient,
    cik: int,
    todo: list,
    batch: list[Filing],
    report: IngestReport,
    priority: Priority,
    progress: Callable[[int, int], None] | None,
) -> None:
    for i, ref in enumerate(todo, 1):
        source = client.archive_url(cik, ref.accession, ref.primary_document)
        try:
            if ref.is_xml:
                data = await client.fetch_filing_document(cik, ref.accession, ref.primary_document, priority=priority)
            else:  # filings before mid-2003 carry no XML: the complete submission may still hold one
                data = await client.fetch_complete_submission(cik, ref.accession, priority=priority)
            filing = parse_document(
                data, source=source, accession=ref.accession, accepted_at=ref.accepted_at, filed_date=ref.filing_date
            )
        except EdgarNotFound as exc:
            report.quarantined.append((source, str(exc)))
            await store.filings.quarantine(source, str(exc))
        except ParseError as exc:
            report.quarantined.append((source, str(exc)))
            await store.filings.quarantine(source, str(exc), data)
        else:
            batch.append(filing)
        if len(batch) >= BATCH:
            report.added += (await store.filings.ingest_many(batch)).added
            batch.clear()
        if progress:
            progress(i, len(todo))


async def sync_tickers(
    store: Store,
    settings: Settings,
    tickers: list[str],
    *,
    since: date | None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, IngestReport | str]:
    """Each ticker's result, or a one-line reason it failed; what was stored before a failure stays."""
    results: dict[str, IngestReport | str] = {}
    async with EdgarClient(settings) as client:
        for ticker in tickers:
            try:
                cik = await resolve_cik(store, client, ticker)
                if cik is None:
                    results[ticker] = f"EDGAR lists no company with ticker {ticker.upper()}"
                    continue
                results[ticker] = await sync_issuer(
                    store, client, cik, since=since,
                    progress=(lambda done, total, t=ticker: progress(t, done, total)) if progress else None,
                )
            except EdgarError as exc:
                results[ticker] = str(exc)
    return results
