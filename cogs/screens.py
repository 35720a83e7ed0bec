"""/latest, /clusters and /screen: screens over every stored filing, paged with buttons; /screen exports CSV.

Thin: options are validated into filters by the core before anything is deferred (a bad option gets an
ephemeral sentence at once), the core builds each page, and a view turns the pages.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable

import discord
from discord import app_commands
from discord.ext import commands

from bot.render.reply import Reply
from bot.screens import (
    PLANS,
    ROLES,
    ClusterFilter,
    CsvExport,
    LineFilter,
    ScreenError,
    cluster_filter,
    clusters_report,
    latest_filter,
    latest_report,
    screen_csv,
    screen_filter,
    screen_report,
)
from cogs.common import bot_of, clip, reply_to_discord, send_error

log = logging.getLogger(__name__)

Render = Callable[[int], Awaitable[Reply]]
Export = Callable[[int], Awaitable[CsvExport]]

SIDE_CHOICES = [app_commands.Choice(name=n, value=n) for n in ("purchases", "sales", "both")]
CLUSTER_SIDES = [app_commands.Choice(name=n, value=n) for n in ("purchases", "sales")]
ROLE_CHOICES = [app_commands.Choice(name=r, value=r) for r in ROLES]
PLAN_CHOICES = [app_commands.Choice(name="10b5-1 plan" if p == "plan" else p, value=p) for p in PLANS]
SCOPE_CHOICES = [app_commands.Choice(name="everything stored", value="all"),
                 app_commands.Choice(name="this server's watchlist", value="watchlist")]
MONEY = app_commands.Range[int, 0, 1_000_000_000_000]
PERCENT = app_commands.Range[float, 0.0, 100.0]
PRICE = app_commands.Range[float, 0.0, 10_000_000.0]
DELAY = app_commands.Range[int, 0, 10_000]
DATE = app_commands.Range[str, 1, 10]


class ScreenPages(discord.ui.View):
    """Previous/next over a screen (and a CSV export for /screen); only whoever asked can press them."""

    def __init__(self, owner_id: int, command: str, render: Render, *, has_more: bool,
                 export: Export | None = None) -> None:
        super().__init__(timeout=300)
        self.owner_id = owner_id
        self.command = command
        self.render = render
        self.export = export
        self.page = 0
        self.has_more = has_more
        self.message: discord.InteractionMessage | None = None
        if export is None:
            self.remove_item(self.export_csv)
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = not self.has_more

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message(
                f"These buttons belong to whoever ran /{self.command}; run it yourself to page.", ephemeral=True
            )
            return False
        return True

    async def _show(self, interaction: discord.Interaction) -> None:
        reply = await self.render(self.page)
        self.has_more = bool((reply.data or {}).get("has_more"))
        self._sync_buttons()
        embeds, _ = reply_to_discord(reply)
        await interaction.response.edit_message(embeds=embeds, view=self)

    @discord.ui.button(label="◀ Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.page = max(0, self.page - 1)
        await self._show(interaction)

    @discord.ui.button(label="Next ▶", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.page += 1
        await self._show(interaction)

    @discord.ui.button(label="Export CSV", style=discord.ButtonStyle.primary)
    async def export_csv(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        assert self.export is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        # Every matching row, cut to what this server lets a bot attach.
        export = await self.export(interaction.filesize_limit)
        await interaction.followup.send(
            content=clip(export.note, 2000),
            file=discord.File(io.BytesIO(export.data), filename=export.filename),
            ephemeral=True,
        )

    async def on_timeout(self) -> None:
        for item in self.children:
            item.disabled = True  # type: ignore[attr-defined]
        if self.message is not None:
            try:
                await self.message.edit(view=self)
            except discord.HTTPException:
                pass  # the message is gone; nothing to disable


async def _scope(interaction: discord.Interaction, choice: app_commands.Choice[str] | None
                 ) -> tuple[bool, tuple[int, ...] | None, str]:
    """(ok, issuer CIKs or None for everything, label); answers the user itself when not ok."""
    if choice is None or choice.value != "watchlist":
        return True, None, "all stored issuers"
    if interaction.guild_id is None:
        await send_error(interaction, "A watchlist belongs to a server: use scope 'everything stored' in DMs.")
        return False, None, ""
    ciks = await bot_of(interaction).store.guilds.watched_ciks(interaction.guild_id)
    if not ciks:
        await send_error(interaction, "This server's watchlist is empty: add tickers with /watchlist add.")
        return False, None, ""
    return True, tuple(ciks), "this server's watchlist"


async def _answer(interaction: discord.Interaction, command: str, render: Render,
                  export: Export | None = None) -> None:
    reply = await render(0)
    has_more = bool((reply.data or {}).get("has_more"))
    embeds, _ = reply_to_discord(reply)
    rows = bool((reply.data or {}).get("rows"))
    if not has_more and not (export and rows):
        await interaction.edit_original_response(embeds=embeds)
        return
    view = ScreenPages(interaction.user.id, command, render, has_more=has_more, export=export if rows else None)
    view.message = await interaction.edit_original_response(embeds=embeds, view=view)


def _value(choice: app_commands.Choice[str] | None) -> str | None:
    return choice.value if choice is not None else None


class Screens(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="latest", description="The newest Form 4 trades as they are filed, with links")
    @app_commands.describe(
        side="Open-market purchases, sales or both (default: both)",
        min_value="Minimum value of a filing's trades that day, in dollars",
        role="Only insiders with this role on the filing",
        code="Transaction code(s) instead of the side, e.g. P, S, A, M or F",
        plan="Under a Rule 10b5-1 plan, not, or unknown",
        scope="Everything stored, or this server's watchlist (default: everything)",
    )
    @app_commands.choices(side=SIDE_CHOICES, role=ROLE_CHOICES, plan=PLAN_CHOICES, scope=SCOPE_CHOICES)
    @app_commands.checks.cooldown(4, 30.0, key=lambda i: i.user.id)
    async def latest(
        self,
        interaction: discord.Interaction,
        side: app_commands.Choice[str] | None = None,
        min_value: MONEY | None = None,
        role: app_commands.Choice[str] | None = None,
        code: app_commands.Range[str, 1, 20] | None = None,
        plan: app_commands.Choice[str] | None = None,
        scope: app_commands.Choice[str] | None = None,
    ) -> None:
        ok, ciks, label = await _scope(interaction, scope)
        if not ok:
            return
        try:
            f: LineFilter = latest_filter(side=_value(side), min_value=min_value, role=_value(role), code=code,
                                          plan=_value(plan), issuer_ciks=ciks)
        except ScreenError as exc:
            await send_error(interaction, str(exc))
            return
        await interaction.response.defer(thinking=True)
        store = bot_of(interaction).store

        async def render(page: int) -> Reply:
            return await latest_report(store, f, page=page, scope_label=label)

        await _answer(interaction, "latest", render)

    @app_commands.command(name="clusters", description="Companies where several insiders bought (or sold) within days")
    @app_commands.describe(
        side="Purchases (default) or sales",
        days="The most days between the cluster's first and last trade (default: 14)",
        min_insiders="Distinct insiders, a joint filing counting once (default: 2)",
        since="Only clusters with trades from this date: YYYY-MM-DD, 1m, 1y, ytd (default: all)",
        until="Only clusters with trades up to this date, YYYY-MM-DD",
        scope="Everything stored, or this server's watchlist (default: everything)",
    )
    @app_commands.choices(side=CLUSTER_SIDES, scope=SCOPE_CHOICES)
    @app_commands.checks.cooldown(4, 30.0, key=lambda i: i.user.id)
    async def clusters(
        self,
        interaction: discord.Interaction,
        side: app_commands.Choice[str] | None = None,
        days: app_commands.Range[int, 1, 366] | None = None,
        min_insiders: app_commands.Range[int, 2, 100] | None = None,
        since: DATE | None = None,
        until: DATE | None = None,
        scope: app_commands.Choice[str] | None = None,
    ) -> None:
        ok, ciks, label = await _scope(interaction, scope)
        if not ok:
            return
        try:
            c: ClusterFilter = cluster_filter(side=_value(side), days=days, min_insiders=min_insiders, since=since,
                                              until=until, issuer_ciks=ciks)
        except ScreenError as exc:
            await send_error(interaction, str(exc))
            return
        await interaction.response.defer(thinking=True)
        bot = bot_of(interaction)
        prices = bot.charts.prices if bot.charts is not None else None

        async def render(page: int) -> Reply:
            return await clusters_report(bot.store, c, prices=prices, page=page, scope_label=label)

        await _answer(interaction, "clusters", render)

    @app_commands.command(name="screen", description="Screen insider trades by dates, value, ΔOwn, price, role, code")
    @app_commands.describe(
        filed_since="Filed from: YYYY-MM-DD, 1w, 1m, 3m, 1y, ytd",
        filed_until="Filed up to: YYYY-MM-DD",
        traded_since="Traded from: YYYY-MM-DD, 1w, 1m, 3m, 1y, ytd (default: all history)",
        traded_until="Traded up to: YYYY-MM-DD",
        min_value="Minimum value, dollars",
        max_value="Maximum value, dollars",
        min_delta_own="Minimum ΔOwn: percent of the holding traded that day",
        max_delta_own="Maximum ΔOwn, percent",
        min_price="Minimum average price per share, dollars",
        max_price="Maximum average price per share, dollars",
        role="Only insiders with this role on the filing",
        codes="Transaction codes, e.g. P,S (default) or A,M,F",
        min_delay="Minimum filing delay, business days from trade to filing",
        max_delay="Maximum filing delay, business days",
        derivatives="Include derivative-table rows (default: excluded)",
        group_by_company="One row per company",
        min_insiders="With group_by_company: at least this many insiders (default: 2)",
        plan="Under a Rule 10b5-1 plan, not, or unknown",
        scope="Everything stored, or this server's watchlist (default: everything)",
    )
    @app_commands.choices(role=ROLE_CHOICES, plan=PLAN_CHOICES, scope=SCOPE_CHOICES)
    @app_commands.checks.cooldown(4, 30.0, key=lambda i: i.user.id)
    async def screen(
        self,
        interaction: discord.Interaction,
        filed_since: DATE | None = None,
        filed_until: DATE | None = None,
        traded_since: DATE | None = None,
        traded_until: DATE | None = None,
        min_value: MONEY | None = None,
        max_value: MONEY | None = None,
        min_delta_own: PERCENT | None = None,
        max_delta_own: PERCENT | None = None,
        min_price: PRICE | None = None,
        max_price: PRICE | None = None,
        role: app_commands.Choice[str] | None = None,
        codes: app_commands.Range[str, 1, 40] | None = None,
        min_delay: DELAY | None = None,
        max_delay: DELAY | None = None,
        derivatives: bool = False,
        group_by_company: bool = False,
        min_insiders: app_commands.Range[int, 1, 100] | None = None,
        plan: app_commands.Choice[str] | None = None,
        scope: app_commands.Choice[str] | None = None,
    ) -> None:
        ok, ciks, label = await _scope(interaction, scope)
        if not ok:
            return
        try:
            f: LineFilter = screen_filter(
                filed_since=filed_since, filed_until=filed_until, traded_since=traded_since,
                traded_until=traded_until, min_value=min_value, max_value=max_value, min_delta_own=min_delta_own,
                max_delta_own=max_delta_own, min_price=min_price, max_price=max_price, role=_value(role),
                codes=codes, min_delay=min_delay, max_delay=max_delay, derivatives=derivatives,
                group_by_company=group_by_company, min_insiders=min_insiders, plan=_value(plan), issuer_ciks=ciks,
            )
        except ScreenError as exc:
            await send_error(interaction, str(exc))
            return
        await interaction.response.defer(thinking=True)
        store = bot_of(interaction).store

        async def render(page: int) -> Reply:
            return await screen_report(store, f, page=page, scope_label=label)

        async def export(max_bytes: int) -> CsvExport:
            return await screen_csv(store, f, max_bytes=max_bytes)

        await _answer(interaction, "screen", render, export)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Screens(bot))
