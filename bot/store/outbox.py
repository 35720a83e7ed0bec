"""The alert outbox: every SQL statement of alert recording and delivery (schema: migration 5).

Exactly once, in three steps that each survive a crash:

1. ``record``: the engine's alerts for a batch of new filings and the move of its cursor over ``filings`` in
   one transaction, guarded by the cursor's old value (two engines cannot record the same batch twice, and
   ``alert_items`` is unique per server x issuer x filer group x trading day x side anyway);
2. ``mark_attempt``: before each post, so that a retry knows an earlier attempt may have reached Discord
   (the nonce makes Discord return that message instead of a second one);
3. ``mark_sent`` with Discord's message id, only while the message is still pending.

Times in the alert tables are the watcher's UTC text (``bot.store.watch.ts``); ``filings.accepted_at`` and
``flow_days.accepted_at`` keep their own format (``bot.store.filings.iso_utc``).

DM alerts (/mywatch) are one more target: ``guild_id`` holds ``dm_target(user_id)``, a negative number.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot import rules
from bot.store.filings import iso_utc
from bot.store.watch import parse_ts, ts

if TYPE_CHECKING:
    from bot.store.db import Store

_CHUNK = 500  # bound variables per IN (...)
_SIDE = {"S": rules.SELL, "P": rules.BUY}


# ------------------------------------------------------------------------------------------- records


def dm_target(user_id: int) -> int:
    """The outbox target of a user's DM alerts: the negated user id in the ``guild_id`` columns. Snowflakes are
    positive, so it never meets a server, and the per-target rules (unique trade day, daily cap, one sequence
    per target in the delivery) hold for DMs without a schema change."""
    return -user_id


def is_dm(target: int) -> bool:
    return target < 0


def dm_user(target: int) -> int:
    return -target


@dataclass(frozen=True, slots=True)
class NewFiling:
    rowid: int
    accession: str
    issuer_cik: int
    group_key: str
    document_type: str
    accepted_at: datetime | None
    source: str | None


@dataclass(frozen=True, slots=True)
class DayKey:
    """A trade day: one filer group's open-market trades of one side at one issuer on one trading day."""

    issuer_cik: int
    group_key: str
    day: date
    side: str


@dataclass(frozen=True, slots=True)
class StoredItem:
    id: int
    guild_id: int
    key: DayKey
    state: str  # 'alert' or 'digest'
    message_id: int | None
    accessions: tuple[str, ...]
    value_cents: int
    created_at: datetime
    message_kind: str | None
    message_parent: int | None
    message_state: str | None

    @property
    def wave_root(self) -> int | None:
        """The message whose thread holds this alert's wave: the first alert of the wave."""
        return self.message_parent if self.message_kind == "wave" else self.message_id


@dataclass(frozen=True, slots=True)
class OutMessage:
    id: int
    guild_id: int
    channel_id: int
    kind: str  # 'alert', 'wave', 'digest'
    issuer_cik: int | None
    parent_id: int | None
    digest_day: date | None
    payload: str | None
    state: str  # 'pending', 'sent', 'failed', 'expired', 'skipped'
    revision: int
    sent_revision: int
    discord_message_id: int | None
    thread_id: int | None
    attempts: int
    last_attempt_at: datetime | None
    next_try_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None

    @property
    def needs_edit(self) -> bool:
        return self.state == "sent" and self.revision > self.sent_revision


@dataclass(frozen=True, slots=True)
class PlannedItem:
    guild_id: int
    key: DayKey
    accessions: tuple[str, ...]
    value_cents: int
    snapshot: str  # AlertView JSON


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    guild_id: int
    channel_id: int
    kind: str  # 'alert' or 'wave'
    issuer_cik: int
    parent_id: int | None
    items: tuple[PlannedItem, ...]


@dataclass(frozen=True, slots=True)
class PlannedRevision:
    item_id: int
    message_id: int | None
    accessions: tuple[str, ...]
    value_cents: int
    snapshot: str


@dataclass(frozen=True, slots=True)
class Plan:
    messages: tuple[PlannedMessage, ...] = ()
    held: tuple[PlannedItem, ...] = ()  # over the daily cap: for the digest
    revisions: tuple[PlannedRevision, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.messages or self.held or self.revisions)


@dataclass(frozen=True, slots=True)
class GuildCounts:
    pending: int
    sent: int
    failed: int
    expired: int
    held: int  # alerts over the daily cap, listed in the digest
    oldest_pending: datetime | None
    last_sent: datetime | None
    last_error: str | None


_MESSAGE_COLUMNS = ("id, guild_id, channel_id, kind, issuer_cik, parent_id, digest_day, payload, state, revision, "
                    "sent_revision, discord_message_id, thread_id, attempts, last_attempt_at, next_try_at, last_error, "
                    "created_at, sent_at")


def _message(r: Sequence[Any]) -> OutMessage:
    return OutMessage(
        id=r[0], guild_id=r[1], channel_id=r[2], kind=r[3], issuer_cik=r[4], parent_id=r[5],
        digest_day=date.fromisoformat(r[6]) if r[6] else None, payload=r[7], state=r[8], revision=r[9],
        sent_revision=r[10], discord_message_id=r[11], thread_id=r[12], attempts=r[13],
        last_attempt_at=parse_ts(r[14]), next_try_at=parse_ts(r[15]), last_error=r[16],
        created_at=parse_ts(r[17]), sent_at=parse_ts(r[18]),  # type: ignore[arg-type]
    )


def _filing_time(text: str | None) -> datetime | None:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if text else None


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i:i + _CHUNK]


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


class Outbox:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ------------------------------------------------------------------------------ engine: reading

    async def cursor(self) -> tuple[int, str]:
        """The engine's position in ``filings`` (rowid) and the store's nonce salt."""
        row = await self.store.fetchone("SELECT filings_cursor, nonce_salt FROM alert_state WHERE id=1")
        assert row is not None, "migration 5 inserts the alert_state row"
        return int(row[0]), str(row[1])

    async def newest_filing(self) -> int:
        row = await self.store.fetchone("SELECT COALESCE(MAX(rowid), 0) FROM filings")
        return int(row[0]) if row else 0

    async def new_filings(self, after: int, limit: int) -> list[NewFiling]:
        """Filings stored after the cursor, in storing order (rowids only grow: filings are never deleted)."""
        rows = await self.store.fetchall(
            "SELECT rowid, accession, issuer_cik, group_key, document_type, accepted_at, source FROM filings "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (after, limit),
        )
        return [NewFiling(r[0], r[1], r[2], r[3], r[4], _filing_time(r[5]), r[6]) for r in rows]

    async def day_keys(self, accessions: Sequence[str]) -> set[DayKey]:
        """The open-market trade days the filings report rows for (transaction dates)."""
        keys: set[DayKey] = set()
        for chunk in _chunks(list(accessions)):
            rows = await self.store.fetchall(
                "SELECT DISTINCT issuer_cik, group_key, transaction_date, code FROM transactions "
                f"WHERE accession IN ({_marks(chunk)}) AND {rules.open_market_sql()} "
                "AND transaction_date IS NOT NULL",
                chunk,
            )
            keys.update(DayKey(r[0], r[1], date.fromisoformat(r[2]), _SIDE[r[3]]) for r in rows)
        return keys

    async def amended_originals(self, amendments: Sequence[str]) -> dict[str, tuple[str, datetime | None]]:
        """Original accession -> (the 4/A among ``amendments`` that supersedes it, the original's acceptance
        time), as the 4/A rule in the store decided."""
        out: dict[str, tuple[str, datetime | None]] = {}
        for chunk in _chunks(list(amendments)):
            rows = await self.store.fetchall(
                f"SELECT accession, superseded_by, accepted_at FROM filings WHERE superseded_by IN ({_marks(chunk)})",
                chunk,
            )
            out.update({r[0]: (r[1], _filing_time(r[2])) for r in rows})
        return out

    async def items_near(self, issuer_ciks: Iterable[int], since: date) -> list[StoredItem]:
        """Recorded alerts at these issuers for trading days from ``since``: the same trade day again (an
        update), or an earlier day of the same wave (a thread)."""
        ciks = sorted(set(issuer_ciks))
        out: list[StoredItem] = []
        for chunk in _chunks(ciks):
            rows = await self.store.fetchall(
                f"{_ITEM_SELECT} WHERE i.issuer_cik IN ({_marks(chunk)}) AND i.day >= ?",
                [*chunk, since.isoformat()],
            )
            out.extend(_item(r) for r in rows)
        return out

    async def items_with_filings(self, issuer_cik: int, accessions: Iterable[str]) -> list[StoredItem]:
        """Recorded alerts at an issuer that show any of these filings (what a 4/A corrects)."""
        out: dict[int, StoredItem] = {}
        for accession in set(accessions):
            rows = await self.store.fetchall(
                f"{_ITEM_SELECT} WHERE i.issuer_cik = ? AND instr(',' || i.accessions || ',', ?) > 0",
                (issuer_cik, f",{accession},"),
            )
            out.update({r[0]: _item(r) for r in rows})
        return list(out.values())

    async def item_snapshot(self, item_id: int) -> str | None:
        row = await self.store.fetchone("SELECT snapshot FROM alert_items WHERE id=?", (item_id,))
        return row[0] if row else None

    async def alerts_since(self, guild_ids: Iterable[int], since: datetime) -> dict[int, int]:
        """Top-level alerts recorded per server since a time (the daily cap counts these)."""
        ids = sorted(set(guild_ids))
        out: dict[int, int] = defaultdict(int)
        for chunk in _chunks(ids):
            rows = await self.store.fetchall(
                "SELECT i.guild_id, COUNT(*) FROM alert_items i JOIN alert_messages m ON m.id = i.message_id "
                f"WHERE i.guild_id IN ({_marks(chunk)}) AND i.created_at >= ? AND i.state = 'alert' "
                "AND m.kind = 'alert' GROUP BY i.guild_id",
                [*chunk, ts(since)],
            )
            out.update({r[0]: int(r[1]) for r in rows})
        return out

    async def alert_guilds(self) -> list[int]:
        """Servers with alerts switched on and a channel set (paused ones included: they are recorded)."""
        rows = await self.store.fetchall(
            "SELECT guild_id FROM guild_settings WHERE alerts_enabled = 1 AND alert_channel_id IS NOT NULL "
            "ORDER BY guild_id"
        )
        return [int(r[0]) for r in rows]

    async def digest_guilds(self) -> list[int]:
        rows = await self.store.fetchall(
            "SELECT guild_id FROM guild_settings WHERE alerts_enabled = 1 AND alert_channel_id IS NOT NULL "
            "AND alert_digest_hour IS NOT NULL ORDER BY guild_id"
        )
        return [int(r[0]) for r in rows]

    async def watchlists(self, guild_ids: Iterable[int]) -> dict[int, set[int]]:
        ids = sorted(set(guild_ids))
        out: dict[int, set[int]] = {g: set() for g in ids}
        for chunk in _chunks(ids):
            rows = await self.store.fetchall(
                f"SELECT guild_id, issuer_cik FROM guild_watchlist WHERE guild_id IN ({_marks(chunk)})", chunk
            )
            for r in rows:
                out[r[0]].add(int(r[1]))
        return out

    # ------------------------------------------------------------------------------ engine: writing

    async def record(self, plan: Plan, *, expected_cursor: int, new_cursor: int, now: datetime) -> list[int] | None:
        """Write a batch's alerts and move the cursor, all or nothing. None (and nothing written) when the
        cursor is no longer ``expected_cursor``: another engine recorded this batch first."""
        at = ts(now)
        created: list[int] = []
        async with self.store.transaction() as conn:
            async with conn.execute("SELECT filings_cursor FROM alert_state WHERE id=1") as cur:
                row = await cur.fetchone()
            if row is None or int(row[0]) != expected_cursor:
                return None
            for message in plan.messages:
                cur = await conn.execute(
                    "INSERT INTO alert_messages(guild_id, channel_id, kind, issuer_cik, parent_id, state, "
                    "created_at) VALUES (?,?,?,?,?, 'pending', ?)",
                    (message.guild_id, message.channel_id, message.kind, message.issuer_cik, message.parent_id, at),
                )
                message_id = cur.lastrowid
                inserted = 0
                for item in message.items:
                    cur = await conn.execute(_ITEM_INSERT, _item_values(item, "alert", message_id, at))
                    inserted += cur.rowcount
                if inserted:
                    created.append(int(message_id))  # type: ignore[arg-type]
                else:  # every item recorded already (cannot happen under the cursor guard; the key decides)
                    await conn.execute("DELETE FROM alert_messages WHERE id=?", (message_id,))
            await conn.executemany(_ITEM_INSERT, [_item_values(i, "digest", None, at) for i in plan.held])
            for revision in plan.revisions:
                await conn.execute(
                    "UPDATE alert_items SET accessions=?, value_cents=?, snapshot=?, updated_at=? WHERE id=?",
                    (",".join(revision.accessions), revision.value_cents, revision.snapshot, at, revision.item_id),
                )
                if revision.message_id is not None:
                    await conn.execute(
                        "UPDATE alert_messages SET revision = revision + 1 WHERE id=? AND state IN ('pending', 'sent')",
                        (revision.message_id,),
                    )
            await conn.execute("UPDATE alert_state SET filings_cursor=? WHERE id=1", (new_cursor,))
        return created

    # ------------------------------------------------------------------------------------- the lease

    async def try_lease(self, owner: str, now: datetime, ttl: float) -> bool:
        """Take or renew the lease that lets one process score and deliver (the watcher has its own)."""
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                "UPDATE alert_state SET lease_owner=?1, lease_expires_at=?2 WHERE id=1 AND "
                "(lease_owner IS NULL OR lease_owner=?1 OR lease_expires_at <= ?3)",
                (owner, ts(now + timedelta(seconds=ttl)), ts(now)),
            )
            return cur.rowcount == 1

    async def release_lease(self, owner: str) -> None:
        async with self.store.transaction() as conn:
            await conn.execute(
                "UPDATE alert_state SET lease_owner=NULL, lease_expires_at=NULL WHERE id=1 AND lease_owner=?",
                (owner,),
            )

    async def lease(self) -> tuple[str | None, datetime | None]:
        row = await self.store.fetchone("SELECT lease_owner, lease_expires_at FROM alert_state WHERE id=1")
        return (row[0], parse_ts(row[1])) if row else (None, None)

    # ------------------------------------------------------------------------------------- delivery

    async def due(self, now: datetime, limit: int = 200) -> list[OutMessage]:
        """Messages to post (pending) or to edit (sent, changed since), due now, oldest first; only of servers
        whose alerts are on, not paused, with a channel (the others wait, then expire)."""
        at = ts(now)
        rows = await self.store.fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM alert_messages WHERE state = 'pending' "
            f"AND (next_try_at IS NULL OR next_try_at <= ?1) AND guild_id IN ({_DELIVERING}) "
            f"UNION ALL SELECT {_MESSAGE_COLUMNS} FROM alert_messages WHERE state = 'sent' "
            "AND revision > sent_revision AND (next_try_at IS NULL OR next_try_at <= ?1) "
            f"AND guild_id IN ({_DELIVERING}) ORDER BY id LIMIT ?2",
            (at, limit),
        )
        return [_message(r) for r in rows]

    async def stale(self, before: datetime) -> list[OutMessage]:
        """Pending messages recorded before ``before``: too late to be news (a server paused for days)."""
        rows = await self.store.fetchall(
            f"SELECT {_MESSAGE_COLUMNS} FROM alert_messages WHERE state = 'pending' AND created_at < ? ORDER BY id",
            (ts(before),),
        )
        return [_message(r) for r in rows]

    async def next_due(self, now: datetime) -> datetime | None:
        """When the next message waiting for a retry is due (None: nothing waits)."""
        # Two arms, each on its index (a pending one, an edit one), rather than one OR over the whole table.
        row = await self.store.fetchone(
            "SELECT MIN(t) FROM ("
            "SELECT MIN(next_try_at) AS t FROM alert_messages WHERE state = 'pending' AND next_try_at > ?1 "
            f"AND guild_id IN ({_DELIVERING}) "
            "UNION ALL SELECT MIN(next_try_at) FROM alert_messages WHERE state = 'sent' AND revision > sent_revision "
            f"AND next_try_at > ?1 AND guild_id IN ({_DELIVERING}))",
            (ts(now),),
        )
        return parse_ts(row[0]) if row else None

    async def messages(self, ids: Iterable[int]) -> dict[int, OutMessage]:
        wanted = sorted(set(ids))
        out: dict[int, OutMessage] = {}
        for chunk in _chunks(wanted):
            rows = await self.store.fetchall(
                f"SELECT {_MESSAGE_COLUMNS} FROM alert_messages WHERE id IN ({_marks(chunk)})", chunk
            )
            out.update({r[0]: _message(r) for r in rows})
        return out

    async def snapshots(self, message_ids: Iterable[int]) -> dict[int, list[str]]:
        """The AlertView JSON of each message's alerts, in recording order."""
        wanted = sorted(set(message_ids))
        out: dict[int, list[str]] = defaultdict(list)
        for chunk in _chunks(wanted):
            rows = await self.store.fetchall(
                f"SELECT message_id, snapshot FROM alert_items WHERE message_id IN ({_marks(chunk)}) ORDER BY id",
                chunk,
            )
            for r in rows:
                out[r[0]].append(r[1])
        return out

    async def mark_attempt(self, message_id: int, now: datetime) -> None:
        """Written before the post: a later retry knows this attempt may have reached Discord."""
        async with self.store.transaction() as conn:
            await conn.execute(
                "UPDATE alert_messages SET attempts = attempts + 1, last_attempt_at=? WHERE id=?",
                (ts(now), message_id),
            )

    async def mark_sent(self, message_id: int, *, discord_message_id: int, channel_id: int, revision: int,
                        now: datetime) -> bool:
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                "UPDATE alert_messages SET state='sent', discord_message_id=?, channel_id=?, sent_revision=?, "
                "sent_at=?, next_try_at=NULL, last_error=NULL WHERE id=? AND state='pending'",
                (discord_message_id, channel_id, revision, ts(now), message_id),
            )
            return cur.rowcount == 1

    async def mark_edited(self, message_id: int, revision: int) -> None:
        async with self.store.transaction() as conn:
            await conn.execute(
                "UPDATE alert_messages SET sent_revision=MAX(sent_revision, ?), next_try_at=NULL, last_error=NULL "
                "WHERE id=?",
                (revision, message_id),
            )

    async def set_thread(self, message_id: int, thread_id: int) -> None:
        async with self.store.transaction() as conn:
            await conn.execute("UPDATE alert_messages SET thread_id=? WHERE id=?", (thread_id, message_id))

    async def retry_later(self, message_id: int, *, error: str, at: datetime) -> None:
        async with self.store.transaction() as conn:
            await conn.execute(
                "UPDATE alert_messages SET last_error=?, next_try_at=? WHERE id=?", (error[:500], ts(at), message_id)
            )

    async def fail(self, message_id: int, error: str) -> None:
        async with self.store.transaction() as conn:
            await conn.execute(
                "UPDATE alert_messages SET state='failed', last_error=?, next_try_at=NULL WHERE id=?",
                (error[:500], message_id),
            )

    async def note_error(self, message_id: int, error: str) -> None:
        """Keep the reason a message waits (a paused server), without scheduling a retry."""
        async with self.store.transaction() as conn:
            await conn.execute("UPDATE alert_messages SET last_error=? WHERE id=?", (error[:500], message_id))

    async def expire(self, message_ids: Sequence[int], reason: str) -> None:
        async with self.store.transaction() as conn:
            await conn.executemany(
                "UPDATE alert_messages SET state='expired', last_error=? WHERE id=? AND state='pending'",
                [(reason[:500], m) for m in message_ids],
            )

    # --------------------------------------------------------------------------------------- digests

    async def has_digest(self, guild_id: int, day: date) -> bool:
        row = await self.store.fetchone(
            "SELECT 1 FROM alert_messages WHERE guild_id=? AND digest_day=?", (guild_id, day.isoformat())
        )
        return row is not None

    async def flow_between(self, issuer_ciks: Iterable[int], since: datetime,
                           until: datetime) -> list[tuple[int, str, str, int, int, int, int]]:
        """Open-market flow per issuer among filings *accepted* in [since, until) and not superseded:
        (cik, ticker, name, sold cents, bought cents, selling groups, buying groups), largest first."""
        ciks = sorted(set(issuer_ciks))
        out: list[tuple[int, str, str, int, int, int, int]] = []
        for chunk in _chunks(ciks):
            rows = await self.store.fetchall(
                "SELECT f.issuer_cik, COALESCE(i.ticker, ''), COALESCE(i.name, ''), "
                "SUM(CASE WHEN f.code='S' THEN COALESCE(f.value_cents, 0) ELSE 0 END), "
                "SUM(CASE WHEN f.code='P' THEN COALESCE(f.value_cents, 0) ELSE 0 END), "
                "COUNT(DISTINCT CASE WHEN f.code='S' THEN f.group_key END), "
                "COUNT(DISTINCT CASE WHEN f.code='P' THEN f.group_key END) "
                "FROM flow_days f LEFT JOIN issuers i ON i.cik = f.issuer_cik "
                f"WHERE f.issuer_cik IN ({_marks(chunk)}) AND f.accepted_at >= ? AND f.accepted_at < ? "
                "AND f.superseded_at IS NULL GROUP BY f.issuer_cik",
                [*chunk, iso_utc(since), iso_utc(until)],
            )
            out.extend((int(r[0]), r[1], r[2], int(r[3]), int(r[4]), int(r[5]), int(r[6])) for r in rows)
        out.sort(key=lambda r: -(r[3] + r[4]))
        return out

    async def held_between(self, guild_id: int, since: datetime, until: datetime) -> list[str]:
        """Snapshots of the alerts held back by the daily cap, recorded in [since, until)."""
        rows = await self.store.fetchall(
            "SELECT snapshot FROM alert_items WHERE guild_id=? AND state='digest' AND created_at >= ? "
            "AND created_at < ? ORDER BY value_cents DESC",
            (guild_id, ts(since), ts(until)),
        )
        return [r[0] for r in rows]

    async def record_digest(self, guild_id: int, channel_id: int, day: date, payload: str, *, post: bool,
                            now: datetime) -> int | None:
        """One digest per server and day; ``post`` False records that the day had nothing to say."""
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO alert_messages(guild_id, channel_id, kind, digest_day, payload, state, created_at) "
                "VALUES (?,?, 'digest', ?,?,?,?) ON CONFLICT(guild_id, digest_day) DO NOTHING",
                (guild_id, channel_id, day.isoformat(), payload, "pending" if post else "skipped", ts(now)),
            )
            return int(cur.lastrowid) if cur.rowcount == 1 and cur.lastrowid else None  # type: ignore[arg-type]

    # ---------------------------------------------------------------------------------------- status

    async def counts(self, guild_id: int) -> GuildCounts:
        states: dict[str, int] = defaultdict(int)
        for r in await self.store.fetchall(
            "SELECT state, COUNT(*) FROM alert_messages WHERE guild_id=? GROUP BY state", (guild_id,)
        ):
            states[r[0]] = int(r[1])
        row = await self.store.fetchone(
            "SELECT (SELECT MIN(created_at) FROM alert_messages WHERE guild_id=?1 AND state='pending'), "
            "(SELECT MAX(sent_at) FROM alert_messages WHERE guild_id=?1), "
            "(SELECT last_error FROM alert_messages WHERE guild_id=?1 AND state='pending' "
            " AND last_error IS NOT NULL ORDER BY id LIMIT 1), "
            "(SELECT COUNT(*) FROM alert_items WHERE guild_id=?1 AND state='digest')",
            (guild_id,),
        )
        assert row is not None
        return GuildCounts(states["pending"], states["sent"], states["failed"], states["expired"], int(row[3]),
                           parse_ts(row[0]), parse_ts(row[1]), row[2])


_DELIVERING = (
    "SELECT guild_id FROM guild_settings WHERE alerts_enabled = 1 AND alerts_paused_reason IS NULL "
    "AND alert_channel_id IS NOT NULL "
    # DM targets (negative ids): users with DM alerts on and not paused (closed DMs wait, then expire).
    "UNION ALL SELECT -user_id FROM user_settings WHERE dm_alerts = 1 AND paused_reason IS NULL"
)
_ITEM_SELECT = (
    "SELECT i.id, i.guild_id, i.issuer_cik, i.group_key, i.day, i.side, i.state, i.message_id, i.accessions, "
    "i.value_cents, i.created_at, m.kind, m.parent_id, m.state FROM alert_items i "
    "LEFT JOIN alert_messages m ON m.id = i.message_id"
)
_ITEM_INSERT = (
    "INSERT INTO alert_items(guild_id, issuer_cik, group_key, day, side, state, message_id, accessions, value_cents, "
    "snapshot, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT(guild_id, issuer_cik, group_key, day, side) DO NOTHING"
)


def _item(r: Sequence[Any]) -> StoredItem:
    return StoredItem(
        id=r[0], guild_id=r[1], key=DayKey(r[2], r[3], date.fromisoformat(r[4]), r[5]), state=r[6], message_id=r[7],
        accessions=tuple(a for a in r[8].split(",") if a), value_cents=int(r[9]),
        created_at=parse_ts(r[10]),  # type: ignore[arg-type]
        message_kind=r[11], message_parent=r[12], message_state=r[13],
    )


def _item_values(item: PlannedItem, state: str, message_id: int | None, at: str) -> tuple[Any, ...]:
    k = item.key
    return (item.guild_id, k.issuer_cik, k.group_key, k.day.isoformat(), k.side, state, message_id,
            ",".join(item.accessions), item.value_cents, item.snapshot, at, at)
