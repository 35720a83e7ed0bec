"""/top [side] [period] [scope]: ranked net insider sellers or buyers, paged with buttons."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import discord
from discord import app_commands
from discord.ext import commands

from bot.periods import PERIOD_CHOICES, Period, parse_period
from bot.rankings import top_with_returns
from bot.render.reply import Chart, Reply
from bot.render.table_image import reply_table_png
from cogs.common import bot_of, reply_to_discord, send_error, send_reply

PAGE = 10


async def _table_png(interaction: discord.Interaction, reply: Reply) -> bytes | None:
    """Rendered in the chart workers: a matplotlib render on the event loop stalls every interaction."""
    executor = getattr(bot_of(interaction), "_executor", None)
    return await asyncio.get_running_loop().run_in_executor(executor, reply_table_png, reply)


class TopPages(discord.ui.View):
    """Previous/next over the ranking; only the person who asked can turn the pages."""

    def __init__(self, owner_id: int, render, total: int) -> None:  # type: ignore[no-untyped-def]
        super().__init__(timeout=300)
        self.owner_id = owner_id
        self.render = render
        self.total = total
        self.offset = 0
        self.message: discord.InteractionMessage | None = None
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.offset == 0
        self.next.disabled = self.offset + PAGE >= self.total

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message(
                "These buttons belong to whoever ran /top; run it yourself to page.", ephemeral=True
            )
            return False
        return True

    async def _show(self, interaction: discord.Interaction) -> None:
        self._sync_buttons()
        reply: Reply = await self.render(self.offset)
        png = await _table_png(interaction, reply)
        if png:
            reply.chart = Chart(png, "top.png")
        embeds, files = reply_to_discord(reply)
        await interaction.response.edit_message(embeds=embeds, attachments=files, view=self)

    @discord.ui.button(label="◀ Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.offset = max(0, self.offset - PAGE)
        await self._show(interaction)

    @discord.ui.button(label="Next ▶", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.offset += PAGE
        await self._show(interaction)

    async def on_timeout(self) -> None:
        for item in self.children:
            item.disabled = True  # type: ignore[attr-defined]
        if self.message is not None:
            try:
                await self.message.edit(view=self)
            except discord.HTTPException:
                pass  # the message is gone; nothing to disable


class Top(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="top", description="Largest net insider sellers or buyers over a period")
    @app_commands.describe(
        side="Net sellers or net buyers (default: sellers)",
        period="By trade date (default: last year)",
        scope="Everything stored, or this server's watchlist (default: everything)",
    )
    @app_commands.choices(
        side=[app_commands.Choice(name="net sellers", value="sells"), app_commands.Choice(name="net buyers", value="buys")],
        period=[app_commands.Choice(name=label, value=key) for key, label in PERIOD_CHOICES.items()],
        scope=[app_commands.Choice(name="everything stored", value="all"),
               app_commands.Choice(name="this server's watchlist", value="watchlist")],
    )
    @app_commands.checks.cooldown(4, 30.0, key=lambda i: i.user.id)
    async def top(
        self,
        interaction: discord.Interaction,
        side: app_commands.Choice[str] | None = None,
        period: app_commands.Choice[str] | None = None,
        scope: app_commands.Choice[str] | None = None,
    ) -> None:
        await interaction.response.defer(thinking=True)
        store = bot_of(interaction).store
        chosen: Period = parse_period(period.value if period else "1y", datetime.now(UTC).date())
        ciks = None
        label = "all stored issuers"
        if scope is not None and scope.value == "watchlist":
            if interaction.guild_id is None:
                await send_error(interaction, "A watchlist belongs to a server: use scope 'everything' in DMs.")
                return
            ciks = await store.guilds.watched_ciks(interaction.guild_id)
            label = "this server's watchlist"
            if not ciks:
                await send_error(interaction, "This server's watchlist is empty: add tickers with /watchlist add.")
                return

        async def render(offset: int) -> Reply:
            return await top_with_returns(store, bot_of(interaction).prices, chosen, side=side.value if side else "sells",
                                          limit=PAGE, offset=offset, issuer_ciks=ciks, scope_label=label)

        reply = await render(0)
        png = await _table_png(interaction, reply)  # the same table as an image: reads well on a phone
        if png:
            reply.chart = Chart(png, "top.png")
        total = int((reply.data or {}).get("total", 0))
        if total <= PAGE:
            await send_reply(interaction, reply)
            return
        view = TopPages(interaction.user.id, render, total)
        embeds, files = reply_to_discord(reply)
        view.message = await interaction.edit_original_response(embeds=embeds, attachments=files, view=view)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Top(bot))
