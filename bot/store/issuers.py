"""Issuers and tickers: current, former (seen in filings) and SEC's ticker map."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.store.db import Store

TICKER_RE = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")


@dataclass(frozen=True)
class Issuer:
    cik: int
    name: str
    ticker: str | None
    former_tickers: tuple[str, ...] = ()
    in_store: bool = True


class UnknownTicker(LookupError):
    def __init__(self, text: str, suggestions: list[str]) -> None:
        self.text = text
        self.suggestions = suggestions
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"No issuer found for '{text}'.{hint}")


def normalise_ticker(text: str) -> str:
    return text.strip().lstrip("$").upper()


class Issuers:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def load_ticker_map(self, entries: Iterable[tuple[str, int, str]]) -> int:
        """Replace SEC's ticker map (ticker, cik, name)."""
        rows = [(normalise_ticker(t), int(c), n) for t, c, n in entries]
        async with self.store.transaction() as conn:
            await conn.execute("DELETE FROM ticker_map")
            await conn.executemany("INSERT OR REPLACE INTO ticker_map VALUES (?,?,?)", rows)
            # SEC's map knows today's ticker; a stored issuer takes it as current.
            await conn.execute(
                "UPDATE issuers SET ticker=(SELECT MIN(ticker) FROM ticker_map tm WHERE tm.cik=issuers.cik) "
                "WHERE EXISTS (SELECT 1 FROM ticker_map tm WHERE tm.cik=issuers.cik) "
                "AND ticker NOT IN (SELECT ticker FROM ticker_map tm WHERE tm.cik=issuers.cik)"
            )
        return len(rows)

    async def get(self, cik: int) -> Issuer | None:
        row = await self.store.fetchone("SELECT cik, name, ticker FROM issuers WHERE cik=?", (cik,))
        if row is None:
            mapped = await self.store.fetchone("SELECT cik, name, ticker FROM ticker_map WHERE cik=?", (cik,))
            return Issuer(mapped[0], mapped[1], mapped[2], in_store=False) if mapped else None
        former = await self.store.fetchall(
            "SELECT ticker FROM issuer_tickers WHERE cik=? AND ticker IS NOT ? ORDER BY last_seen DESC",
            (cik, row[2]),
        )
        return Issuer(row[0], row[1], row[2], tuple(r[0] for r in former))

    async def resolve(self, text: str) -> Issuer:
        """A ticker (current or former), or a CIK, to its issuer; UnknownTicker with close matches."""
        query = normalise_ticker(text)
        if query.isdigit():
            found = await self.get(int(query))
            if found:
                return found
            raise UnknownTicker(text, [])
        if not TICKER_RE.match(query):
            raise UnknownTicker(text[:20], [])
        for sql in (
            "SELECT cik FROM issuers WHERE ticker=?",
            "SELECT cik FROM issuer_tickers WHERE ticker=? ORDER BY last_seen DESC",
            "SELECT cik FROM ticker_map WHERE ticker=?",
        ):
            row = await self.store.fetchone(sql, (query,))
            if row:
                found = await self.get(int(row[0]))
                if found:
                    return found
        raise UnknownTicker(query, await self.suggest(query))

    async def suggest(self, prefix: str, limit: int = 5) -> list[str]:
        tickers = [r[0] for r in await self.store.fetchall(
            "SELECT ticker FROM issuers WHERE ticker IS NOT NULL UNION SELECT ticker FROM issuer_tickers "
            "UNION SELECT ticker FROM ticker_map"
        )]
        return difflib.get_close_matches(prefix.upper(), tickers, n=limit, cutoff=0.6)

    async def autocomplete(self, prefix: str, limit: int = 25) -> list[tuple[str, str]]:
        """(ticker, name) pairs for a typed prefix: stored issuers first, then SEC's map."""
        p = normalise_ticker(prefix)
        if not p:
            rows = await self.store.fetchall(
                "SELECT ticker, name FROM issuers WHERE ticker IS NOT NULL ORDER BY ticker LIMIT ?", (limit,)
            )
        else:
            like = p.replace("%", "").replace("_", "") + "%"
            rows = await self.store.fetchall(
                "SELECT ticker, name FROM (SELECT ticker, name, 0 AS k FROM issuers WHERE ticker LIKE ? "
                "UNION ALL SELECT ticker, name, 1 FROM ticker_map WHERE ticker LIKE ?) "
                "GROUP BY ticker ORDER BY MIN(k), length(ticker), ticker LIMIT ?",
                (like, like, limit),
            )
        return [(r[0], r[1]) for r in rows]

    async def all_stored(self) -> list[Issuer]:
        rows = await self.store.fetchall("SELECT cik, name, ticker FROM issuers ORDER BY ticker")
        return [Issuer(r[0], r[1], r[2]) for r in rows]
