"""/help: what each command does and how the numbers are defined."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.render.reply import Reply, ReplyField, as_of_line
from cogs.common import bot_of, send_reply

HELP_FIELDS = [
    ReplyField("/insiders ticker [period]", "An issuer's open-market insider buying and selling, who, roles, "
               "ΔOwn, 10b5-1 plan share, late filings, SEC links and a chart.", inline=False),
    ReplyField("/top [side] [period] [scope]", "Largest net insider sellers or buyers, everything stored or "
               "this server's watchlist.", inline=False),
    ReplyField("/insider name_or_cik", "One insider across companies: trades, usual months, usual sale size, "
               "plan or not.", inline=False),
    ReplyField("/latest · /clusters · /screen", "The newest filings as accepted; issuers where several "
               "insiders bought or sold within days; an OpenInsider-style screener with CSV export.", inline=False),
    ReplyField("/pulse [weeks]", "Market-wide insider selling vs buying, week by week.", inline=False),
    ReplyField("/watchlist add|remove|list|clear|editors", "The server's shared list of tickers. Everyone can "
               "list; Manage Server or the editor role can add/remove; clear needs Manage Server.", inline=False),
    ReplyField("/mywatch add|remove|list|alerts|forget", "Your own watchlist (also in DMs) and opt-in DM "
               "alerts with your own sensitivity and daily cap; forget deletes everything kept about you.",
               inline=False),
    ReplyField("/alerts channel|settings|status|test|off", "Where and how unusual-sale alerts are posted "
               "(Manage Server).", inline=False),
    ReplyField("How the numbers are defined",
               "• Buying/selling = open-market code **P**/**S** on non-derivative rows only; grants (A), "
               "exercises (M), tax withholding (F), gifts (G) are shown, never counted.\n"
               "• Value = shares × reported price; a row without a price counts no dollars (never $0).\n"
               "• A joint filing (a fund, its GP, its manager) is **one** insider.\n"
               "• A Form 4/A replaces the filing it amends (from its acceptance time on).\n"
               "• ΔOwn = shares traded that day ÷ all shares of that class held just before, across filings.\n"
               "• Plan = Rule 10b5-1 checkbox or footnote; before 2023 only footnotes tell (else 'unknown').\n"
               "• Late = filed more than 2 business days after the trade.\n"
               "• Periods select by trade date.", inline=False),
]


class Help(commands.Cog):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="What insiderflow's commands do and how its numbers are defined")
    async def help(self, interaction: discord.Interaction) -> None:
        reply = Reply(
            title="insiderflow: SEC insider filings in Discord",
            description="Insiders must report trades on SEC Form 4 within two business days. Purchases tend to "
            "signal confidence; sales are noisier, so what matters is the sale that is unusual for that insider.",
            fields=list(HELP_FIELDS),
            as_of=as_of_line(await bot_of(interaction).store.trades.newest_acceptance()),
            ephemeral=True,
        )
        await send_reply(interaction, reply)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Help(bot))
