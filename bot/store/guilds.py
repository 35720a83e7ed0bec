"""What each Discord server keeps: its shared watchlist and its alert settings. Keyed on the guild id."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.store.db import Store

WATCHLIST_CAP = 250
SENSITIVITIES = ("quiet", "normal", "everything")


class WatchlistFull(ValueError):
    pass


@dataclass(frozen=True)
class WatchedTicker:
    ticker: str
    issuer_cik: int
    added_by: int
    added_at: str


@dataclass(frozen=True)
class GuildSettings:
    guild_id: int
    editor_role_id: int | None = None
    alert_channel_id: int | None = None
    alert_min_value_cents: int = 100_000_000  # $1M
    alert_sensitivity: str = "normal"
    alert_purchases: bool = True
    alert_scope: str = "watchlist"
    alert_ping_role_id: int | None = None
    alert_daily_cap: int = 10
    alert_digest_hour: int | None = None
    alerts_enabled: bool = False
    alerts_paused_reason: str | None = None
    muted_tickers: str = ""

    @property
    def muted(self) -> set[str]:
        return {t for t in self.muted_tickers.split(",") if t}


_COLUMNS = [f.name for f in fields(GuildSettings)]


class Guilds:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def watchlist(self, guild_id: int) -> list[WatchedTicker]:
        rows = await self.store.fetchall(
            "SELECT w.ticker, w.issuer_cik, w.added_by, w.added_at FROM guild_watchlist w WHERE guild_id=? "
            "ORDER BY w.ticker",
            (guild_id,),
        )
        return [WatchedTicker(r[0], r[1], r[2], r[3]) for r in rows]

    async def add(self, guild_id: int, ticker: str, issuer_cik: int, user_id: int) -> bool:
        """False when the issuer is already on the list; WatchlistFull at the cap."""
        async with self.store.transaction() as conn:
            async with conn.execute(
                "SELECT COUNT(*), SUM(issuer_cik=?) FROM guild_watchlist WHERE guild_id=?", (issuer_cik, guild_id)
            ) as cur:
                count, present = await cur.fetchone()  # type: ignore[misc]
            if present:
                return False
            if count >= WATCHLIST_CAP:
                raise WatchlistFull(f"The watchlist is full ({WATCHLIST_CAP} tickers): remove some first.")
            await conn.execute(
                "INSERT INTO guild_watchlist VALUES (?,?,?,?,?)",
                (guild_id, ticker, issuer_cik, user_id, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
            )
        return True

    async def remove(self, guild_id: int, issuer_cik: int) -> bool:
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                "DELETE FROM guild_watchlist WHERE guild_id=? AND issuer_cik=?", (guild_id, issuer_cik)
            )
            return cur.rowcount > 0

    async def clear(self, guild_id: int) -> int:
        async with self.store.transaction() as conn:
            cur = await conn.execute("DELETE FROM guild_watchlist WHERE guild_id=?", (guild_id,))
            return cur.rowcount

    async def watched_ciks(self, guild_id: int) -> list[int]:
        return [r[0] for r in await self.store.fetchall(
            "SELECT issuer_cik FROM guild_watchlist WHERE guild_id=?", (guild_id,))]

    async def settings(self, guild_id: int) -> GuildSettings:
        row = await self.store.fetchone(f"SELECT {', '.join(_COLUMNS)} FROM guild_settings WHERE guild_id=?", (guild_id,))
        if row is None:
            return GuildSettings(guild_id)
        values = dict(zip(_COLUMNS, row))
        for flag in ("alert_purchases", "alerts_enabled"):
            values[flag] = bool(values[flag])
        return GuildSettings(**values)

    async def update_settings(self, guild_id: int, **changes: object) -> GuildSettings:
        current = replace(await self.settings(guild_id), **changes)  # type: ignore[arg-type]
        values = [getattr(current, c) for c in _COLUMNS]
        async with self.store.transaction() as conn:
            await conn.execute(
                f"INSERT OR REPLACE INTO guild_settings ({', '.join(_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_COLUMNS))})",
                [int(v) if isinstance(v, bool) else v for v in values],
            )
        return current

    async def forget(self, guild_id: int) -> None:
        """The bot left the server: its watchlist and settings go."""
        async with self.store.transaction() as conn:
            await conn.execute("DELETE FROM guild_watchlist WHERE guild_id=?", (guild_id,))
            await conn.execute("DELETE FROM guild_settings WHERE guild_id=?", (guild_id,))
