"""Bulk backfill from SEC's quarterly Insider Transactions Data Sets: download, read, store.

- :func:`backfill_quarters` downloads ``{YYYY}q{N}_form345.zip`` through the EDGAR client (declared
  User-Agent, the shared rate limiter, "background" priority so the watcher never waits behind it) into a
  cache folder, then loads each quarter with :func:`load_dataset`.
- :func:`load_dataset` reads a zip or an unpacked folder (see :mod:`bot.sec.datasets` for the two-pass,
  bounded-memory reading) and stores its filings in batches with ``store.filings.ingest_many``, which skips
  accessions already stored (from XML or an earlier run) and applies the 4/A rule.

Resuming. A finished download is kept in the cache (written to ``.part`` then renamed, so a file under its
real name is always complete); an interrupted one is downloaded again from the start (EdgarClient returns
whole bodies, so there is no byte-range resume). A quarter interrupted while loading is simply loaded again:
every batch is one store transaction, and the accessions it already stored count as "already stored".
Quarters loaded to the end are recorded in ``loaded.json`` in the cache folder, per store, and skipped
next time while the store still holds what was recorded (``force=True`` reloads).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.ingest import OWNERSHIP_FORMS, IngestReport
from bot.models import Filing
from bot.sec.client import (
    EdgarBlockedError,
    EdgarClient,
    EdgarConfigError,
    EdgarError,
    EdgarNotFound,
)
from bot.sec.datasets import (
    DatasetCorrupt,
    DatasetError,
    DatasetFiles,
    Partitioned,
    Rejected,
    orphan_rejections,
    partition,
    read_bucket,
)
from bot.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console

    from bot.store.db import Store

__all__ = [
    "FIRST_QUARTER",
    "DatasetError",
    "Progress",
    "add_backfill_command",
    "backfill_quarters",
    "cmd_backfill",
    "dataset_url",
    "default_cache_dir",
    "load_dataset",
    "parse_quarters",
]

log = logging.getLogger(__name__)

# progress(stage, done, total): stage is "download", "read" (bytes of TSV) or "load" (filings), prefixed with
# the quarter by backfill_quarters ("2024q3 load"); total is None while unknown.
Progress = Callable[[str, int, int | None], None]

FIRST_QUARTER = "2006q1"  # the first quarter SEC publishes these data sets for
DATASET_PATH = "/files/structureddata/data/insider-transactions-data-sets/{quarter}_form345.zip"
BATCH = 500
DOWNLOAD_TIMEOUT = 900.0  # seconds for one quarter's zip (tens of MB); EdgarClient's default is 30
STATE_FILE = "loaded.json"

_QUARTER_RE = re.compile(r"^(\d{4})[qQ]([1-4])$")


# ---------------------------------------------------------------------------------------------- quarters


def _quarter_key(text: str) -> tuple[int, int]:
    m = _QUARTER_RE.match(text.strip())
    if not m:
        raise ValueError(f"'{text.strip()}' is not a quarter: write it like 2024q3")
    return int(m.group(1)), int(m.group(2))


def parse_quarters(spec: str) -> list[str]:
    """``"2024q1:2025q3"`` → every quarter from the first to the last, inclusive; ``"2024q3"`` or a comma
    list (``"2024q1,2024q3"``) work too. Raises ValueError with a message for the user."""
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        first, _, last = part.partition(":")
        start = _quarter_key(first)
        end = _quarter_key(last) if last else start
        if end < start:
            raise ValueError(f"'{part}' ends before it starts: write the earlier quarter first")
        if start < _quarter_key(FIRST_QUARTER):
            raise ValueError(f"SEC's insider data sets start with {FIRST_QUARTER}; '{first.strip()}' is earlier")
        year, q = start
        while (year, q) <= end:
            label = f"{year}q{q}"
            if label not in out:
                out.append(label)
            year, q = (year + 1, 1) if q == 4 else (year, q + 1)
    if not out:
        raise ValueError("no quarter given: write e.g. 2024q1:2025q3")
    return out


def dataset_url(settings: Settings, quarter: str) -> str:
    return settings.sec_www_base.rstrip("/") + DATASET_PATH.format(quarter=quarter)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "insiderflow" / "form345"


# --------------------------------------------------------------------------------------------- loading


async def load_dataset(
    store: Store,
    path: Path,
    *,
    progress: Progress | None = None,
    source: str | None = None,
    workdir: Path | None = None,
) -> IngestReport:
    """Load one data set (a ``*_form345.zip`` or its unpacked folder) into the store.

    Raises :class:`DatasetError` (missing table or column, damaged archive) before storing anything. Filings
    that cannot be built are quarantined and listed in the report; ``report.files`` counts SUBMISSION rows.
    ``source`` is recorded on each new filing (default ``form345:<file name>``); ``workdir`` is where the
    temporary bucket files go (default: the system temp folder).
    """
    path = Path(path)
    source = source or f"form345:{path.name}"
    loop = asyncio.get_running_loop()

    def threadsafe(stage: str) -> Callable[[int, int], None] | None:
        if progress is None:
            return None

        def report(done: int, total: int) -> None:
            loop.call_soon_threadsafe(progress, stage, done, total)

        return report

    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="form345-", dir=workdir) as tmp:
        # Reading and mapping are CPU work on files: off the event loop, so a bot stays responsive.
        part = await asyncio.to_thread(_partition, path, Path(tmp), threadsafe("read"))
        return await _store_buckets(store, part, source, progress)


def _partition(path: Path, tmp: Path, progress: Callable[[int, int], None] | None) -> Partitioned:
    with DatasetFiles(path) as files:
        return partition(files, tmp, progress=progress)


async def _store_buckets(store: Store, part: Partitioned, source: str, progress: Progress | None) -> IngestReport:
    report = IngestReport(files=part.submissions)
    done = 0
    batch: list[Filing] = []
    if progress:
        progress("load", 0, part.submissions)
    # Build bucket k+1 in a thread while bucket k is written: the store's SQL runs in aiosqlite's thread.
    pending = asyncio.ensure_future(asyncio.to_thread(read_bucket, part, 0))
    try:
        for bucket in range(part.buckets):
            result = await pending
            if bucket + 1 < part.buckets:
                pending = asyncio.ensure_future(asyncio.to_thread(read_bucket, part, bucket + 1))
            for filing in result.filings:
                if filing.document_type not in OWNERSHIP_FORMS:
                    # As for XML: Forms 3 and 5 are kept for their holdings only; their rows are not Form 4 flow.
                    report.skipped_forms += 1
                    filing = replace(filing, transactions=())
                # Cut batches between issuers only: the store's per-issuer work then runs once per issuer.
                if len(batch) >= BATCH and batch[-1].issuer_cik != filing.issuer_cik:
                    done += await _flush(store, batch, report, source)
                    if progress:
                        progress("load", done, part.submissions)
                batch.append(filing)
            await _quarantine(store, result.rejected, report)
            done += len(result.rejected)
        done += await _flush(store, batch, report, source)
    finally:
        if not pending.done():
            pending.cancel()
    await _quarantine(store, orphan_rejections(part), report)
    if progress:
        progress("load", part.submissions, part.submissions)
    return report


async def _flush(store: Store, batch: list[Filing], report: IngestReport, source: str) -> int:
    if not batch:
        return 0
    result = await store.filings.ingest_many(batch, source=source)
    report.added += result.added
    report.duplicates += result.duplicates
    n = len(batch)
    batch.clear()
    return n


async def _quarantine(store: Store, rejected: list[Rejected], report: IngestReport) -> None:
    for item in rejected:
        report.quarantined.append((item.source, item.reason))
        # The content is the reason itself, so a re-run replaces its entry instead of adding another.
        await store.filings.quarantine(item.source, item.reason, f"{item.source}\n{item.reason}".encode())


# -------------------------------------------------------------------------------------------- backfill


async def backfill_quarters(
    store: Store,
    settings: Settings,
    quarters: list[str],
    *,
    cache_dir: Path,
    progress: Progress | None = None,
    force: bool = False,
) -> dict[str, IngestReport | str]:
    """Download (or take from ``cache_dir``) and load each quarter, in order.

    Returns, per quarter, its :class:`IngestReport` or a short message saying why it was not loaded ("2026q4 is
    not published yet"). A quarter recorded as loaded into this store is skipped (its report has ``files=0``
    and ``duplicates`` = the filings it stored) unless ``force``. Configuration and blocking errors (no
    User-Agent, 403) stop the remaining quarters with the same message; other problems stop only their quarter.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    state = _State(cache_dir / STATE_FILE, store.path)
    results: dict[str, IngestReport | str] = {}
    async with EdgarClient(settings, timeout=DOWNLOAD_TIMEOUT) as client:
        for i, quarter in enumerate(quarters):
            def staged(stage: str, done: int, total: int | None, _q: str = quarter) -> None:
                if progress:
                    progress(f"{_q} {stage}", done, total)

            source = f"form345:{quarter}"
            recorded = state.loaded(quarter)
            if recorded is not None and not force:
                stored = await _stored_count(store, source)
                if stored >= recorded:
                    log.info("%s already loaded into %s (%d filings)", quarter, store.path, stored)
                    results[quarter] = IngestReport(files=0, duplicates=stored)
                    continue
            try:
                results[quarter] = await _backfill_one(store, client, settings, quarter, cache_dir, staged)
            except (EdgarConfigError, EdgarBlockedError) as exc:
                for rest in quarters[i:]:
                    results[rest] = str(exc)
                break
            except EdgarNotFound:
                results[quarter] = (f"{quarter} is not published yet (SEC posts a quarter's data set after the "
                                    "quarter ends)")
                continue
            except EdgarError as exc:
                results[quarter] = f"{quarter} could not be downloaded: {exc}"
                continue
            except DatasetError as exc:
                results[quarter] = f"{quarter}: {exc}"
                continue
            state.record(quarter, await _stored_count(store, source))
    return results


async def _backfill_one(
    store: Store,
    client: EdgarClient,
    settings: Settings,
    quarter: str,
    cache_dir: Path,
    progress: Progress,
) -> IngestReport:
    zip_path = cache_dir / f"{quarter}_form345.zip"
    fresh = False
    if not zip_path.exists():
        await _download(client, settings, quarter, zip_path, progress)
        fresh = True
    else:
        log.info("%s: using the cached %s", quarter, zip_path)
    work = cache_dir / "work"
    try:
        return await load_dataset(store, zip_path, progress=progress, source=f"form345:{quarter}", workdir=work)
    except DatasetCorrupt:
        if fresh:
            zip_path.unlink(missing_ok=True)
            raise
        # A cached file damaged since (disk trouble, a copy cut short): fetch it once more.
        log.warning("%s: the cached %s is damaged; downloading it again", quarter, zip_path)
        zip_path.unlink(missing_ok=True)
        await _download(client, settings, quarter, zip_path, progress)
        try:
            return await load_dataset(store, zip_path, progress=progress, source=f"form345:{quarter}",
                                      workdir=work)
        except DatasetCorrupt:
            zip_path.unlink(missing_ok=True)
            raise


async def _download(client: EdgarClient, settings: Settings, quarter: str, dest: Path, progress: Progress) -> None:
    url = dataset_url(settings, quarter)
    progress("download", 0, None)
    log.info("downloading %s", url)
    body = await client.request(url, priority="background", expect="any")
    if not body.startswith(b"PK\x03\x04"):
        # EDGAR answers some throttled or missing resources with a 200 HTML page.
        kind = "an HTML page" if body.lstrip()[:1] == b"<" else "something else"
        raise DatasetError(f"EDGAR sent {kind} instead of {quarter}_form345.zip; try again later")
    part = dest.with_name(dest.name + ".part")
    part.write_bytes(body)
    os.replace(part, dest)  # only a complete file ever carries the real name
    progress("download", len(body), len(body))


class _State:
    """``loaded.json``: the quarters loaded to the end, per store (resolved path), with their filing count."""

    def __init__(self, path: Path, store_path: str) -> None:
        self.path = path
        self.key = store_path if store_path == ":memory:" else str(Path(store_path).resolve())

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def loaded(self, quarter: str) -> int | None:
        entry = self._read().get(self.key, {}).get(quarter)
        return int(entry["filings"]) if isinstance(entry, dict) and "filings" in entry else None

    def record(self, quarter: str, filings: int) -> None:
        data = self._read()
        data.setdefault(self.key, {})[quarter] = {
            "filings": filings, "loaded_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)


async def _stored_count(store: Store, source: str) -> int:
    # How many filings of the store came from this data set; a store rebuilt since has fewer, and reloads.
    return await store.filings.count_by_source(source)


# ------------------------------------------------------------------------------------------------- CLI


def add_backfill_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``insiderflow backfill`` on the CLI's subparsers."""
    p = subparsers.add_parser(
        "backfill",
        help="load SEC's quarterly insider data sets (Forms 3, 4, 5) into the store",
        description="Download SEC's Insider Transactions Data Sets for a range of quarters (or read ones "
        "already downloaded) and store their filings. Safe to re-run: stored filings are skipped.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--quarters", help="a quarter or a range, e.g. 2024q3 or 2024q1:2025q3 (needs SEC_USER_AGENT)")
    what.add_argument("--path", nargs="+", type=Path, help="a downloaded *_form345.zip or its unpacked folder")
    p.add_argument("--cache", type=Path, default=None,
                   help=f"folder for the downloads (default: {default_cache_dir()})")
    p.add_argument("--force", action="store_true", help="load quarters again even if recorded as loaded")
    p.set_defaults(func=cmd_backfill)
    return p


async def cmd_backfill(args: argparse.Namespace, console: Console) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import (
        Progress as RichProgress,
    )

    from bot.store.db import Store

    quarters: list[str] = []
    if args.quarters:
        try:
            quarters = parse_quarters(args.quarters)
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}")
            return 2
    store = await Store.open(args.db)
    results: dict[str, IngestReport | str] = {}
    try:
        with RichProgress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=console, transient=False,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def tick(stage: str, done: int, total: int | None) -> None:
                if stage.endswith(("read", "download")):  # bytes: a percentage reads better than millions
                    stage += " %"
                    done, total = (100 * done // total, 100) if total else (0, None)
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            if quarters:
                cache = args.cache or default_cache_dir()
                results = await backfill_quarters(store, Settings.load(env_file=getattr(args, "env_file", ".env")),
                                                  quarters, cache_dir=cache, progress=tick, force=args.force)
            else:
                for path in args.path:
                    def at(stage: str, done: int, total: int | None, _p: Path = path) -> None:
                        tick(f"{_p.name} {stage}", done, total)

                    try:
                        results[str(path)] = await load_dataset(store, path, progress=at)
                    except (DatasetError, FileNotFoundError) as exc:
                        results[str(path)] = str(exc)
    finally:
        await store.close()
    status = 0
    for name, result in results.items():
        if isinstance(result, str):
            console.print(f"[yellow]{name}[/yellow]: {result}")
            status = 1
        elif result.files == 0 and result.duplicates:
            console.print(f"[bold]{name}[/bold]: already loaded ({result.duplicates} filings; --force reloads)")
        else:
            console.print(f"[bold]{name}[/bold]: {result.summary()}")
            for source, reason in result.quarantined[:10]:
                console.print(f"  [yellow]set aside[/yellow] {source}: {reason}")
            if len(result.quarantined) > 10:
                console.print(f"  ... and {len(result.quarantined) - 10} more (see the store's quarantine)")
    console.print(f"into {args.db}")
    return status
