"""What each Discord user keeps for themselves: a personal watchlist and their DM-alert settings."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.store.db import Store

PERSONAL_CAP = 50


class PersonalListFull(ValueError):
    pass


@dataclass(frozen=True)
class UserSettings:
    user_id: int
    dm_alerts: bool = False
    sensitivity: str = "normal"
    min_value_cents: int = 100_000_000
    daily_cap: int = 5
    paused_reason: str | None = None  # e.g. "your DMs are closed": told the next time they use a command


_COLUMNS = [f.name for f in fields(UserSettings)]


class Users:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def watchlist(self, user_id: int) -> list[tuple[str, int]]:
        rows = await self.store.fetchall(
            "SELECT ticker, issuer_cik FROM user_watchlist WHERE user_id=? ORDER BY ticker", (user_id,)
        )
        return [(r[0], r[1]) for r in rows]

    async def add(self, user_id: int, ticker: str, issuer_cik: int) -> bool:
        async with self.store.transaction() as conn:
            async with conn.execute(
                "SELECT COUNT(*), SUM(issuer_cik=?) FROM user_watchlist WHERE user_id=?", (issuer_cik, user_id)
            ) as cur:
                count, present = await cur.fetchone()  # type: ignore[misc]
            if present:
                return False
            if count >= PERSONAL_CAP:
                raise PersonalListFull(f"Your watchlist is full ({PERSONAL_CAP} tickers): remove some first.")
            await conn.execute(
                "INSERT INTO user_watchlist VALUES (?,?,?,?)",
                (user_id, ticker, issuer_cik, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
            )
        return True

    async def remove(self, user_id: int, ticker: str) -> bool:
        async with self.store.transaction() as conn:
            cur = await conn.execute("DELETE FROM user_watchlist WHERE user_id=? AND ticker=?", (user_id, ticker))
            return cur.rowcount > 0

    async def settings(self, user_id: int) -> UserSettings:
        row = await self.store.fetchone(f"SELECT {', '.join(_COLUMNS)} FROM user_settings WHERE user_id=?", (user_id,))
        if row is None:
            return UserSettings(user_id)
        values = dict(zip(_COLUMNS, row, strict=True))
        values["dm_alerts"] = bool(values["dm_alerts"])
        return UserSettings(**values)

    async def update_settings(self, user_id: int, **changes: object) -> UserSettings:
        current = replace(await self.settings(user_id), **changes)  # type: ignore[arg-type]
        values = [int(v) if isinstance(v, bool) else v for v in (getattr(current, c) for c in _COLUMNS)]
        async with self.store.transaction() as conn:
            await conn.execute(
                f"INSERT OR REPLACE INTO user_settings ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                values,
            )
        return current

    async def forget(self, user_id: int) -> int:
        """Everything kept about the user goes (their /mywatch forget)."""
        async with self.store.transaction() as conn:
            cur = await conn.execute("DELETE FROM user_watchlist WHERE user_id=?", (user_id,))
            await conn.execute("DELETE FROM user_settings WHERE user_id=?", (user_id,))
            return cur.rowcount

    async def watchers_of(self, issuer_cik: int) -> list[UserSettings]:
        """Users with DM alerts on who watch the issuer (for the alert engine)."""
        rows = await self.store.fetchall(
            f"SELECT {', '.join('s.' + c for c in _COLUMNS)} FROM user_watchlist w JOIN user_settings s "
            "ON s.user_id=w.user_id WHERE w.issuer_cik=? AND s.dm_alerts=1 AND s.paused_reason IS NULL",
            (issuer_cik,),
        )
        out = []
        for row in rows:
            values = dict(zip(_COLUMNS, row, strict=True))
            values["dm_alerts"] = bool(values["dm_alerts"])
            out.append(UserSettings(**values))
        return out
