"""When a new filing becomes an alert: filings -> trade days -> scoring per server policy -> outbox records.

The engine reads the filings the watcher stored (``filings.source = 'watcher'``) past its cursor, in storing
order, and records what each server should see in the same transaction that moves the cursor
(``bot.store.outbox``). So nothing the watcher stored is missed, even when the process dies between storing
and scoring (the watcher's hand-over only wakes the engine), and nothing is recorded twice. Filings stored by
the history loader, a sync or a backfill move the cursor without alerting: they are history, not news.

Per batch:

1. the open-market trade days the new filings report (filer group x issuer x trading day x side), plus the
   alerted trade days a new Form 4/A corrects (the 4/A rule supersedes the original in the store);
2. each trade day as the store has it now (``flow.trade_days``: every filing of the day, ΔOwn), and its past
   as known at its acceptance (``Baselines.for_events``: one statement for the batch);
3. per server: alerts on, in scope (watchlist only, by default, or every stored issuer), ticker not muted,
   scored with the server's policy (one scoring per distinct policy);
4. a trade day already alerted to the server is updated (the message is edited); a new one goes into one
   message per issuer and batch, or into the thread of its wave (a same-side alert of the same filer group at
   the same issuer within ``wave_days``) ; past the server's daily cap it is held for the digest.

``start_alerts`` runs the watcher, the engine and the delivery as tasks of the bot (``AlertService``).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.alerts.delivery import Delivery, DeliveryConfig, DiscordTransport, Hook, Transport
from bot.alerts.render import (
    ITEMS_PER_MESSAGE,
    AlertView,
    DigestRow,
    DigestView,
    ReasonView,
    finite_or_none,
    held_line,
)
from bot.alerts.scoring import Decision, Policy, score_trade_day
from bot.alerts.watcher import PollResult, Watcher, default_owner_id
from bot.analysis.flow import TradeDay, trade_days
from bot.analysis.rows import FilerGroup
from bot.models import Filing
from bot.render.reply import duration_text
from bot.sec.client import EdgarClient
from bot.store.baselines import BaselineRequest, Baselines, EventBaseline
from bot.store.db import Store
from bot.store.guilds import GuildSettings
from bot.store.outbox import (
    DayKey,
    Outbox,
    Plan,
    PlannedItem,
    PlannedMessage,
    PlannedRevision,
    StoredItem,
    dm_target,
    dm_user,
    is_dm,
)
from bot.store.users import UserSettings
from bot.store.watch import Watch

if TYPE_CHECKING:
    from bot.app import InsiderBot

log = logging.getLogger(__name__)

WATCHER_SOURCE = "watcher"  # filings.source of what the live watcher stored


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AlertConfig:
    # A filing accepted longer ago than this is stored but not alerted: the first start reads a whole feed
    # page, and a long catch-up reads days of filings that are no longer news. None: no limit.
    max_age: timedelta | None = timedelta(days=2)
    wave_days: int = 14  # a later day within this many days of an alerted one continues its wave (a thread)
    batch_size: int = 1_000  # filings per engine step (about a business day of Forms 4)
    items_per_message: int = ITEMS_PER_MESSAGE
    idle: float = 1.0  # seconds between looks for filings another process stored, and for due retries
    lease_ttl: float = 60.0  # the engine-and-delivery lease: a dead process is replaced after this
    digest_check: float = 30.0  # seconds between looks for due digests
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)


@dataclass(frozen=True)
class StepResult:
    filings: int = 0  # read past the cursor
    live: int = 0  # of those, stored by the watcher
    trade_days: int = 0
    messages: tuple[int, ...] = ()  # outbox messages recorded
    alerts: int = 0  # alerted trade days in those messages
    held: int = 0  # over a daily cap: for the digest
    revisions: int = 0  # alerted trade days updated (more filings, a 4/A)
    raced: bool = False  # another engine recorded this batch first

    @property
    def recorded(self) -> bool:
        return bool(self.messages or self.revisions)


@dataclass(frozen=True, slots=True)
class _Event:
    key: DayKey
    day: TradeDay | None  # None: a corrected trade day the store no longer has
    group: FilerGroup
    ticker: str | None
    issuer_name: str
    accepted_at: datetime | None  # newest acceptance among its filings
    creatable: bool  # a recent filing from the watcher reports it: it may become a new alert
    baseline: EventBaseline | None = None


@dataclass(frozen=True, slots=True)
class _New:
    event: _Event
    decision: Decision
    item: PlannedItem


class AlertEngine:
    def __init__(self, store: Store, *, config: AlertConfig = AlertConfig(),
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.outbox = Outbox(store)
        self.baselines = Baselines(store)
        self.config = config
        self._clock = clock

    # ------------------------------------------------------------------------------------ one step

    async def step(self) -> StepResult:
        """Score the next batch of stored filings and record the alerts. Safe to run in two processes."""
        cursor, _ = await self.outbox.cursor()
        batch = await self.outbox.new_filings(cursor, self.config.batch_size)
        if not batch:
            return StepResult()
        now = self._clock()
        new_cursor = batch[-1].rowid
        live = [f for f in batch if f.source == WATCHER_SOURCE]
        fresh = {f.accession for f in live if self._recent(f.accepted_at, now)}
        if len(fresh) < len(live):
            log.info("%d filing(s) accepted more than %s ago: stored, not alerted", len(live) - len(fresh),
                     self.config.max_age)
        keys = await self.outbox.day_keys([f.accession for f in live])
        corrected: dict[str, str] = {}  # original accession -> the 4/A of this batch that replaces it
        amendments = [f.accession for f in live if f.document_type == "4/A"]
        existing: dict[int, StoredItem] = {}
        if amendments:
            originals = await self.outbox.amended_originals(amendments)
            corrected = {original: amendment for original, (amendment, _) in originals.items()}
            # A 4/A restating an old filing corrects alerts (below) but is not news of its own.
            fresh -= {amendment for amendment, when in originals.values() if not self._recent(when, now)}
            issuers = {f.issuer_cik for f in live if f.accession in set(corrected.values())}
            for cik in issuers:
                for item in await self.outbox.items_with_filings(cik, corrected):
                    existing[item.id] = item
                    keys.add(item.key)
        guild_ids = await self.outbox.alert_guilds()
        watchers = await self._watchers({k.issuer_cik for k in keys})
        if keys and (guild_ids or watchers or existing):
            since = min(k.day for k in keys) - timedelta(days=self.config.wave_days)
            for item in await self.outbox.items_near({k.issuer_cik for k in keys}, since):
                existing.setdefault(item.id, item)
        if not keys or not (guild_ids or watchers or existing):
            raced = await self.outbox.record(Plan(), expected_cursor=cursor, new_cursor=new_cursor, now=now) is None
            return StepResult(filings=len(batch), live=len(live), raced=raced)
        events = await self._events(keys, fresh)
        plan, alerts = await self._plan(events, guild_ids, list(existing.values()), corrected, now, watchers)
        created = await self.outbox.record(plan, expected_cursor=cursor, new_cursor=new_cursor, now=now)
        if created is None:
            log.info("another process recorded alerts for filings %d..%d first", batch[0].rowid, new_cursor)
            return StepResult(filings=len(batch), live=len(live), raced=True)
        if not plan.empty:
            log.info("alerts from %d new filing(s): %d message(s) with %d alert(s), %d held for the digest, "
                     "%d updated", len(live), len(created), alerts, len(plan.held), len(plan.revisions))
        return StepResult(len(batch), len(live), len(events), tuple(created), alerts, len(plan.held),
                          len(plan.revisions))

    def _recent(self, accepted_at: datetime | None, now: datetime) -> bool:
        if self.config.max_age is None:
            return True
        # Unknown acceptance: the watcher always knows it (feed or .txt header); be generous otherwise.
        return accepted_at is None or now - accepted_at <= self.config.max_age

    async def _events(self, keys: Iterable[DayKey], fresh: set[str]) -> list[_Event]:
        by_issuer: dict[int, list[DayKey]] = defaultdict(list)
        for key in keys:
            by_issuer[key.issuer_cik].append(key)
        events: list[_Event] = []
        for cik in sorted(by_issuer):
            history = await self.store.trades.issuer_history(cik)
            days = {(d.group_key, d.day, d.side): d for d in trade_days(history)}
            accepted = {r.accession: r.accepted_at for r in history.rows if r.accepted_at is not None}
            for key in sorted(by_issuer[cik], key=lambda k: (k.day, k.group_key, k.side)):
                day = days.get((key.group_key, key.day, key.side))
                times = [accepted[a] for a in day.accessions if a in accepted] if day else []
                group = history.groups.get(key.group_key) or FilerGroup(
                    key.group_key, (key.group_key,), tuple(int(c) for c in key.group_key.split(",") if c))
                events.append(_Event(key, day, group, history.ticker, history.issuer_name,
                                     max(times) if times else None,
                                     creatable=bool(day and fresh.intersection(day.accessions))))
        scored = [e for e in events if e.day is not None]
        found = await self.baselines.for_events([
            BaselineRequest(e.key.issuer_cik, e.key.group_key, e.key.day, e.key.side, e.accepted_at) for e in scored
        ])
        with_past = {id(e): replace(e, baseline=b) for e, b in zip(scored, found, strict=True)}
        return [with_past.get(id(e), e) for e in events]

    # ------------------------------------------------------------------------------------ the plan

    async def _watchers(self, issuer_ciks: Iterable[int]) -> dict[int, list[UserSettings]]:
        """Per issuer: the users with DM alerts on (and not paused) who watch it on /mywatch."""
        out: dict[int, list[UserSettings]] = {}
        for cik in sorted(issuer_ciks):
            found = await self.store.users.watchers_of(cik)
            if found:
                out[cik] = found
        return out

    async def _plan(self, events: Sequence[_Event], guild_ids: Sequence[int], existing: Sequence[StoredItem],
                    corrected: dict[str, str], now: datetime,
                    watchers: dict[int, list[UserSettings]] | None = None) -> tuple[Plan, int]:
        enabled = set(guild_ids)
        # DM targets (negative ids, see dm_target) are planned after the servers, with the users' own policies.
        involved = sorted(enabled | {i.guild_id for i in existing if not is_dm(i.guild_id)})
        settings = {g: await self.store.guilds.settings(g) for g in involved}
        watchlists = await self.outbox.watchlists(g for g in enabled if settings[g].alert_scope == "watchlist")
        midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        posted_today = await self.outbox.alerts_since(enabled, midnight)
        by_key = {(i.guild_id, i.key): i for i in existing}
        by_line: dict[tuple[int, int, str, str], list[StoredItem]] = defaultdict(list)  # for the wave roots
        for i in existing:
            by_line[(i.guild_id, i.key.issuer_cik, i.key.group_key, i.key.side)].append(i)
        decisions: dict[tuple[Policy, int], Decision] = {}
        snapshots: dict[tuple[Policy, int], str] = {}  # servers with the same policy share the alert's JSON

        def decide(policy: Policy, index: int) -> Decision:
            found = decisions.get((policy, index))
            if found is None:
                e = events[index]
                assert e.day is not None and e.baseline is not None
                found = decisions[(policy, index)] = score_trade_day(
                    e.day, prior=e.baseline.prior, issuer_recent=e.baseline.issuer_recent, group=e.group,
                    history_start=e.baseline.history_start, policy=policy, group_start=e.baseline.group_start)
            return found

        revisions: list[PlannedRevision] = []
        messages: list[PlannedMessage] = []
        held: list[PlannedItem] = []
        alerts = 0
        for guild_id in involved:
            s = settings[guild_id]
            policy = _policy(s)
            new: dict[int, list[_New]] = defaultdict(list)  # by issuer
            for index, e in enumerate(events):
                item = by_key.get((guild_id, e.key))
                if item is not None:
                    revision = await self._revise(item, e, policy, index, decide, corrected)
                    if revision is not None:
                        revisions.append(revision)
                    continue
                if guild_id not in enabled or not e.creatable or e.day is None:
                    continue
                if s.alert_scope == "watchlist" and e.key.issuer_cik not in watchlists.get(guild_id, ()):
                    continue
                if e.ticker and e.ticker.upper() in s.muted:
                    continue
                decision = decide(policy, index)
                if decision.fire:
                    snapshot = snapshots.get((policy, index))
                    if snapshot is None:
                        snapshot = snapshots[(policy, index)] = _view(e, decision).to_json()
                    new[e.key.issuer_cik].append(_New(e, decision, PlannedItem(
                        guild_id, e.key, e.day.accessions, e.day.value_cents, snapshot)))
            room = max(0, s.alert_daily_cap - posted_today.get(guild_id, 0))
            for cik in sorted(new):
                top: list[_New] = []
                waves: dict[int, list[_New]] = defaultdict(list)
                for candidate in new[cik]:
                    key = candidate.event.key
                    root = _wave_root(key, by_line.get((guild_id, key.issuer_cik, key.group_key, key.side), ()),
                                      self.config.wave_days)
                    (waves[root] if root is not None else top).append(candidate)
                # Over the cap, the strongest alerts of the batch go out and the rest wait for the digest.
                top.sort(key=lambda c: (-c.decision.score, -c.item.value_cents))
                keep, over = top[:room], top[room:]
                room -= len(keep)
                held.extend(c.item for c in over)
                keep.sort(key=lambda c: (c.event.key.day, c.event.key.group_key))
                channel = s.alert_channel_id or 0
                for chunk in _chunks([c.item for c in keep], self.config.items_per_message):
                    messages.append(PlannedMessage(guild_id, channel, "alert", cik, None, tuple(chunk)))
                for root, wave in sorted(waves.items()):
                    for chunk in _chunks([c.item for c in wave], self.config.items_per_message):
                        messages.append(PlannedMessage(guild_id, channel, "wave", cik, root, tuple(chunk)))
                alerts += len(keep) + sum(len(w) for w in waves.values())
        alerts += await self._plan_dms(events, watchers or {}, existing, by_key, corrected, midnight, decide,
                                       snapshots, messages, held, revisions)
        return Plan(tuple(messages), tuple(held), tuple(revisions)), alerts

    async def _plan_dms(self, events: Sequence[_Event], watchers: dict[int, list[UserSettings]],
                        existing: Sequence[StoredItem], by_key: dict[tuple[int, DayKey], StoredItem],
                        corrected: dict[str, str], midnight: datetime, decide: Callable[[Policy, int], Decision],
                        snapshots: dict[tuple[Policy, int], str], messages: list[PlannedMessage],
                        held: list[PlannedItem], revisions: list[PlannedRevision]) -> int:
        """DM alerts: each watcher is one more outbox target, scored with their own sensitivity and minimum,
        capped per UTC day. No waves in DMs (no threads there): every new trade day is a top-level alert."""
        users: dict[int, UserSettings] = {}
        watched: dict[int, set[int]] = defaultdict(set)
        for cik, found in watchers.items():
            for u in found:
                users[u.user_id] = u
                watched[u.user_id].add(cik)
        involved = sorted(set(users) | {dm_user(i.guild_id) for i in existing if is_dm(i.guild_id)})
        posted_today = await self.outbox.alerts_since((dm_target(u) for u in users), midnight)
        alerts = 0
        for user_id in involved:
            target = dm_target(user_id)
            u = users.get(user_id) or await self.store.users.settings(user_id)
            policy = _user_policy(u)
            new: list[_New] = []
            for index, e in enumerate(events):
                item = by_key.get((target, e.key))
                if item is not None:  # an alert already DMed: updated like a server's (the message is edited)
                    revision = await self._revise(item, e, policy, index, decide, corrected)
                    if revision is not None:
                        revisions.append(revision)
                    continue
                if user_id not in users or not e.creatable or e.day is None:
                    continue
                if e.key.issuer_cik not in watched[user_id]:
                    continue
                decision = decide(policy, index)
                if decision.fire:
                    snapshot = snapshots.get((policy, index))
                    if snapshot is None:
                        snapshot = snapshots[(policy, index)] = _view(e, decision).to_json()
                    new.append(_New(e, decision, PlannedItem(target, e.key, e.day.accessions, e.day.value_cents,
                                                             snapshot)))
            room = max(0, u.daily_cap - posted_today.get(target, 0))
            new.sort(key=lambda c: (-c.decision.score, -c.item.value_cents))
            keep, over = new[:room], new[room:]
            # Over the cap: recorded (so never alerted later) but not sent; DMs have no digest.
            held.extend(c.item for c in over)
            by_issuer: dict[int, list[PlannedItem]] = defaultdict(list)
            for c in sorted(keep, key=lambda c: (c.event.key.day, c.event.key.group_key)):
                by_issuer[c.event.key.issuer_cik].append(c.item)
            for cik in sorted(by_issuer):
                for chunk in _chunks(by_issuer[cik], self.config.items_per_message):
                    messages.append(PlannedMessage(target, 0, "alert", cik, None, tuple(chunk)))
            alerts += len(keep)
        return alerts

    async def _revise(self, item: StoredItem, e: _Event, policy: Policy, index: int,
                      decide: Callable[[Policy, int], Decision], corrected: dict[str, str]) -> PlannedRevision | None:
        """An alerted trade day seen again: more filings of the day, or a 4/A correcting one it showed."""
        fixes = tuple(sorted({corrected[a] for a in item.accessions if a in corrected}))
        message_id = item.message_id if item.state == "alert" else None
        if e.day is None:
            if not fixes:
                return None
            old = await self.outbox.item_snapshot(item.id)
            if old is None:
                return None
            view = replace(AlertView.from_json(old), fires=False, amended_by=fixes,
                           note=f"Corrected by Form 4/A {', '.join(fixes)}: it no longer reports this trade day")
            return PlannedRevision(item.id, message_id, item.accessions, item.value_cents, view.to_json())
        if set(e.day.accessions) == set(item.accessions) and not fixes:
            return None
        decision = decide(policy, index)
        note = None
        if fixes:
            note = f"Corrected by Form 4/A {', '.join(fixes)}"
            if not decision.fire:
                note += ": it no longer meets this server's alert settings"
        elif not decision.fire:
            note = "Updated with later filings of the day: it no longer meets this server's alert settings"
        view = _view(e, decision, note=note, amended_by=fixes)
        return PlannedRevision(item.id, message_id, e.day.accessions, e.day.value_cents, view.to_json())

    # ------------------------------------------------------------------------------------- digests

    async def make_digests(self) -> list[int]:
        """Record each due digest (one per server and UTC day, at or after its hour). Returns the messages
        to post; a day with nothing to say is recorded as skipped."""
        now = self._clock().astimezone(UTC)
        created: list[int] = []
        for guild_id in await self.outbox.digest_guilds():
            s = await self.store.guilds.settings(guild_id)
            hour = s.alert_digest_hour
            if hour is None or s.alert_channel_id is None or now.hour < hour:
                continue
            day = now.date()
            if await self.outbox.has_digest(guild_id, day):
                continue
            until = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
            since = until - timedelta(days=1)
            watched = (await self.outbox.watchlists([guild_id]))[guild_id]
            flow = await self.outbox.flow_between(watched, since, until) if watched else []
            rows = tuple(DigestRow(ticker or str(cik), name, sold, bought, sellers, buyers)
                         for cik, ticker, name, sold, bought, sellers, buyers in flow
                         if (ticker or "").upper() not in s.muted)
            held = tuple(held_line(AlertView.from_json(x)) for x in await self.outbox.held_between(guild_id, since, until))
            posted = (await self.outbox.alerts_since([guild_id], since)).get(guild_id, 0)
            view = DigestView(day, since, until, rows, held, posted)
            message_id = await self.outbox.record_digest(guild_id, s.alert_channel_id, day, view.to_json(),
                                                         post=not view.empty, now=now)
            if message_id is not None and not view.empty:
                created.append(message_id)
                log.info("digest of %s for server %d: %d issuer(s), %d held alert(s)", day, guild_id, len(rows),
                         len(held))
        return created


# ------------------------------------------------------------------------------------------- helpers


def _user_policy(u: UserSettings) -> Policy:
    sensitivity = u.sensitivity if u.sensitivity in ("quiet", "normal", "everything") else "normal"
    return Policy(sensitivity=sensitivity, min_value_cents=u.min_value_cents, purchases=True)


def _policy(s: GuildSettings) -> Policy:
    sensitivity = s.alert_sensitivity if s.alert_sensitivity in ("quiet", "normal", "everything") else "normal"
    return Policy(sensitivity=sensitivity, min_value_cents=s.alert_min_value_cents, purchases=s.alert_purchases)


def _wave_root(key: DayKey, line: Sequence[StoredItem], wave_days: int) -> int | None:
    """The first alert of the wave this trade day continues: the newest earlier alerted day of the same server,
    filer group, issuer and side (``line``) within ``wave_days`` (whose message was not given up)."""
    best: StoredItem | None = None
    for item in line:
        k = item.key
        if item.state != "alert" or item.message_state in ("failed", "expired") or item.wave_root is None:
            continue
        if 0 < (key.day - k.day).days <= wave_days and (best is None or k.day > best.key.day):
            best = item
    return best.wave_root if best is not None else None


def _view(e: _Event, decision: Decision, *, note: str | None = None, amended_by: tuple[str, ...] = ()) -> AlertView:
    day = e.day
    assert day is not None
    size = decision.reason("size")
    numbers = size.numbers if size is not None else {}
    past = e.baseline.prior if e.baseline is not None else ()
    chart = tuple(sorted((p.day, p.value_cents) for p in past
                         if p.rows and p.side == day.side and (day.day - p.day).days <= 365))
    return AlertView(
        issuer_cik=e.key.issuer_cik, ticker=e.ticker, issuer_name=e.issuer_name, group_key=e.key.group_key,
        insider=e.group.display_name, roles=tuple(e.group.roles), side=day.side, day=day.day, shares=day.shares,
        value_cents=day.value_cents, unpriced_rows=day.unpriced_rows, rows=day.rows, delta_own=day.delta_own,
        plan=day.plan, plan_adoption_date=day.plan_adoption_date, sell_to_cover=day.sell_to_cover, late=day.late,
        accessions=day.accessions, accepted_at=e.accepted_at, fires=decision.fire, score=decision.score,
        threshold=finite_or_none(decision.threshold), sensitivity=decision.sensitivity,
        reasons=tuple(ReasonView(r.key, r.label, r.weight, r.text) for r in decision.reasons),
        history_start=e.baseline.history_start if e.baseline is not None else None,
        baseline_start=numbers.get("window_start"), baseline_days=int(numbers.get("days", 0)),
        chart=chart, note=note, amended_by=amended_by,
    )


def _chunks(items: list[PlannedItem], size: int) -> Iterable[list[PlannedItem]]:
    for i in range(0, len(items), max(1, size)):
        yield items[i:i + size]


# ------------------------------------------------------------------------------------------- the service


class AlertService:
    """The watcher, the engine and the delivery as tasks. One process at a time scores and delivers (a lease
    in the store, like the watcher's); the others stand by and take over when its lease lapses."""

    def __init__(self, *, engine: AlertEngine, delivery: Delivery, watcher: Watcher | None, owner_id: str,
                 config: AlertConfig = AlertConfig(), clock: Callable[[], datetime] = utc_now,
                 own_stores: Sequence[Store] = ()) -> None:
        self.engine = engine
        self.delivery = delivery
        self.watcher = watcher
        self.owner_id = owner_id
        self.config = config
        self._clock = clock
        self._own_stores = list(own_stores)
        self._stop = asyncio.Event()
        self._engine_wake = asyncio.Event()
        self._delivery_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._held_until: datetime | None = None
        self._holding: bool | None = None
        self._last_digest_check: datetime | None = None
        self.last_poll: PollResult | None = None
        self.polls = 0
        self._poll_waiters: list[asyncio.Future[PollResult]] = []

    @property
    def leader(self) -> bool:
        return bool(self._holding)

    async def on_filings(self, filings: list[Filing]) -> None:
        """The watcher's hand-over: only a wake-up. The engine reads the filings from the store, so a crash
        right here loses nothing."""
        self._engine_wake.set()

    def start(self) -> None:
        if self._tasks:
            return
        if self.watcher is not None:
            self._tasks.append(asyncio.create_task(self.watcher.run(self._stop, on_poll=self._on_poll),
                                                   name="alerts-watcher"))
        self._tasks.append(asyncio.create_task(self._engine_loop(), name="alerts-engine"))
        self._tasks.append(asyncio.create_task(self._delivery_loop(), name="alerts-delivery"))

    async def stop(self) -> None:
        self._stop.set()
        self._engine_wake.set()
        self._delivery_wake.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=10)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks.clear()
        try:
            await self.engine.outbox.release_lease(self.owner_id)
        except sqlite3.Error as exc:
            log.warning("could not release the alerts lease (it lapses by itself): %s", exc)
        for store in self._own_stores:
            await store.close()
        self._own_stores.clear()

    def _on_poll(self, result: PollResult) -> None:
        self.last_poll = result
        self.polls += 1
        waiters, self._poll_waiters = self._poll_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(result)

    async def next_poll(self) -> PollResult:
        """The result of this service's next watcher poll (for status and tests: await it, never sleep)."""
        waiter: asyncio.Future[PollResult] = asyncio.get_running_loop().create_future()
        self._poll_waiters.append(waiter)
        return await waiter

    async def _lease(self) -> bool:
        now = self._clock()
        ttl = self.config.lease_ttl
        if self._held_until is not None and now < self._held_until - timedelta(seconds=ttl * 2 / 3):
            return True  # renewed recently: no write every loop
        try:
            held = await self.engine.outbox.try_lease(self.owner_id, now, ttl)
        except sqlite3.Error as exc:
            log.warning("the store is busy; alerts wait (%s)", exc)
            return False
        if held != self._holding:
            if held:
                log.info("%s scores and delivers alerts", self.owner_id)
            else:
                owner, _ = await self.engine.outbox.lease()
                log.info("%s stands by: %s scores and delivers alerts", self.owner_id, owner)
        self._holding = held
        self._held_until = now + timedelta(seconds=ttl) if held else None
        return held

    async def _engine_loop(self) -> None:
        while not self._stop.is_set():
            self._engine_wake.clear()
            try:
                if await self._lease():
                    while not self._stop.is_set():
                        result = await self.engine.step()
                        if result.recorded:
                            self._delivery_wake.set()
                        if result.raced or result.filings < self.config.batch_size:
                            break
                    await self._digests()
            except sqlite3.Error as exc:
                log.warning("the alert engine waits for the store: %s", exc)
            except Exception:  # a bug must not end alerts: log it and go on with the next batch
                log.exception("the alert engine failed; retrying")
            await self._wait(self._engine_wake, self.config.idle)

    async def _digests(self) -> None:
        now = self._clock()
        if self._last_digest_check and (now - self._last_digest_check).total_seconds() < self.config.digest_check:
            return
        self._last_digest_check = now
        if await self.engine.make_digests():
            self._delivery_wake.set()

    async def _delivery_loop(self) -> None:
        while not self._stop.is_set():
            self._delivery_wake.clear()
            delay: float | None = self.config.idle
            try:
                if await self._lease():
                    delay = await self.delivery.run_once()
            except sqlite3.Error as exc:
                log.warning("alert delivery waits for the store: %s", exc)
            except Exception:
                log.exception("alert delivery failed; retrying")
            wait = self.config.idle if delay is None else min(delay, self.config.idle)
            if wait > 0:
                await self._wait(self._delivery_wake, wait)

    async def _wait(self, event: asyncio.Event, timeout: float) -> None:
        if self._stop.is_set():
            return
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass


async def start_alerts(
    bot: InsiderBot,
    *,
    config: AlertConfig | None = None,
    clock: Callable[[], datetime] = utc_now,
    transport: Transport | None = None,
    hook: Hook | None = None,
    interval: float | None = None,
    watch: bool = True,
    edgar: EdgarClient | None = None,
) -> AlertService:
    """The bot's alerts: the EDGAR watcher (its own store connection: SQLite serialises writers across
    connections), the engine and the delivery, as tasks. Call from ``setup_hook`` after the EDGAR client
    exists; ``await service.stop()`` in ``close``. ``watch=False`` runs engine and delivery only (a separate
    ``insiderflow watch`` process stores the filings); ``edgar`` replaces the bot's EDGAR client."""
    config = config or AlertConfig()
    settings = bot.settings
    path = bot.store.path if bot.store is not None else settings.db_path  # the bot's own file, whatever it is
    own: list[Store] = []
    if path == ":memory:":  # a second connection would open a second, empty database
        watcher_store = alerts_store = bot.store
    else:
        watcher_store = await Store.open(path)
        alerts_store = await Store.open(path)
        own = [watcher_store, alerts_store]
    owner = default_owner_id("bot")
    engine = AlertEngine(alerts_store, config=config, clock=clock)
    charts = getattr(bot, "charts", None)
    delivery = Delivery(alerts_store, transport or DiscordTransport(bot), config=config.delivery, clock=clock,
                        hook=hook, executor=getattr(charts, "executor", None))
    service = AlertService(engine=engine, delivery=delivery, watcher=None, owner_id=owner, config=config,
                           clock=clock, own_stores=own)
    if watch:
        client = edgar or bot.edgar
        if client is None:
            raise RuntimeError("start_alerts needs the bot's EDGAR client: call it after setup_hook creates it")
        service.watcher = Watcher(
            watcher_store, client, interval=interval or settings.watch_interval_seconds, clock=clock,
            owner_id=owner, tracked_only=bool(getattr(settings, "watch_tracked_only", False)),
            on_filings=service.on_filings,
        )
    service.start()
    log.info("alerts started (%s)", "watching EDGAR" if watch else "engine and delivery only")
    return service


# ------------------------------------------------------------------------------------------- status


async def alert_status(store: Store, guild_id: int, *, now: datetime | None = None) -> list[str]:
    """Lines for ``/alerts status``: state and pause reason, the watcher's lag (newest acceptance seen
    against now) and last poll, and the outbox's counts."""
    now = now or utc_now()
    s = await store.guilds.settings(guild_id)
    lines: list[str] = []
    if s.alerts_paused_reason:
        lines.append(f"⚠️ Alerts are paused: {s.alerts_paused_reason}")
    elif not s.alerts_enabled or s.alert_channel_id is None:
        lines.append("Alerts are off: /alerts channel turns them on.")
    else:
        lines.append(f"Alerts go to <#{s.alert_channel_id}>.")
    watch = await Watch(store).status(now)
    position = watch.position
    if position.newest_updated is None:
        lines.append("Watcher: has not read EDGAR's feed yet.")
    else:
        lines.append(f"Watcher lag: {duration_text(watch.lag)} (newest acceptance seen "
                     f"{position.newest_updated:%Y-%m-%d %H:%M:%S} UTC).")
    if position.last_poll_at is not None:
        poll = f"Last poll: {duration_text(now - position.last_poll_at)} ago"
        if position.last_error and position.last_error_at == position.last_poll_at:
            poll += f", failed: {position.last_error}"
        lines.append(poll + ("." if watch.leader_active else "; no watcher holds the lease right now."))
    if watch.pending_days:
        lines.append("Catching up from EDGAR's daily index: " + ", ".join(d.isoformat() for d in watch.pending_days))
    counts = await Outbox(store).counts(guild_id)
    lines.append(f"Outbox: {counts.pending} pending, {counts.sent} sent, {counts.held} held for the digest "
                 f"(daily cap {s.alert_daily_cap}), {counts.failed} failed, {counts.expired} expired.")
    if counts.oldest_pending is not None:
        waiting = f"Oldest pending: recorded {duration_text(now - counts.oldest_pending)} ago"
        lines.append(waiting + (f"; last error: {counts.last_error}." if counts.last_error else "."))
    if counts.last_sent is not None:
        lines.append(f"Last alert posted {duration_text(now - counts.last_sent)} ago.")
    return lines




__all__ = ["AlertConfig", "AlertEngine", "AlertService", "StepResult", "alert_status", "start_alerts"]
