"""The SQLite store: one aiosqlite connection in WAL mode, migrated on open.

All SQL of the project lives in this package, so a PostgreSQL backend can replace it module by module.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Self

import aiosqlite

from bot.store.migrations import MIGRATIONS

log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """The store could not do what was asked; the message says why in a user's words."""


class Store:
    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self.conn = conn
        self.path = path
        # One writer at a time on this connection: tasks (watcher, history loader, cogs) share it.
        self._write_lock = asyncio.Lock()
        self._writes = 0
        # Imported here to keep each query module free to import Store for typing.
        from bot.store.filings import Filings
        from bot.store.guilds import Guilds
        from bot.store.issuers import Issuers
        from bot.store.trades import Trades
        from bot.store.users import Users

        self.filings = Filings(self)
        self.issuers = Issuers(self)
        self.trades = Trades(self)
        self.guilds = Guilds(self)
        self.users = Users(self)

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = await aiosqlite.connect(path, timeout=30)
        except Exception as exc:  # sqlite3.OperationalError: unable to open database file
            raise StoreError(f"cannot open the store at {path}: {exc}") from exc
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=30000")
        store = cls(conn, path)
        await store._migrate()
        return store

    async def close(self) -> None:
        await self.conn.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _migrate(self) -> None:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the store at {self.path} was written by a newer insiderflow (schema {version}); upgrade"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            log.info("migrating store %s to schema %d", self.path, number)
            await self.conn.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction: all or nothing, so a failure never leaves half a filing behind."""
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.rollback()
                raise
            else:
                await self.conn.commit()
                self._writes += 1

    async def generation(self) -> tuple[int, int]:
        """Changes whenever this connection or another process committed: a key for read caches."""
        row = await self.fetchone("PRAGMA data_version")
        return (self._writes, int(row[0]) if row else 0)

    async def fetchall(self, sql: str, params: object = ()) -> list[aiosqlite.Row]:
        async with self.conn.execute(sql, params) as cur:  # type: ignore[arg-type]
            return list(await cur.fetchall())

    async def fetchone(self, sql: str, params: object = ()) -> aiosqlite.Row | None:
        async with self.conn.execute(sql, params) as cur:  # type: ignore[arg-type]
            return await cur.fetchone()
