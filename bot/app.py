"""The discord.py application: settings in, store and HTTP session opened in setup_hook, cogs loaded."""

from __future__ import annotations

import argparse
import asyncio
import logging
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.charting import ChartMaker
from bot.history import HistoryLoader
from bot.pricefeed import PriceSource
from bot.sec.client import EdgarClient
from bot.settings import Settings
from bot.store.db import Store

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.insiders",
    "cogs.top",
    "cogs.insider",
    "cogs.watchlist",
    "cogs.mywatch",
    "cogs.alerts",
    "cogs.pulse",
    "cogs.screens",
    "cogs.help",
)


class InsiderTree(app_commands.CommandTree):
    """One error handler for every slash command: short, ephemeral, never a traceback."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        from cogs.common import send_error

        if isinstance(error, app_commands.CommandOnCooldown):
            retry = discord.utils.utcnow().timestamp() + error.retry_after
            message = f"Slow down: you can use this again <t:{int(retry) + 1}:R>."
        elif isinstance(error, app_commands.NoPrivateMessage):
            message = "This command works in a server, not in direct messages."
        elif isinstance(error, app_commands.MissingPermissions):
            message = "You need the Manage Server permission for this."
        elif isinstance(error, app_commands.BotMissingPermissions):
            missing = ", ".join(p.replace("_", " ") for p in error.missing_permissions)
            message = f"I am missing permissions here: {missing}."
        elif isinstance(error, app_commands.CheckFailure):
            message = str(error) or "You can't use this command here."
        elif isinstance(error, app_commands.TransformerError):
            message = f"That value doesn't work here: {str(error.value)[:50]!r}."
        else:
            original = getattr(error, "original", error)
            log.error("command %s failed", interaction.command and interaction.command.qualified_name,
                      exc_info=original)
            message = "Something went wrong on my side; it has been logged. Please try again in a moment."
        await send_error(interaction, message)


class InsiderBot(commands.Bot):
    """Slash-only, no privileged intents. Replace the base with ``commands.AutoShardedBot`` to shard."""

    def __init__(self, settings: Settings, *, store: Store | None = None) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # guild join/remove events: a removed server's data is deleted
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=InsiderTree,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
        )
        self.settings = settings
        self._given_store = store
        self.store: Store = store  # type: ignore[assignment]  # opened in setup_hook
        self.http_session: aiohttp.ClientSession | None = None
        self.edgar: EdgarClient = None  # type: ignore[assignment]
        self.charts: ChartMaker = None  # type: ignore[assignment]
        self.prices: PriceSource = None  # type: ignore[assignment]
        self.history: HistoryLoader = None  # type: ignore[assignment]
        self._executor: ProcessPoolExecutor | None = None
        self.alerts: Any = None  # bot.alerts.engine.AlertService once started

    async def setup_hook(self) -> None:
        if self.store is None:
            self.store = await Store.open(self.settings.db_path)
        self.http_session = aiohttp.ClientSession()
        self.edgar = EdgarClient(self.settings, self.http_session)
        self._executor = (
            ProcessPoolExecutor(max_workers=self.settings.chart_workers) if self.settings.chart_workers else None
        )
        self.charts = ChartMaker(self.settings.prices_dir or None, executor=self._executor)
        self.prices = PriceSource(self.settings, self.http_session, self.store)
        self.history = HistoryLoader(self.store, self.edgar, years=self.settings.history_years)
        self.history.start()
        for extension in EXTENSIONS:
            try:
                await self.load_extension(extension)
            except Exception:
                log.exception("failed to load extension %s", extension)
        if self.settings.run_alerts:
            from bot.alerts.engine import start_alerts

            try:
                self.alerts = await start_alerts(self)
            except Exception:
                log.exception("alerts could not start; commands keep working")
        if self.settings.dev_guild_id:
            guild = discord.Object(self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
            log.info("synced commands to the dev guild %s", self.settings.dev_guild_id)

    async def close(self) -> None:
        try:
            # Each part is stopped once: close() runs again when discord.py's context manager exits.
            alerts, self.alerts = self.alerts, None
            if alerts is not None:
                await alerts.stop()
            history, self.history = self.history, None
            if history is not None:
                await history.stop()
            session, self.http_session = self.http_session, None
            if session is not None:
                await session.close()
            executor, self._executor = self._executor, None
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
            if self.store is not None and self._given_store is None:
                store, self.store = self.store, None  # type: ignore[assignment]
                await store.close()
        finally:
            await super().close()

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await self.store.guilds.forget(guild.id)
        log.info("removed from guild %s: its watchlist and settings were deleted", guild.id)


def create_bot(settings: Settings, *, store: Store | None = None) -> InsiderBot:
    return InsiderBot(settings, store=store)


# ---- the CLI's `run` and `sync-commands`


def add_bot_commands(sub: Any) -> None:
    p = sub.add_parser("run", help="start the Discord bot (needs DISCORD_TOKEN in .env)")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("sync-commands", help="publish the slash commands to Discord (globally or to one server)")
    p.add_argument("--guild", type=int, help="a server id: sync there only (instant)")
    p.set_defaults(func=_cmd_sync_commands)


_TOKEN_HELP = (
    "Set DISCORD_TOKEN in .env: Discord Developer Portal -> Applications -> your app -> Bot -> Reset Token."
)


def _token_or_exit(settings: Settings) -> str:
    if not settings.discord_token:
        raise SystemExit(f"No Discord token. {_TOKEN_HELP}")
    return settings.discord_token


async def _cmd_run(args: argparse.Namespace, console: Any) -> int:
    settings = Settings.load(env_file=args.env_file, db_path=args.db)
    token = _token_or_exit(settings)
    discord.utils.setup_logging(level=getattr(logging, settings.log_level.upper(), logging.INFO))
    logging.getLogger("discord.http").setLevel(logging.WARNING)
    bot = create_bot(settings)
    try:
        async with bot:
            await bot.start(token)
    except discord.LoginFailure:
        raise SystemExit(f"Discord rejected the token. {_TOKEN_HELP}") from None
    return 0


async def _cmd_sync_commands(args: argparse.Namespace, console: Any) -> int:
    settings = Settings.load(env_file=args.env_file, db_path=args.db)
    token = _token_or_exit(settings)
    bot = create_bot(settings)
    try:
        async with bot:
            await bot.login(token)
            guild = discord.Object(args.guild) if args.guild else None
            if guild:
                bot.tree.copy_global_to(guild=guild)
            synced = await bot.tree.sync(guild=guild)
    except discord.LoginFailure:
        raise SystemExit(f"Discord rejected the token. {_TOKEN_HELP}") from None
    where = f"server {args.guild}" if args.guild else "all servers (global; may take up to an hour to show)"
    console.print(f"synced {len(synced)} commands to {where}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(_cmd_run(argparse.Namespace(env_file=".env", db=None), None))
