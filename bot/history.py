"""Loading issuers' filing histories in the background, at the lowest EDGAR priority."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from bot.ingest import IngestReport
from bot.sec.client import EdgarClient, EdgarError
from bot.store.db import Store
from bot.sync import sync_issuer

log = logging.getLogger(__name__)


class HistoryLoader:
    """A queue of issuers whose history should be in the store. One worker, so background loading never
    takes more than its share of the EDGAR budget; user-facing loads go through ``load_recent``."""

    def __init__(self, store: Store, edgar: EdgarClient, *, years: int = 5,
                 today: Callable[[], date] = lambda: datetime.now(UTC).date()) -> None:
        self.store = store
        self.edgar = edgar
        self.years = years
        self.today = today
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._pending: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self.loaded: dict[int, IngestReport | str] = {}

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="history-loader")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def request(self, issuer_cik: int) -> None:
        """Queue the issuer's full history (``years``) for background loading; repeated asks are free."""
        if issuer_cik not in self._pending:
            self._pending.add(issuer_cik)
            self._queue.put_nowait(issuer_cik)

    async def load_recent(self, issuer_cik: int, *, years: int = 2,
                          progress: Callable[[int, int], None] | None = None) -> IngestReport:
        """The last ``years`` now, at user priority (someone is waiting), then the rest in the background."""
        since = self.today() - timedelta(days=365 * years)
        report = await sync_issuer(self.store, self.edgar, issuer_cik, since=since, priority="user", progress=progress)
        self.request(issuer_cik)
        return report

    async def wait_idle(self) -> None:
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            cik = await self._queue.get()
            try:
                since = self.today() - timedelta(days=365 * self.years)
                self.loaded[cik] = await sync_issuer(self.store, self.edgar, cik, since=since, priority="background")
            except EdgarError as exc:
                log.warning("history of CIK %s not loaded: %s", cik, exc)
                self.loaded[cik] = str(exc)
            except Exception:
                log.exception("history of CIK %s failed", cik)
                self.loaded[cik] = "failed"
            finally:
                self._pending.discard(cik)
                self._queue.task_done()
