"""The live watcher's state: its position in EDGAR's current feed, the lease that lets one process poll, the
filings still to retry and the days still to read from the daily index.

Times are UTC text with microseconds (``2025-03-07T23:28:58.000000Z``): one fixed width, so SQL compares them
as text. The lease and the poll times come from the watcher's clock; ``newest_updated`` comes from EDGAR's
feed, so the position does not move when the machine's clock does.

Only one watcher polls at a time, even with several processes on one store: the lease is taken and renewed
by one conditional upsert inside ``BEGIN IMMEDIATE`` (SQLite serialises writers, so two processes cannot both
see it free), and the position is only written by the lease holder (a process that lost the lease mid-poll
cannot move it back).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.store.db import Store

log = logging.getLogger(__name__)

LEASE_NAME = "watcher"
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def ts(value: datetime) -> str:
    """An aware datetime as the store's UTC text."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("watcher times must be timezone-aware")
    return value.astimezone(UTC).strftime(_TS_FORMAT)


def parse_ts(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, _TS_FORMAT).replace(tzinfo=UTC)


def _seconds(ttl: float | timedelta) -> timedelta:
    return ttl if isinstance(ttl, timedelta) else timedelta(seconds=float(ttl))


@dataclass(frozen=True, slots=True)
class Position:
    """Where the watcher is. ``newest_updated`` is None until its first successful poll."""

    newest_updated: datetime | None = None
    last_accessions: tuple[str, ...] = ()
    last_poll_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    owner: str
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime

    def held_at(self, now: datetime) -> bool:
        """Whether the lease still binds at ``now`` (not lapsed, and not renewed "in the future")."""
        return self.renewed_at <= now < self.expires_at


@dataclass(frozen=True, slots=True)
class PendingFiling:
    """A Form 4 the watcher saw listed but could not store yet."""

    accession: str
    cik: int
    form: str
    listed_at: datetime | None
    filed_date: date | None
    origin: str  # "feed" or "index"
    attempts: int = 0
    last_error: str | None = None
    next_try_at: datetime | None = None
    gave_up: bool = False


@dataclass(frozen=True, slots=True)
class CatchupDay:
    day: date
    state: str  # "pending" or "done"
    next_try_at: datetime | None = None
    added: int = 0
    note: str | None = None


@dataclass(frozen=True, slots=True)
class WatchStatus:
    """What ``/alerts status`` shows about the watcher."""

    position: Position
    lease: Lease | None
    leader_active: bool  # some watcher holds an unexpired lease
    lag: timedelta | None  # now - newest acceptance seen in the feed; None before the first poll
    pending_days: tuple[date, ...]
    retrying: int  # filings waiting for another attempt
    given_up: int  # filings the watcher stopped trying (quarantined)


def _pending_row(row: Sequence[Any]) -> PendingFiling:
    r = tuple(row)
    return PendingFiling(
        accession=r[0],
        cik=int(r[1]),
        form=r[2],
        listed_at=parse_ts(r[3]),
        filed_date=date.fromisoformat(r[4]) if r[4] else None,
        origin=r[5],
        attempts=int(r[6]),
        last_error=r[7],
        next_try_at=parse_ts(r[8]),
        gave_up=bool(r[9]),
    )


_PENDING_COLUMNS = ("accession, cik, form, listed_at, filed_date, origin, attempts, last_error, next_try_at, "
                    "gave_up")


class Watch:
    """The watcher's rows in the store. Every method is one short transaction (or one read)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------------------------------------ lease

    async def try_acquire(self, owner_id: str, now: datetime, ttl: float | timedelta) -> bool:
        """Take the lease, or renew it when ``owner_id`` holds it. True when ``owner_id`` holds it after.

        It is free when it lapsed, or when it was renewed later than ``now``: the clock moved back, and a
        lease stamped in the future would otherwise keep every other process waiting for that long.
        """
        if not owner_id:
            raise ValueError("owner_id must not be empty")
        now_s, until_s = ts(now), ts(now + _seconds(ttl))
        async with self.store.transaction() as conn:
            await conn.execute(
                "INSERT INTO watch_lease(name, owner, acquired_at, renewed_at, expires_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(name) DO UPDATE SET "
                "acquired_at=CASE WHEN watch_lease.owner=excluded.owner THEN watch_lease.acquired_at "
                "ELSE excluded.acquired_at END, "
                "owner=excluded.owner, renewed_at=excluded.renewed_at, expires_at=excluded.expires_at "
                "WHERE watch_lease.owner=excluded.owner OR watch_lease.expires_at<=excluded.renewed_at "
                "OR watch_lease.renewed_at>excluded.renewed_at",
                (LEASE_NAME, owner_id, now_s, now_s, until_s),
            )
            async with conn.execute("SELECT owner FROM watch_lease WHERE name=?", (LEASE_NAME,)) as cur:
                row = await cur.fetchone()
        return row is not None and row[0] == owner_id

    async def renew(self, owner_id: str, now: datetime, ttl: float | timedelta) -> bool:
        """Extend the lease only if ``owner_id`` still holds it (never takes it over)."""
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                "UPDATE watch_lease SET renewed_at=?, expires_at=? WHERE name=? AND owner=?",
                (ts(now), ts(now + _seconds(ttl)), LEASE_NAME, owner_id),
            )
            return cur.rowcount == 1

    async def release(self, owner_id: str) -> bool:
        """Give the lease up (on shutdown), so another process can take over at once."""
        async with self.store.transaction() as conn:
            cur = await conn.execute("DELETE FROM watch_lease WHERE name=? AND owner=?", (LEASE_NAME, owner_id))
            return cur.rowcount == 1

    async def lease(self) -> Lease | None:
        row = await self.store.fetchone(
            "SELECT owner, acquired_at, renewed_at, expires_at FROM watch_lease WHERE name=?", (LEASE_NAME,)
        )
        if row is None:
            return None
        return Lease(row[0], parse_ts(row[1]), parse_ts(row[2]), parse_ts(row[3]))  # type: ignore[arg-type]

    # --------------------------------------------------------------------------------------- position

    async def position(self) -> Position:
        row = await self.store.fetchone(
            "SELECT newest_updated, last_accessions, last_poll_at, last_ok_at, last_error, last_error_at "
            "FROM watch_state WHERE id=1"
        )
        if row is None:
            return Position()
        return Position(
            newest_updated=parse_ts(row[0]),
            last_accessions=tuple(a for a in (row[1] or "").split(",") if a),
            last_poll_at=parse_ts(row[2]),
            last_ok_at=parse_ts(row[3]),
            last_error=row[4],
            last_error_at=parse_ts(row[5]),
        )

    async def save_position(
        self, owner_id: str, *, newest_updated: datetime, accessions: Iterable[str], polled_at: datetime
    ) -> bool:
        """Move the position forward (never back) and mark a good poll. False if ``owner_id`` lost the lease."""
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                "UPDATE watch_state SET "
                "last_accessions=CASE WHEN newest_updated IS NULL OR newest_updated<=?1 THEN ?2 "
                "ELSE last_accessions END, "
                "newest_updated=CASE WHEN newest_updated IS NULL OR newest_updated<?1 THEN ?1 "
                "ELSE newest_updated END, "
                "last_poll_at=?3, last_ok_at=?3, last_error=NULL, last_error_at=NULL "
                "WHERE id=1 AND EXISTS (SELECT 1 FROM watch_lease WHERE name=?4 AND owner=?5)",
                (ts(newest_updated), ",".join(accessions), ts(polled_at), LEASE_NAME, owner_id),
            )
            return cur.rowcount == 1

    async def record_poll(self, owner_id: str, *, at: datetime, error: str | None) -> bool:
        """Note a poll that did not move the position: with ``error``, what went wrong (for the status)."""
        async with self.store.transaction() as conn:
            if error is None:
                sql = ("UPDATE watch_state SET last_poll_at=?1, last_ok_at=?1, last_error=NULL, last_error_at=NULL "
                       "WHERE id=1 AND EXISTS (SELECT 1 FROM watch_lease WHERE name=?3 AND owner=?4)")
            else:
                sql = ("UPDATE watch_state SET last_poll_at=?1, last_error=?2, last_error_at=?1 "
                       "WHERE id=1 AND EXISTS (SELECT 1 FROM watch_lease WHERE name=?3 AND owner=?4)")
            cur = await conn.execute(sql, (ts(at), error, LEASE_NAME, owner_id))
            return cur.rowcount == 1

    # -------------------------------------------------------------------------------- pending filings

    async def pending(self, accessions: Iterable[str]) -> dict[str, PendingFiling]:
        """The pending rows among ``accessions`` (given-up ones included)."""
        wanted = list(dict.fromkeys(accessions))
        found: dict[str, PendingFiling] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            rows = await self.store.fetchall(
                f"SELECT {_PENDING_COLUMNS} FROM watch_pending WHERE accession IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for row in rows:
                item = _pending_row(row)
                found[item.accession] = item
        return found

    async def due_retries(self, now: datetime, limit: int) -> list[PendingFiling]:
        rows = await self.store.fetchall(
            f"SELECT {_PENDING_COLUMNS} FROM watch_pending WHERE gave_up=0 AND (next_try_at IS NULL OR "
            "next_try_at<=?) ORDER BY listed_at, accession LIMIT ?",
            (ts(now), max(0, limit)),
        )
        return [_pending_row(r) for r in rows]

    async def record_failure(
        self,
        item: PendingFiling,
        *,
        error: str,
        now: datetime,
        retry_after: timedelta,
        max_attempts: int,
        permanent: bool = False,
    ) -> PendingFiling:
        """Count one failed attempt; give up after ``max_attempts`` (or at once when ``permanent``)."""
        async with self.store.transaction() as conn, conn.execute(
                "INSERT INTO watch_pending(accession, cik, form, listed_at, filed_date, origin, attempts, "
                "last_error, next_try_at, gave_up) VALUES (?1,?2,?3,?4,?5,?6,1,?7,?8,"
                "CASE WHEN ?9 OR 1>=?10 THEN 1 ELSE 0 END) "
                "ON CONFLICT(accession) DO UPDATE SET attempts=watch_pending.attempts+1, "
                "last_error=excluded.last_error, next_try_at=excluded.next_try_at, "
                "gave_up=CASE WHEN ?9 OR watch_pending.attempts+1>=?10 THEN 1 ELSE 0 END "
                f"RETURNING {_PENDING_COLUMNS}",
                (item.accession, item.cik, item.form, ts(item.listed_at) if item.listed_at else None,
                 item.filed_date.isoformat() if item.filed_date else None, item.origin, error[:500],
                 ts(now + retry_after), int(permanent), max(1, max_attempts)),
            ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return _pending_row(row)

    async def clear_pending(self, accessions: Iterable[str]) -> None:
        """Forget retries that succeeded (the filing is in the store now)."""
        wanted = [(a,) for a in dict.fromkeys(accessions)]
        if not wanted:
            return
        async with self.store.transaction() as conn:
            await conn.executemany("DELETE FROM watch_pending WHERE accession=? AND gave_up=0", wanted)

    # ---------------------------------------------------------------------------------- catch-up days

    async def schedule_days(self, days: Iterable[date]) -> None:
        """Days to read from the daily index. A day read before is read again: the store skips what it has."""
        rows = [(d.isoformat(),) for d in sorted(set(days))]
        if not rows:
            return
        async with self.store.transaction() as conn:
            await conn.executemany(
                "INSERT INTO watch_days(day, state) VALUES (?, 'pending') ON CONFLICT(day) DO UPDATE SET "
                "state='pending', next_try_at=NULL",
                rows,
            )

    async def days(self, *, pending_only: bool = True) -> list[CatchupDay]:
        where = "WHERE state='pending' " if pending_only else ""
        rows = await self.store.fetchall(
            f"SELECT day, state, next_try_at, added, note FROM watch_days {where}ORDER BY day"
        )
        return [CatchupDay(date.fromisoformat(r[0]), r[1], parse_ts(r[2]), int(r[3]), r[4]) for r in rows]

    async def finish_day(self, day: date, *, added: int, note: str | None = None) -> None:
        async with self.store.transaction() as conn:
            await conn.execute(
                "UPDATE watch_days SET state='done', next_try_at=NULL, added=added+?, note=? WHERE day=?",
                (added, note, day.isoformat()),
            )

    async def progress_day(self, day: date, *, added: int, note: str | None = None,
                           next_try_at: datetime | None = None) -> None:
        """Keep the day pending (part read, or its index not published yet)."""
        async with self.store.transaction() as conn:
            await conn.execute(
                "UPDATE watch_days SET added=added+?, note=?, next_try_at=? WHERE day=?",
                (added, note, ts(next_try_at) if next_try_at else None, day.isoformat()),
            )

    # ----------------------------------------------------------------------------------- the rest

    async def tracked_issuer_ciks(self) -> set[int]:
        """Issuers on any server's watchlist: what a tracked-only watcher fetches."""
        rows = await self.store.fetchall("SELECT DISTINCT issuer_cik FROM guild_watchlist")
        return {int(r[0]) for r in rows}

    async def status(self, now: datetime) -> WatchStatus:
        position = await self.position()
        lease = await self.lease()
        lag = None
        if position.newest_updated is not None:
            lag = max(timedelta(0), now - position.newest_updated)  # a clock behind EDGAR is not negative lag
        row = await self.store.fetchone(
            "SELECT COALESCE(SUM(gave_up=0), 0), COALESCE(SUM(gave_up=1), 0) FROM watch_pending"
        )
        retrying, given_up = (int(row[0]), int(row[1])) if row else (0, 0)
        return WatchStatus(
            position=position,
            lease=lease,
            leader_active=lease is not None and lease.held_at(now),
            lag=lag,
            pending_days=tuple(d.day for d in await self.days()),
            retrying=retrying,
            given_up=given_up,
        )
