"""Reading transactions: point in time, by issuer, by insider, ranked.

Point in time: a row counts "as of" T when its filing was accepted by T (rows whose acceptance time is
unknown are kept and counted separately) and no 4/A accepted by T superseded it. Periods select on
``transaction_date``; "as of" selects on ``accepted_at``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from bot import rules
from bot.analysis.rows import FilerGroup, HoldingRow, IssuerHistory, TradeRow
from bot.store.filings import iso_utc

if TYPE_CHECKING:
    from bot.store.db import Store

ACTIVE = (
    "(t.accepted_at IS NULL OR t.accepted_at <= :as_of) AND (t.superseded_at IS NULL OR t.superseded_at > :as_of)"
)

ROW_COLUMNS = (
    "t.accession, f.accession_known, f.document_type, t.accepted_at, f.filed_date, t.issuer_cik, f.ticker, "
    "t.group_key, t.seq, t.is_derivative, t.security_title, t.transaction_date, t.deemed_execution_date, t.code, "
    "t.acquired_disposed, t.shares, t.price, t.value_cents, t.shares_owned_after, t.direct_indirect, "
    "t.ownership_nature, t.plan_flag, t.plan_adoption_date, t.sell_to_cover, t.private_from_issuer, "
    "t.weighted_average_price, t.footnotes, f.date_of_original_submission"
)


@lru_cache(maxsize=16384)
def day_from_text(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def time_from_text(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _bool(v: int | None) -> bool | None:
    return None if v is None else bool(v)


def trade_row(r: tuple) -> TradeRow:
    return TradeRow(
        accession=r[0], accession_known=bool(r[1]), document_type=r[2], accepted_at=time_from_text(r[3]),
        filed_date=day_from_text(r[4]), issuer_cik=r[5], ticker=r[6], group_key=r[7], seq=r[8], is_derivative=bool(r[9]),
        security_title=r[10], transaction_date=day_from_text(r[11]), deemed_execution_date=day_from_text(r[12]), code=r[13],
        acquired_disposed=r[14], shares=r[15], price=r[16], value_cents=r[17], shares_owned_after=r[18],
        direct_indirect=r[19], ownership_nature=r[20], plan_flag=_bool(r[21]), plan_adoption_date=day_from_text(r[22]),
        sell_to_cover=bool(r[23]), private_from_issuer=bool(r[24]), weighted_average_price=bool(r[25]),
        footnotes=tuple(json.loads(r[26])) if r[26] else (),
        date_of_original_submission=day_from_text(r[27]),
    )


def as_of_text(as_of: datetime | None) -> str:
    return iso_utc(as_of or datetime.now(UTC)) or ""


@dataclass(frozen=True)
class RankedIssuer:
    issuer_cik: int
    ticker: str | None
    name: str
    buy_cents: int
    sell_cents: int
    buy_shares: float
    sell_shares: float
    buyers: int
    sellers: int

    @property
    def net_cents(self) -> int:
        return self.buy_cents - self.sell_cents


class Trades:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._latest: dict[int, tuple[tuple[int, int], IssuerHistory]] = {}

    async def issuer_history(self, issuer_cik: int, *, as_of: datetime | None = None) -> IssuerHistory:
        """Every active row and holding of an issuer as of a time, with its filer groups.

        The latest view (no ``as_of``) is cached per issuer until the store changes: a popular ticker is
        read from SQLite once per new filing, not once per command."""
        if as_of is not None:
            return await self._issuer_history(issuer_cik, as_of)
        generation = await self.store.generation()
        cached = self._latest.get(issuer_cik)
        if cached is not None and cached[0] == generation:
            return cached[1]
        history = await self._issuer_history(issuer_cik, None)
        if len(self._latest) > 256:
            self._latest.clear()
        self._latest[issuer_cik] = (generation, history)
        return history

    async def _issuer_history(self, issuer_cik: int, as_of: datetime | None) -> IssuerHistory:
        at = as_of_text(as_of)
        params = {"cik": issuer_cik, "as_of": at}
        rows = await self.store.fetchall(
            f"SELECT {ROW_COLUMNS} FROM transactions t JOIN filings f ON f.accession=t.accession "
            f"WHERE t.issuer_cik=:cik AND {ACTIVE} ORDER BY t.transaction_date, t.accepted_at, t.accession, "
            "t.is_derivative, t.seq",
            params,
        )
        holdings = await self.store.fetchall(
            "SELECT h.accession, f.accepted_at, f.period_of_report, h.issuer_cik, h.group_key, h.security_title, "
            "h.shares_owned, h.direct_indirect, h.ownership_nature FROM holdings h JOIN filings f "
            "ON f.accession=h.accession WHERE h.issuer_cik=:cik AND h.is_derivative=0 "
            "AND (f.accepted_at IS NULL OR f.accepted_at <= :as_of) "
            "AND (f.superseded_at IS NULL OR f.superseded_at > :as_of) ORDER BY f.period_of_report, f.accession",
            params,
        )
        issuer = await self.store.fetchone("SELECT name, ticker FROM issuers WHERE cik=?", (issuer_cik,))
        meta = await self.store.fetchone(
            "SELECT MAX(accepted_at), SUM(accepted_at IS NULL) FROM filings WHERE issuer_cik=:cik "
            "AND (accepted_at IS NULL OR accepted_at <= :as_of)",
            params,
        )
        trades = tuple(trade_row(tuple(r)) for r in rows)
        groups = await self.groups_for_issuer(issuer_cik, {t.group_key for t in trades}, at)
        return IssuerHistory(
            issuer_cik=issuer_cik,
            issuer_name=issuer[0] if issuer else str(issuer_cik),
            ticker=issuer[1] if issuer else None,
            rows=trades,
            holdings=tuple(
                HoldingRow(h[0], time_from_text(h[1]), day_from_text(h[2]), h[3], h[4], h[5], h[6], h[7], h[8]) for h in holdings
            ),
            groups=groups,
            as_of=time_from_text(at) or datetime.now(UTC),
            newest_acceptance=time_from_text(meta[0]) if meta else None,
            unknown_time_filings=int(meta[1] or 0) if meta else 0,
        )

    async def groups_for_issuer(self, issuer_cik: int | None, keys: Iterable[str], as_of: str) -> dict[str, FilerGroup]:
        """Names and roles of filer groups, from each group's newest filing (for that issuer, when given)."""
        out: dict[str, FilerGroup] = {}
        keys = list(keys)
        for i in range(0, len(keys), 400):
            chunk = keys[i : i + 400]
            marks = ",".join("?" * len(chunk))
            issuer_clause = "AND f.issuer_cik=?" if issuer_cik is not None else ""
            params: list[object] = [*chunk, *( [issuer_cik] if issuer_cik is not None else [])]
            rows = await self.store.fetchall(
                "SELECT f.group_key, o.owner_cik, o.name, o.is_director, o.is_officer, o.is_ten_percent_owner, "
                "o.is_other, o.officer_title FROM filings f JOIN filing_owners o ON o.accession=f.accession "
                f"WHERE f.group_key IN ({marks}) {issuer_clause} "
                "ORDER BY f.group_key, COALESCE(f.period_of_report, ''), f.accession",
                params,
            )
            latest: dict[str, dict[int, tuple]] = {}
            for r in rows:
                latest.setdefault(r[0], {})[r[1]] = r  # later (newer) filings overwrite
            for key, owners in latest.items():
                ordered = sorted(owners.values(), key=lambda o: _owner_rank(o))
                roles: list[str] = []
                for o in ordered:
                    for role in rules.roles_of(bool(o[3]), bool(o[4]), bool(o[5]), bool(o[6]), o[7]):
                        if role not in roles:
                            roles.append(role)
                out[key] = FilerGroup(
                    key=key,
                    names=tuple(o[2] for o in ordered),
                    owner_ciks=tuple(o[1] for o in ordered),
                    roles=tuple(roles),
                )
        return out

    async def rank_issuers(
        self,
        since: date,
        until: date,
        *,
        as_of: datetime | None = None,
        issuer_ciks: Iterable[int] | None = None,
    ) -> list[RankedIssuer]:
        """Open-market flow per issuer over a period of transaction dates, from the per-filing aggregate."""
        params: dict[str, object] = {"since": since.isoformat(), "until": until.isoformat(), "as_of": as_of_text(as_of)}
        restrict = ""
        if issuer_ciks is not None:
            ciks = [int(c) for c in issuer_ciks]
            if not ciks:
                return []
            restrict = f"AND t.issuer_cik IN ({','.join(str(c) for c in ciks)})"
        rows = await self.store.fetchall(
            "SELECT t.issuer_cik, "
            "SUM(CASE WHEN t.code='P' THEN t.value_cents ELSE 0 END), "
            "SUM(CASE WHEN t.code='S' THEN t.value_cents ELSE 0 END), "
            "SUM(CASE WHEN t.code='P' THEN t.shares ELSE 0 END), "
            "SUM(CASE WHEN t.code='S' THEN t.shares ELSE 0 END), "
            "COUNT(DISTINCT CASE WHEN t.code='P' THEN t.group_key END), "
            "COUNT(DISTINCT CASE WHEN t.code='S' THEN t.group_key END) "
            "FROM flow_days t WHERE t.transaction_date BETWEEN :since AND :until "
            f"AND {ACTIVE} {restrict} GROUP BY t.issuer_cik",
            params,
        )
        names = {
            r[0]: (r[1], r[2])
            for r in await self.store.fetchall("SELECT cik, name, ticker FROM issuers")
        } if rows else {}
        return [
            RankedIssuer(
                issuer_cik=r[0], name=names.get(r[0], (str(r[0]), None))[0], ticker=names.get(r[0], ("", None))[1],
                buy_cents=int(r[1] or 0), sell_cents=int(r[2] or 0), buy_shares=float(r[3] or 0),
                sell_shares=float(r[4] or 0), buyers=int(r[5] or 0), sellers=int(r[6] or 0),
            )
            for r in rows
        ]

    async def insider_rows(self, owner_cik: int, *, as_of: datetime | None = None) -> list[TradeRow]:
        """Every active row of the filings this person is an owner on, across issuers."""
        rows = await self.store.fetchall(
            f"SELECT {ROW_COLUMNS} FROM transactions t JOIN filings f ON f.accession=t.accession "
            f"WHERE t.accession IN (SELECT accession FROM filing_owners WHERE owner_cik=:cik) AND {ACTIVE} "
            "ORDER BY t.transaction_date, t.accepted_at, t.accession, t.is_derivative, t.seq",
            {"cik": owner_cik, "as_of": as_of_text(as_of)},
        )
        return [trade_row(tuple(r)) for r in rows]

    async def find_insiders(self, text: str, limit: int = 10) -> list[tuple[int, str]]:
        text = text.strip()
        if text.isdigit():
            row = await self.store.fetchone("SELECT cik, name FROM insiders WHERE cik=?", (int(text),))
            return [(row[0], row[1])] if row else []
        words = [w for w in text.replace(",", " ").split() if w][:4]
        if not words:
            return []
        clause = " AND ".join("name LIKE ?" for _ in words)
        rows = await self.store.fetchall(
            f"SELECT cik, name FROM insiders WHERE {clause} ORDER BY length(name) LIMIT ?",
            [*(f"%{w.replace('%', '')}%" for w in words), limit],
        )
        return [(r[0], r[1]) for r in rows]

    async def newest_acceptance(self) -> datetime | None:
        row = await self.store.fetchone("SELECT MAX(accepted_at) FROM filings")
        return time_from_text(row[0]) if row else None

    async def counts(self) -> dict[str, int]:
        row = await self.store.fetchone(
            "SELECT (SELECT COUNT(*) FROM filings), (SELECT COUNT(*) FROM transactions), "
            "(SELECT COUNT(*) FROM issuers), (SELECT COUNT(*) FROM insiders), (SELECT COUNT(*) FROM quarantine)"
        )
        assert row is not None
        return dict(zip(("filings", "transactions", "issuers", "insiders", "quarantined"), map(int, row)))


def _owner_rank(o: tuple) -> tuple[int, str]:
    # Natural persons with a role first, so a joint filing reads as "Thiel Peter (+3 joint filers)".
    has_role = bool(o[3] or o[4])
    return (0 if has_role else 1, o[2])
