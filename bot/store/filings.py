"""Writing filings: idempotent ingest keyed on accession number, the 4/A rule, the quarantine."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import aiosqlite

from bot import rules
from bot.models import Filing

if TYPE_CHECKING:
    from bot.sec.client import FilingRef
    from bot.store.db import Store

log = logging.getLogger(__name__)

# A superseding 4/A whose acceptance time is unknown supersedes as of any time.
UNKNOWN_TIME_SUPERSEDES = "0000"


def iso_utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("acceptance times must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_day(value: date | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class IngestResult:
    added: int = 0
    duplicates: int = 0
    quarantined: int = 0


class Filings:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def has(self, accession: str) -> bool:
        return await self.store.fetchone("SELECT 1 FROM filings WHERE accession=?", (accession,)) is not None

    async def known_accessions(self, accessions: Iterable[str]) -> set[str]:
        wanted = list(accessions)
        found: set[str] = set()
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = await self.store.fetchall(f"SELECT accession FROM filings WHERE accession IN ({marks})", chunk)
            found.update(r[0] for r in rows)
        return found

    async def ingest(self, filing: Filing, *, source: str | None = None) -> bool:
        result = await self.ingest_many([filing], source=source)
        return result.added == 1

    async def ingest_many(self, filings: Iterable[Filing], *, source: str | None = None) -> IngestResult:
        """Store filings in one transaction. Filings already stored (same accession) are skipped."""
        batch = list(filings)
        if not batch:
            return IngestResult()
        existing = await self.known_accessions(f.accession for f in batch)
        fresh: dict[str, Filing] = {}
        duplicates = []
        for filing in batch:
            if filing.accession in existing or filing.accession in fresh:
                duplicates.append(filing)
            else:
                fresh[filing.accession] = filing
        async with self.store.transaction() as conn:
            await self._insert_all(conn, list(fresh.values()), source)
            # After the insert: a second copy in this same batch (the XML and the .txt) may know the times.
            for filing in duplicates:
                await self._fill_times(conn, filing)
            await self._apply_index_times(conn, set(fresh))
            for cik in {f.issuer_cik for f in fresh.values()}:
                await apply_amendments(conn, cik)
        return IngestResult(added=len(fresh), duplicates=len(duplicates))

    async def _insert_all(self, conn: aiosqlite.Connection, batch: list[Filing], source: str | None) -> None:
        """One executemany per table for the whole batch."""
        issuers: dict[int, tuple[str, str | None, str]] = {}
        tickers: dict[tuple[str, int], str] = {}
        filings: list[tuple] = []
        owners: list[tuple] = []
        insiders: dict[int, tuple[str, str]] = {}
        transactions: list[tuple] = []
        holdings: list[tuple] = []
        for f in batch:
            period = iso_day(f.period_of_report) or iso_day(f.filed_date) or ""
            if f.issuer_cik not in issuers or period >= issuers[f.issuer_cik][2]:
                issuers[f.issuer_cik] = (f.issuer_name, f.ticker, period)
            if f.ticker:
                key = (f.ticker, f.issuer_cik)
                tickers[key] = max(tickers.get(key, ""), period)
            accepted = iso_utc(f.accepted_at)
            group = f.group_key
            filings.append((
                f.accession, int(f.accession_known), f.issuer_cik, f.document_type, group, accepted,
                iso_day(f.filed_date), iso_day(f.period_of_report), iso_day(f.date_of_original_submission),
                None if f.aff10b5one is None else int(f.aff10b5one), f.schema_version, f.remarks, f.ticker, source,
            ))
            for o in {o.cik: o for o in f.owners}.values():
                owners.append((f.accession, o.cik, o.name, int(o.is_director), int(o.is_officer),
                               int(o.is_ten_percent_owner), int(o.is_other), o.officer_title, o.other_text))
                if o.cik not in insiders or period >= insiders[o.cik][1]:
                    insiders[o.cik] = (o.name, period)
            any_plan_note = any(t.plan_footnote for t in f.transactions)
            for t in f.transactions:
                plan = rules.plan_flag(f.aff10b5one, t.plan_footnote, any_plan_note)
                transactions.append((
                    f.accession, t.seq, f.issuer_cik, group, accepted, int(t.is_derivative), t.security_title,
                    iso_day(t.transaction_date), iso_day(t.deemed_execution_date), t.code, t.acquired_disposed,
                    t.shares, t.price, rules.value_cents(t.shares, t.price), t.shares_owned_after,
                    t.direct_indirect, t.ownership_nature, None if plan is None else int(plan),
                    iso_day(t.plan_adoption_date), int(t.sell_to_cover), int(t.private_from_issuer),
                    int(t.weighted_average_price), json.dumps(list(t.footnotes)) if t.footnotes else None,
                    t.underlying_title, t.underlying_shares, t.conversion_or_exercise_price,
                ))
            holdings.extend(
                (f.accession, h.seq, f.issuer_cik, group, int(h.is_derivative), h.security_title, h.shares_owned,
                 h.direct_indirect, h.ownership_nature)
                for h in f.holdings
            )
        # The issuer's name and current ticker follow its newest filing (by period), whatever the ingest order.
        await conn.executemany(
            "INSERT INTO issuers(cik, name, ticker) VALUES (?,?,?) ON CONFLICT(cik) DO UPDATE SET "
            "name=excluded.name, ticker=COALESCE(excluded.ticker, issuers.ticker) "
            "WHERE ? >= COALESCE((SELECT MAX(last_seen) FROM issuer_tickers WHERE cik=excluded.cik "
            "AND source='filing'), '')",
            [(cik, name, ticker, period) for cik, (name, ticker, period) in issuers.items()],
        )
        await conn.executemany(
            "INSERT INTO issuer_tickers(ticker, cik, source, last_seen) VALUES (?,?, 'filing', ?) "
            "ON CONFLICT(ticker, cik) DO UPDATE SET last_seen=MAX(COALESCE(last_seen,''), excluded.last_seen)",
            [(t, cik, period) for (t, cik), period in tickers.items()],
        )
        await conn.executemany(
            "INSERT INTO filings(accession, accession_known, issuer_cik, document_type, group_key, accepted_at, "
            "filed_date, period_of_report, date_of_original_submission, aff10b5one, schema_version, remarks, "
            "ticker, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            filings,
        )
        await conn.executemany("INSERT INTO filing_owners VALUES (?,?,?,?,?,?,?,?,?)", owners)
        await conn.executemany(
            "INSERT INTO insiders(cik, name) VALUES (?,?) ON CONFLICT(cik) DO UPDATE SET name=excluded.name",
            [(cik, name) for cik, (name, _) in insiders.items()],
        )
        await conn.executemany(
            "INSERT INTO transactions(accession, seq, issuer_cik, group_key, accepted_at, is_derivative, "
            "security_title, transaction_date, deemed_execution_date, code, acquired_disposed, shares, price, "
            "value_cents, shares_owned_after, direct_indirect, ownership_nature, plan_flag, plan_adoption_date, "
            "sell_to_cover, private_from_issuer, weighted_average_price, footnotes, underlying_title, "
            "underlying_shares, exercise_price) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            transactions,
        )
        await conn.executemany("INSERT INTO holdings VALUES (?,?,?,?,?,?,?,?,?)", holdings)
        # The per-filing flow aggregate that rankings read; same rule as the rows (rules.flow_side).
        flow: dict[tuple[str, str, str], list] = {}
        for r in transactions:
            if r[7] is None or rules.flow_side(r[9], bool(r[5])) is None:
                continue
            key = (r[0], r[7], r[9])
            agg = flow.setdefault(key, [r[2], r[3], None, 0.0, r[4]])
            if r[13] is not None:
                agg[2] = (agg[2] or 0) + r[13]
            agg[3] += r[11] or 0.0
        await conn.executemany(
            "INSERT INTO flow_days VALUES (?,?,?,?,?,?,?,?,NULL)",
            [(acc, day, code, a[0], a[1], a[2], a[3], a[4]) for (acc, day, code), a in flow.items()],
        )

    async def _fill_times(self, conn: aiosqlite.Connection, f: Filing) -> None:
        """A re-ingest that knows more (acceptance time, filing date) completes the stored filing."""
        if f.accepted_at is None and f.filed_date is None:
            return
        accepted = iso_utc(f.accepted_at)
        await conn.execute(
            "UPDATE filings SET accepted_at=COALESCE(accepted_at, ?), filed_date=COALESCE(filed_date, ?) "
            "WHERE accession=?",
            (accepted, iso_day(f.filed_date), f.accession),
        )
        for table in ("transactions", "flow_days"):
            await conn.execute(
                f"UPDATE {table} SET accepted_at=COALESCE(accepted_at, ?) WHERE accession=?",
                (accepted, f.accession),
            )

    async def record_index(self, refs: Iterable[FilingRef]) -> int:
        """Remember what EDGAR's indexes say (times, dates) and date stored filings that lacked them."""
        rows = [
            (r.accession, r.cik or None, r.form, iso_day(r.filing_date), iso_utc(r.accepted_at),
             r.primary_document or None)
            for r in refs
        ]
        if not rows:
            return 0
        async with self.store.transaction() as conn:
            await conn.executemany(
                "INSERT INTO filing_index VALUES (?,?,?,?,?,?) ON CONFLICT(accession) DO UPDATE SET "
                "filed_date=COALESCE(excluded.filed_date, filed_date), "
                "accepted_at=COALESCE(excluded.accepted_at, accepted_at), "
                "primary_document=COALESCE(excluded.primary_document, primary_document)",
                rows,
            )
            changed = await self._apply_index_times(conn, {r[0] for r in rows})
            issuers = await conn.execute_fetchall(
                f"SELECT DISTINCT issuer_cik FROM filings WHERE accession IN ({','.join('?' * len(rows))})",
                [r[0] for r in rows],
            ) if len(rows) < 900 else await conn.execute_fetchall("SELECT cik FROM issuers")
            for (cik,) in issuers:
                await apply_amendments(conn, cik)
        return changed

    async def _apply_index_times(self, conn: aiosqlite.Connection, accessions: set[str]) -> int:
        if not accessions:
            return 0
        changed = 0
        acc = list(accessions)
        for i in range(0, len(acc), 500):
            chunk = acc[i : i + 500]
            marks = ",".join("?" * len(chunk))
            cur = await conn.execute(
                "UPDATE filings SET accepted_at=COALESCE(filings.accepted_at, fi.accepted_at), "
                "filed_date=COALESCE(filings.filed_date, fi.filed_date) FROM filing_index fi "
                f"WHERE fi.accession=filings.accession AND filings.accession IN ({marks}) "
                "AND ((filings.accepted_at IS NULL AND fi.accepted_at IS NOT NULL) "
                "OR (filings.filed_date IS NULL AND fi.filed_date IS NOT NULL))",
                chunk,
            )
            changed += cur.rowcount
            for table in ("transactions", "flow_days"):
                await conn.execute(
                    f"UPDATE {table} SET accepted_at=f.accepted_at FROM filings f "
                    f"WHERE f.accession={table}.accession AND f.accession IN ({marks}) "
                    f"AND {table}.accepted_at IS NOT f.accepted_at",
                    chunk,
                )
        return changed

    async def count_by_source(self, source: str) -> int:
        row = await self.store.fetchone("SELECT COUNT(*) FROM filings WHERE source=?", (source,))
        return int(row[0]) if row else 0

    async def quarantine(self, source: str, reason: str, content: bytes | None = None) -> None:
        digest = hashlib.sha256(content).hexdigest() if content is not None else None
        log.warning("quarantined %s: %s", source, reason)
        async with self.store.transaction() as conn:
            await conn.execute(
                "INSERT OR REPLACE INTO quarantine(source, reason, content_sha256, at) VALUES (?,?,?,?)",
                (source, reason, digest, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
            )

    async def quarantined(self) -> list[tuple[str, str]]:
        rows = await self.store.fetchall("SELECT source, reason FROM quarantine ORDER BY id")
        return [(r[0], r[1]) for r in rows]


async def apply_amendments(conn: aiosqlite.Connection, issuer_cik: int) -> None:
    """THE 4/A RULE. A 4/A restates the filing it amends, so only the newest version counts.

    The XML of a 4/A names the original only by its filing date (``dateOfOriginalSubmission``). So within an
    issuer and a filer group, the original is the Form 4 filed on that date (or, when its filing date is
    unknown, the Form 4 with the same period of report); it and every earlier amendment of it are superseded
    by the newest amendment, as of that amendment's acceptance time (point in time: before the 4/A was
    accepted, the original was what the public saw). Recomputed from scratch for the issuer, so ingest
    order does not matter.
    """
    rows = await conn.execute_fetchall(
        "SELECT accession, document_type, group_key, accepted_at, filed_date, period_of_report, "
        "date_of_original_submission, superseded_by FROM filings WHERE issuer_cik=? "
        "AND document_type IN ('4', '4/A')",
        (issuer_cik,),
    )
    if not any(r[1] == "4/A" for r in rows):
        if any(r[7] for r in rows):
            await _write_supersession(conn, issuer_cik, {})
        return
    originals: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for r in rows:
        if r[1] == "4":
            if r[4]:
                originals[(r[2], "filed:" + r[4])].append(r)
            elif r[5]:
                originals[(r[2], "period:" + r[5])].append(r)
    chains: dict[str, list[tuple]] = defaultdict(list)  # original accession -> its amendments
    for a in rows:
        if a[1] != "4/A" or not a[6]:
            continue
        matches = originals.get((a[2], "filed:" + a[6])) or originals.get((a[2], "period:" + (a[5] or ""))) or []
        if len(matches) > 1:
            # One filer often files several Forms 4 on one day (a sale wave split at 30 rows): the 4/A
            # amends the one whose rows it restates.
            matches = await _closest_originals(conn, a[0], matches)
        for o in matches:
            chains[o[0]].append(a)
    superseded: dict[str, tuple[str, str]] = {}
    for original, amendments in chains.items():
        ordered = sorted(amendments, key=lambda a: (a[3] or "", a[0]))
        newest = ordered[-1]
        at = newest[3] or UNKNOWN_TIME_SUPERSEDES
        superseded[original] = (newest[0], at)
        for older in ordered[:-1]:
            superseded[older[0]] = (newest[0], at)
    await _write_supersession(conn, issuer_cik, superseded)


async def _write_supersession(
    conn: aiosqlite.Connection, issuer_cik: int, superseded: dict[str, tuple[str, str]]
) -> None:
    # By accession, so each UPDATE uses a primary key or the filings' issuer index, never a table scan.
    previous = [r[0] for r in await conn.execute_fetchall(
        "SELECT accession FROM filings WHERE issuer_cik=? AND superseded_by IS NOT NULL", (issuer_cik,)
    )]
    changes = [(acc, None, None) for acc in previous if acc not in superseded]
    changes += [(acc, by, at) for acc, (by, at) in superseded.items()]
    for accession, by, at in changes:
        await conn.execute(
            "UPDATE filings SET superseded_by=?, superseded_at=? WHERE accession=?", (by, at, accession)
        )
        for table in ("transactions", "flow_days"):
            await conn.execute(f"UPDATE {table} SET superseded_at=? WHERE accession=?", (at, accession))


async def _closest_originals(conn: aiosqlite.Connection, amendment: str, candidates: list[tuple]) -> list[tuple]:
    """The candidate originals sharing the most rows (date, code, security, direct/indirect, nature,
    price) with the amendment; every candidate if none shares any, since then nothing tells them apart."""

    async def signature(accession: str) -> set[tuple]:
        rows = await conn.execute_fetchall(
            "SELECT transaction_date, code, security_title, direct_indirect, ownership_nature, price, "
            "is_derivative FROM transactions WHERE accession=?",
            (accession,),
        )
        return {tuple(r) for r in rows}

    target = await signature(amendment)
    scored = [(len(target & await signature(c[0])), c) for c in candidates]
    best = max(score for score, _ in scored)
    if best == 0:
        return candidates
    return [c for score, c in scored if score == best]
