"""/insiders TICKER [period] [since]: an issuer's insider flow, with a chart."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import discord
from discord import app_commands
from discord.ext import commands

from bot.periods import PERIOD_CHOICES, PeriodError, parse_period
from bot.reports import issuer_report
from bot.sec.client import EdgarError
from bot.store.issuers import UnknownTicker
from bot.sync import resolve_cik
from cogs.common import bot_of, send_error, send_reply, ticker_autocomplete

log = logging.getLogger(__name__)

PERIODS = [app_commands.Choice(name=label, value=key) for key, label in PERIOD_CHOICES.items()]


async def ensure_issuer(interaction: discord.Interaction, ticker: str) -> int | None:
    """The issuer's CIK, loading its recent filings from EDGAR first when the store has none.

    Answers the user itself (ephemeral) when the ticker is unknown or EDGAR is unreachable; returns None then.
    """
    bot = bot_of(interaction)
    store = bot.store
    try:
        issuer = await store.issuers.resolve(ticker)
        cik: int | None = issuer.cik
        stored = issuer.in_store
    except UnknownTicker as exc:
        try:
            cik = await resolve_cik(store, bot.edgar, ticker)
        except EdgarError as err:
            await send_error(interaction, f"'{exc.text}' is not in my store and SEC EDGAR can't be reached now: {err}")
            return None
        if cik is None:
            await send_error(interaction, str(UnknownTicker(exc.text, await store.issuers.suggest(exc.text))))
            return None
        stored = False
    if not stored:
        await interaction.edit_original_response(content=f"Loading {ticker.upper()}'s Form 4 filings from SEC EDGAR…")
        try:
            await bot.history.load_recent(cik)  # type: ignore[arg-type]
        except EdgarError as err:
            await send_error(interaction, f"SEC EDGAR didn't answer for {ticker.upper()}: {err}")
            return None
    return cik


class Insiders(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="insiders", description="An issuer's insider buying and selling, with a chart")
    @app_commands.describe(
        ticker="Stock ticker, e.g. AAPL (former tickers such as FB work too)",
        period="How far back, by trade date (default: last year)",
        since="Or a start date, YYYY-MM-DD",
    )
    @app_commands.choices(period=PERIODS)
    @app_commands.autocomplete(ticker=ticker_autocomplete)
    @app_commands.checks.cooldown(4, 30.0, key=lambda i: i.user.id)
    async def insiders(
        self,
        interaction: discord.Interaction,
        ticker: app_commands.Range[str, 1, 12],
        period: app_commands.Choice[str] | None = None,
        since: app_commands.Range[str, 1, 10] | None = None,
    ) -> None:
        await interaction.response.defer(thinking=True)
        today = datetime.now(UTC).date()
        try:
            chosen = parse_period(since or (period.value if period else "1y"), today)
        except PeriodError as exc:
            await send_error(interaction, f"{exc}.")
            return
        cik = await ensure_issuer(interaction, ticker)
        if cik is None:
            return
        bot = bot_of(interaction)
        reply = await issuer_report(bot.store, str(cik), chosen, chart=bot.charts, prices=bot.prices)
        if interaction.response.is_done() and reply.chart is None and reply.tone == "error":
            reply.ephemeral = True
        await send_reply(interaction, reply)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Insiders(bot))
