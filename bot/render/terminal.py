"""Draw a Reply in the terminal with rich."""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table as RichTable
from rich.text import Text

from bot.render.reply import Reply

_TONE = {"sell": "red", "buy": "green", "neutral": "cyan", "error": "yellow"}
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _markup(text: str) -> Text:
    """Discord's **bold** as rich bold; nothing else of markdown is used in replies."""
    out = Text()
    pos = 0
    for m in _BOLD.finditer(text):
        out.append(text[pos : m.start()])
        out.append(m.group(1), style="bold")
        pos = m.end()
    out.append(text[pos:])
    return out


def print_reply(reply: Reply, console: Console, *, chart_dir: Path | None = None) -> Path | None:
    colour = _TONE.get(reply.tone, "cyan")
    body = Text()
    if reply.description:
        body.append_text(_markup(reply.description))
        body.append("\n")
    for f in reply.fields:
        body.append(f"\n{f.name}: ", style="bold")
        value = f.value if f.inline else "\n  " + f.value.replace("\n", "\n  ")
        body.append_text(_markup(value))
    console.print(Panel(body, title=Text(reply.title, style=f"bold {colour}"), border_style=colour, expand=False))
    if reply.table is not None:
        table = RichTable(title=reply.table.title or None, header_style="bold", show_lines=False)
        for i, col in enumerate(reply.table.columns):
            align = reply.table.align[i] if i < len(reply.table.align) else "<"
            table.add_column(col, justify="right" if align == ">" else "left")
        for row in reply.table.rows:
            table.add_row(*row)
        console.print(table)
    for note in reply.notes:
        console.print(Text(note, style="dim"))
    for link in reply.links[:5]:
        console.print(Text(f"{link.url}", style="dim"), overflow="ignore", crop=False, soft_wrap=True)
    if len(reply.links) > 5:
        console.print(Text(f"… and {len(reply.links) - 5} more filings", style="dim"))
    saved = None
    if reply.chart is not None and chart_dir is not None:
        chart_dir.mkdir(parents=True, exist_ok=True)
        saved = chart_dir / reply.chart.filename
        saved.write_bytes(reply.chart.png)
        console.print(Text(f"chart: {saved}", style="bold"))
    console.print(Text(reply.footer, style="dim italic"))
    return saved
