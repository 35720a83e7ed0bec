"""The outbox sender: posts recorded alerts to Discord, retries, marks them sent. Never twice, never lost.

For each due message (``bot.store.outbox``): note the attempt, post it with a nonce derived from its row
(``enforce_nonce``: a repeat of the same nonce in the channel returns the first message instead of a second
one), then mark it sent with Discord's message id. A crash anywhere leaves a pending row that the next start
posts again with the same nonce, so Discord answers with the message it already has. Past Discord's nonce
window (a few minutes) the channel's recent history is searched for the nonce, which every alert carries in its
footer ("ref ..."), before posting again.

Faults: 5xx, 429 and network errors are retried with doubling backoff (the round stops at the first one: when
Discord is down, every message would fail); a channel that became forbidden (403) or was deleted (404 Unknown
Channel) pauses that server's alerts with the reason for ``/alerts status``, and the others go on; anything
else Discord refuses (a 400) is marked failed and logged, never retried in a loop.

Waves: a later trade day of a wave already alerted goes into a thread under the wave's first alert (a reply to it
when no thread can be opened). An alert whose trade day changed (more filings of the day, a Form 4/A) is edited.

DM alerts (a negative target, ``bot.store.outbox.dm_target``) go to the user's DM channel with the same nonce
rules; a user whose DMs are closed (403, 50007) gets their DM alerts paused (``user_settings.paused_reason``,
told at their next command) and their messages wait, then expire; everyone else goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from bot.alerts.render import (
    AlertView,
    DigestView,
    alert_chart,
    digest_reply,
    message_replies,
    wave_thread_name,
)
from bot.render.reply import Reply
from bot.store.guilds import GuildSettings
from bot.store.outbox import Outbox, OutMessage, dm_user, is_dm

if TYPE_CHECKING:
    import discord

    from bot.store.db import Store

log = logging.getLogger(__name__)

T = TypeVar("T")
ErrorKind = Literal["gone", "transient", "permanent", "missing"]
Hook = Callable[[str, int], Awaitable[None]]  # (stage, outbox message id): "attempt", "posted"


def utc_now() -> datetime:
    return datetime.now(UTC)


def nonce_for(salt: str, message_id: int) -> str:
    """"if" + the store's salt + the row id in base 36: the same for every attempt, at most 25 characters."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    n, out = message_id, ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            break
    return f"if{salt}{out}"[:25]


class DeliveryError(Exception):
    """Discord did not take a request. ``kind``: gone (channel forbidden or deleted), transient (retry),
    permanent (do not retry), missing (the message or thread to edit or reply to is gone)."""

    def __init__(self, kind: ErrorKind, message: str, *, status: int | None = None, code: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.code = code
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Outgoing:
    replies: tuple[Reply, ...]
    ping_role_id: int | None = None  # mentioned in the content; allowed mentions name that role only
    reply_to: int | None = None  # a message id in the same channel (a wave when no thread could be opened)


class Transport(Protocol):
    async def post(self, channel_id: int, message: Outgoing, *, nonce: str) -> int: ...
    async def edit(self, channel_id: int, message_id: int, message: Outgoing) -> None: ...
    async def open_thread(self, channel_id: int, message_id: int, name: str, *, guild_id: int) -> int: ...
    async def find_ref(self, channel_id: int, ref: str, *, limit: int = 50) -> int | None: ...
    async def open_dm(self, user_id: int) -> int: ...


DMS_CLOSED = "your DMs are closed"  # user_settings.paused_reason, told at the user's next command


@dataclass(frozen=True)
class DeliveryConfig:
    backoff_base: float = 2.0  # seconds before the first retry, doubling per attempt
    backoff_max: float = 60.0  # a 10-minute outage is retried every minute at most
    nonce_window: timedelta = timedelta(minutes=4)  # Discord de-duplicates nonces for a few minutes
    stale_after: timedelta = timedelta(days=2)  # pending this long (a paused server): no longer news
    concurrency: int = 5  # servers posted to at once (one message at a time per server keeps the order)
    charts: bool = True
    batch: int = 200


class Delivery:
    """Sends what the outbox holds. Drive it with :meth:`run_once` (tests, the service's loop)."""

    def __init__(self, store: Store, transport: Transport, *, config: DeliveryConfig = DeliveryConfig(),
                 clock: Callable[[], datetime] = utc_now, hook: Hook | None = None,
                 executor: Executor | None = None) -> None:
        self.store = store
        self.outbox = Outbox(store)
        self.transport = transport
        self.config = config
        self._clock = clock
        self._hook = hook
        self._executor = executor  # the bot's chart process pool; None: a thread, one chart at a time
        self._chart_lock = asyncio.Lock()
        self._salt: str | None = None
        self._outage: float | None = None  # seconds to wait: a transient failure ended the round
        self._failing_since: datetime | None = None
        self._last_sweep: datetime | None = None
        self._dm_channels: dict[int, int] = {}  # user id -> DM channel id (stable on Discord's side)

    async def run_once(self) -> float | None:
        """Post and edit every due message. Returns the seconds until something is due again (0: more is
        due now), None when nothing waits."""
        now = self._clock()
        if self._salt is None:
            _, self._salt = await self.outbox.cursor()
        await self._sweep(now)
        due = await self.outbox.due(now, self.config.batch)
        if not due:
            upcoming = await self.outbox.next_due(now)
            return max(0.0, (upcoming - now).total_seconds()) if upcoming else None
        self._outage = None
        by_guild: dict[int, list[OutMessage]] = defaultdict(list)
        for message in due:
            by_guild[message.guild_id].append(message)
        slots = asyncio.Semaphore(max(1, self.config.concurrency))

        async def one_guild(guild_id: int, messages: list[OutMessage]) -> None:
            async with slots:
                # A DM target has no server settings: the defaults (no channel, no ping) stand in for them.
                settings = GuildSettings(guild_id) if is_dm(guild_id) else await self.store.guilds.settings(guild_id)
                for message in messages:
                    if self._outage is not None:
                        return
                    if not await self._deliver(message, settings):
                        return  # the server was paused: its other messages wait too

        outcomes = await asyncio.gather(*(one_guild(g, ms) for g, ms in by_guild.items()), return_exceptions=True)
        for outcome in outcomes:  # every server's sequence has finished: nothing runs on in the background
            if isinstance(outcome, BaseException):
                raise outcome
        if self._outage is not None:
            return self._outage
        if self._failing_since is not None:
            log.info("Discord takes alerts again (failing since %s); nothing was lost",
                     self._failing_since.strftime("%H:%M:%S UTC"))
            self._failing_since = None
        return 0.0 if len(due) >= self.config.batch else await self._next(now)

    async def _next(self, now: datetime) -> float | None:
        upcoming = await self.outbox.next_due(now)
        return max(0.0, (upcoming - now).total_seconds()) if upcoming else None

    # ------------------------------------------------------------------------------------ one message

    async def _deliver(self, message: OutMessage, settings: GuildSettings) -> bool:
        """False when the server got paused (stop its sequence)."""
        try:
            if message.needs_edit:
                await self._edit(message)
            else:
                await self._post(message, settings)
        except DeliveryError as exc:
            return await self._failed(message, settings, exc)
        return True

    async def _post(self, message: OutMessage, settings: GuildSettings) -> None:
        assert self._salt is not None
        ref = nonce_for(self._salt, message.id)
        channel_id = (await self._dm_channel(dm_user(message.guild_id)) if is_dm(message.guild_id)
                      else settings.alert_channel_id or message.channel_id)
        reply_to = None
        ping = settings.alert_ping_role_id if message.kind == "alert" else None
        if message.kind == "wave" and message.parent_id is not None:
            parent = (await self.outbox.messages([message.parent_id])).get(message.parent_id)
            if parent is not None and parent.state == "pending":
                # The wave's first alert is not out yet (Discord down, say): follow it, never precede it.
                later = parent.next_try_at or self._clock() + timedelta(seconds=self.config.backoff_base)
                await self.outbox.retry_later(message.id, error=f"waits for alert #{parent.id}", at=later)
                return
            channel_id, reply_to = await self._wave_target(message, channel_id)
        outgoing = await self._render(message, ref, ping=ping, reply_to=reply_to)
        if outgoing is None:
            return
        now = self._clock()
        if message.attempts and message.last_attempt_at and now - message.last_attempt_at > self.config.nonce_window:
            # An earlier attempt may have been posted, and Discord no longer remembers its nonce: look first.
            try:
                found = await self.transport.find_ref(channel_id, ref)
            except DeliveryError as exc:
                if exc.kind == "transient":
                    raise
                # No Read Message History there: post (a rare duplicate beats a lost alert).
                log.warning("could not read channel %d to look for alert #%d (%s); posting it", channel_id,
                            message.id, exc)
                found = None
            if found is not None:
                log.info("alert message #%d was posted before (found by its ref %s): marked sent", message.id, ref)
                await self.outbox.mark_sent(message.id, discord_message_id=found, channel_id=channel_id,
                                            revision=message.revision, now=now)
                return
        await self.outbox.mark_attempt(message.id, now)
        await self._stage("attempt", message.id)
        try:
            discord_id = await self.transport.post(channel_id, outgoing, nonce=ref)
        except DeliveryError as exc:
            if message.kind != "wave" or channel_id == settings.alert_channel_id or exc.kind not in ("gone", "missing"):
                raise
            # The wave's thread was deleted or locked: answer the first alert in the channel instead.
            parent = (await self.outbox.messages([message.parent_id or 0])).get(message.parent_id or 0)
            if parent is None or parent.discord_message_id is None:
                raise
            log.info("the thread of alert #%d is gone (%s): replying in the channel", parent.id, exc)
            channel_id = parent.channel_id
            outgoing = Outgoing(outgoing.replies, reply_to=parent.discord_message_id)
            discord_id = await self.transport.post(channel_id, outgoing, nonce=ref)
        await self._stage("posted", message.id)
        await self.outbox.mark_sent(message.id, discord_message_id=discord_id, channel_id=channel_id,
                                    revision=message.revision, now=self._clock())
        log.info("posted %s message #%d (%s) to channel %d as %d%s", message.kind, message.id, ref, channel_id,
                 discord_id, f" after {message.attempts + 1} attempts" if message.attempts else "")

    async def _wave_target(self, message: OutMessage, fallback_channel: int) -> tuple[int, int | None]:
        """Where a wave's later day goes: the thread under its first alert, else a reply to that alert, else
        (the first alert was never posted) the alert channel."""
        assert message.parent_id is not None
        parent = (await self.outbox.messages([message.parent_id])).get(message.parent_id)
        if parent is None or parent.state != "sent" or parent.discord_message_id is None:
            return fallback_channel, None
        if parent.thread_id is not None:
            return parent.thread_id, None
        views = await self._views(parent.id)
        name = wave_thread_name(views[0]) if views else "insider trades"
        try:
            thread_id = await self.transport.open_thread(parent.channel_id, parent.discord_message_id, name,
                                                         guild_id=parent.guild_id)
        except DeliveryError as exc:
            if exc.kind == "transient":
                raise
            log.info("no thread under alert #%d (%s): replying to it instead", parent.id, exc)
            return parent.channel_id, parent.discord_message_id
        await self.outbox.set_thread(parent.id, thread_id)
        return thread_id, None

    async def _edit(self, message: OutMessage) -> None:
        assert self._salt is not None and message.discord_message_id is not None
        outgoing = await self._render(message, nonce_for(self._salt, message.id), ping=None, reply_to=None)
        if outgoing is not None:
            try:
                await self.transport.edit(message.channel_id, message.discord_message_id, outgoing)
            except DeliveryError as exc:
                if exc.kind == "transient" or (exc.kind == "gone" and message.kind != "wave"):
                    raise
                log.warning("could not edit alert message #%d (%s); leaving it as it is", message.id, exc)
            else:
                log.info("edited %s message #%d (revision %d)", message.kind, message.id, message.revision)
        await self.outbox.mark_edited(message.id, message.revision)

    async def _dm_channel(self, user_id: int) -> int:
        found = self._dm_channels.get(user_id)
        if found is None:
            found = self._dm_channels[user_id] = await self.transport.open_dm(user_id)
        return found

    async def _failed(self, message: OutMessage, settings: GuildSettings, exc: DeliveryError) -> bool:
        now = self._clock()
        if exc.kind == "gone" and is_dm(message.guild_id):
            # 50007 "Cannot send messages to this user" (DMs closed, bot blocked, no shared server): pause this
            # user only; their messages wait (not retried) until they turn DM alerts on again, then expire.
            user_id = dm_user(message.guild_id)
            await self.store.users.update_settings(user_id, paused_reason=DMS_CLOSED)
            await self.outbox.note_error(message.id, str(exc))
            self._dm_channels.pop(user_id, None)
            log.warning("DM alerts paused for user %d: %s (%s; message #%d waits)", user_id, DMS_CLOSED, exc,
                        message.id)
            return False
        if exc.kind == "gone":
            channel = settings.alert_channel_id or message.channel_id
            reason = _pause_reason(channel, exc)
            await self.store.guilds.update_settings(message.guild_id, alerts_paused_reason=reason)
            await self.outbox.note_error(message.id, str(exc))
            log.warning("alerts paused in server %d: %s (message #%d waits)", message.guild_id, reason, message.id)
            return False
        if exc.kind == "transient":
            attempts = message.attempts + (0 if message.needs_edit else 1)
            delay = exc.retry_after or min(self.config.backoff_max,
                                           self.config.backoff_base * 2 ** max(0, attempts - 1))
            await self.outbox.retry_later(message.id, error=str(exc), at=now + timedelta(seconds=delay))
            if self._failing_since is None:
                self._failing_since = now
            log.warning("Discord did not take %s message #%d (%s); attempt %d, next try in %.0f s, nothing is lost",
                        message.kind, message.id, exc, attempts, delay)
            self._outage = delay if self._outage is None else min(self._outage, delay)
            return True
        # A request Discord refuses as such (a 400): retrying cannot help.
        await self.outbox.fail(message.id, str(exc))
        log.error("Discord refused %s message #%d (%s): marked failed", message.kind, message.id, exc)
        return True

    # ---------------------------------------------------------------------------------------- helpers

    async def _views(self, message_id: int) -> list[AlertView]:
        return [AlertView.from_json(s) for s in (await self.outbox.snapshots([message_id])).get(message_id, [])]

    async def _render(self, message: OutMessage, ref: str, *, ping: int | None,
                      reply_to: int | None) -> Outgoing | None:
        if message.kind == "digest":
            if message.payload is None:
                await self.outbox.fail(message.id, "a digest without its payload")
                return None
            return Outgoing((digest_reply(DigestView.from_json(message.payload), ref=ref),))
        views = await self._views(message.id)
        if not views:
            await self.outbox.fail(message.id, "no alerts recorded for this message")
            log.error("alert message #%d has no alerts; marked failed", message.id)
            return None
        chart = await self._chart(views[0]) if self.config.charts else None
        return Outgoing(tuple(message_replies(views, ref=ref, chart=chart)), ping_role_id=ping, reply_to=reply_to)

    async def _chart(self, view: AlertView) -> bytes | None:
        """The chart is CPU work: in the bot's process pool, else in a thread (one at a time: matplotlib
        does not promise thread safety), never on the event loop. A failed chart never holds an alert back."""
        try:
            if self._executor is not None:
                return await asyncio.get_running_loop().run_in_executor(self._executor, alert_chart, view)
            async with self._chart_lock:
                return await asyncio.to_thread(alert_chart, view)
        except Exception:
            log.exception("the alert chart failed; posting without it")
            return None

    async def _stage(self, stage: str, message_id: int) -> None:
        if self._hook is not None:
            await self._hook(stage, message_id)

    async def _sweep(self, now: datetime) -> None:
        """Expire pending messages that waited too long (a server paused or switched off for days)."""
        if self._last_sweep is not None and now - self._last_sweep < timedelta(minutes=1):
            return
        self._last_sweep = now
        stale = await self.outbox.stale(now - self.config.stale_after)
        if stale:
            await self.outbox.expire([m.id for m in stale], "expired: not deliverable for too long")
            log.warning("expired %d alert message(s) pending since before %s (servers paused or off)",
                        len(stale), (now - self.config.stale_after).strftime("%Y-%m-%d %H:%M UTC"))


def _pause_reason(channel_id: int, exc: DeliveryError) -> str:
    code = f" ({exc.code})" if exc.code else ""
    if exc.status == 404:
        return f"the alert channel <#{channel_id}> was deleted{code}; pick another one with /alerts channel"
    return (f"I can't post in <#{channel_id}>{code}: give me View Channel, Send Messages, Embed Links and "
            "Attach Files there, then run /alerts channel")


# --------------------------------------------------------------------------------------- discord.py


class DiscordTransport:
    """The transport through discord.py's public API (``get_partial_messageable``: no cache needed).

    discord.py 2.7 sends ``enforce_nonce: true`` whenever a nonce is given (``handle_message_parameters``), and
    retries 500/502/504 itself with the same payload, so the nonce covers its retries too.
    """

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    def _build(self, message: Outgoing) -> tuple[list[discord.Embed], list[discord.File]]:
        from cogs.common import reply_to_discord

        embeds: list[discord.Embed] = []
        files: list[discord.File] = []
        for reply in message.replies:
            e, f = reply_to_discord(reply)
            embeds.extend(e)
            files.extend(f)
        # Discord counts 6,000 characters over all embeds of a message; the renderer keeps well inside it.
        while len(embeds) > 1 and sum(len(e) for e in embeds) > 6000:
            embeds.pop()
        return embeds[:10], files[:10]

    async def post(self, channel_id: int, message: Outgoing, *, nonce: str) -> int:
        import discord

        embeds, files = self._build(message)
        channel = self.client.get_partial_messageable(channel_id)
        content = None
        mentions = discord.AllowedMentions.none()
        if message.ping_role_id:
            # Mentions allowed for that one role: nothing else in an alert can ping anyone.
            content = f"<@&{message.ping_role_id}>"
            mentions = discord.AllowedMentions(everyone=False, users=False, replied_user=False,
                                               roles=[discord.Object(message.ping_role_id)])
        reference = None
        if message.reply_to:
            reference = discord.MessageReference(message_id=message.reply_to, channel_id=channel_id,
                                                 fail_if_not_exists=False)
        sent = await _call(channel.send(content, embeds=embeds, files=files, nonce=nonce, allowed_mentions=mentions,
                                        reference=reference))  # type: ignore[arg-type]
        return sent.id

    async def edit(self, channel_id: int, message_id: int, message: Outgoing) -> None:
        import discord

        embeds, files = self._build(message)
        target = self.client.get_partial_messageable(channel_id).get_partial_message(message_id)
        await _call(target.edit(embeds=embeds, attachments=files, allowed_mentions=discord.AllowedMentions.none()))

    async def open_thread(self, channel_id: int, message_id: int, name: str, *, guild_id: int) -> int:
        channel = self.client.get_partial_messageable(channel_id, guild_id=guild_id)
        try:
            if channel.guild is not None:
                thread = await _call(channel.get_partial_message(message_id).create_thread(
                    name=name, auto_archive_duration=1440))
                return thread.id
            return await _call(self._start_thread(channel_id, message_id, name))
        except DeliveryError as exc:
            if exc.code == 160004:  # a thread exists already: it has the message's id
                return message_id
            raise

    async def _start_thread(self, channel_id: int, message_id: int, name: str) -> int:
        """The one private call: ``create_thread`` needs the guild in discord.py's cache (not there before
        READY, or for an unavailable guild), the HTTP route does not. discord.py 2.7 ``HTTPClient``."""
        data = await self.client.http.start_thread_with_message(
            channel_id, message_id, name=name, auto_archive_duration=1440, rate_limit_per_user=None)
        return int(data["id"])

    async def open_dm(self, user_id: int) -> int:
        """POST /users/@me/channels through discord.py's HTTP route: ``create_dm`` would want the user in the
        cache, the route does not. Discord returns the same channel for the same user."""
        data = await _call(self.client.http.start_private_message(user_id))
        return int(data["id"])

    async def find_ref(self, channel_id: int, ref: str, *, limit: int = 50) -> int | None:
        channel = self.client.get_partial_messageable(channel_id)
        me = self.client.user.id if self.client.user else None

        async def scan() -> int | None:
            async for found in channel.history(limit=limit):
                if found.author.id == me and any(ref in (e.footer.text or "") for e in found.embeds):
                    return found.id
            return None

        return await _call(scan())


async def _call(awaitable: Awaitable[T]) -> T:
    """discord.py's exceptions as DeliveryError kinds."""
    import aiohttp
    import discord

    try:
        return await awaitable
    except discord.RateLimited as exc:
        raise DeliveryError("transient", f"rate limited for {exc.retry_after:.0f} s", status=429,
                            retry_after=exc.retry_after) from None
    except discord.Forbidden as exc:
        raise DeliveryError("gone", f"403 {exc.text or 'Forbidden'}", status=403, code=exc.code) from None
    except discord.NotFound as exc:
        kind: ErrorKind = "gone" if exc.code == 10003 else "missing"
        raise DeliveryError(kind, f"404 {exc.text or 'Not Found'}", status=404, code=exc.code) from None
    except discord.HTTPException as exc:
        status = exc.status
        kind = "transient" if status >= 500 or status == 429 else "permanent"
        raise DeliveryError(kind, f"{status} {exc.text or ''}".strip(), status=status, code=exc.code) from None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise DeliveryError("transient", f"network: {type(exc).__name__}: {exc}") from None
