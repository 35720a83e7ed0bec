"""Loading filings from files into the store: parse, quarantine what fails, ingest in batches."""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.models import Filing, ParseError
from bot.sec.client import FilingRef, form4_refs_from_columns
from bot.sec.form4 import parse_document
from bot.store.db import Store

log = logging.getLogger(__name__)

DOCUMENT_SUFFIXES = {".xml", ".txt", ".nc"}
OWNERSHIP_FORMS = {"4", "4/A"}
BATCH = 500


@dataclass
class IngestReport:
    files: int = 0
    added: int = 0
    duplicates: int = 0
    skipped_forms: int = 0
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    index_entries: int = 0

    def summary(self) -> str:
        parts = [f"{self.added} filing(s) added", f"{self.duplicates} already stored"]
        if self.skipped_forms:
            parts.append(f"{self.skipped_forms} Form 3/5 read for holdings only")
        if self.quarantined:
            parts.append(f"{len(self.quarantined)} quarantined")
        if self.index_entries:
            parts.append(f"{self.index_entries} filing dates/times from submissions JSON")
        return ", ".join(parts)


def iter_documents(paths: Iterable[str | Path]) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(name, reader) for every document under the paths: files, folders, and members of .zip archives."""
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file():
                    yield from _file_documents(child)
        elif path.is_file():
            yield from _file_documents(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")


def _file_documents(path: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    suffix = path.suffix.lower()
    if suffix == ".zip":
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            yield str(path), lambda: b"not a zip archive"
            return
        for member in sorted(archive.namelist()):
            if Path(member).suffix.lower() in DOCUMENT_SUFFIXES | {".json"}:
                yield f"{path}!{member}", (lambda m=member: archive.read(m))
    elif suffix in DOCUMENT_SUFFIXES or suffix == ".json":
        yield str(path), path.read_bytes


def refs_from_submissions(data: dict) -> list[FilingRef]:
    """Forms 4 and 4/A of a data.sec.gov submissions JSON (or one of its overflow pages)."""
    recent = data.get("filings", {}).get("recent") if "filings" in data else data
    if not isinstance(recent, dict) or "accessionNumber" not in recent:
        raise ValueError("no accessionNumber column")
    return form4_refs_from_columns(recent, int(data.get("cik") or 0))


async def ingest_paths(
    store: Store,
    paths: Iterable[str | Path],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Ingest XML / SGML documents and submissions JSON from files and folders. Never raises on bad files."""
    files = list(iter_documents(paths))
    report = IngestReport(files=len(files))
    # JSON first: submissions JSON dates the bare XML documents that follow; company_tickers.json maps tickers.
    refs: list[FilingRef] = []
    documents = []
    for name, read in files:
        if name.lower().endswith(".json"):
            try:
                payload = json.loads(read())
                if _is_ticker_map(payload):
                    await store.issuers.load_ticker_map(
                        (v["ticker"], int(v["cik_str"]), v["title"]) for v in payload.values()
                    )
                else:
                    refs.extend(refs_from_submissions(payload))
            except (ValueError, KeyError, TypeError, IndexError, AttributeError, OSError) as exc:
                reason = f"not a submissions or company_tickers JSON: {exc.__class__.__name__}"
                report.quarantined.append((name, reason))
                await store.filings.quarantine(name, reason)
        else:
            documents.append((name, read))
    if refs:
        await store.filings.record_index(refs)
        report.index_entries = len(refs)
    batch: list[Filing] = []
    done = 0
    for name, read in documents:
        try:
            data = read()
        except (OSError, zipfile.BadZipFile) as exc:
            report.quarantined.append((name, f"unreadable: {exc}"))
            continue
        try:
            filing = parse_document(data, source=name)
        except ParseError as exc:
            report.quarantined.append((name, str(exc)))
            await store.filings.quarantine(name, str(exc), data)
        else:
            if filing.document_type in OWNERSHIP_FORMS:
                batch.append(filing)
            else:
                # Forms 3 and 5 are kept for their holdings only: their rows are not Form 4 flow.
                report.skipped_forms += 1
                batch.append(replace(filing, transactions=()))
        done += 1
        if len(batch) >= BATCH:
            await _flush(store, batch, report)
        if progress:
            progress(done, len(documents))
    await _flush(store, batch, report)
    return report


async def _flush(store: Store, batch: list[Filing], report: IngestReport) -> None:
    if not batch:
        return
    result = await store.filings.ingest_many(batch)
    report.added += result.added
    report.duplicates += result.duplicates
    batch.clear()


def _is_ticker_map(payload: object) -> bool:
    """SEC's company_tickers.json: {"0": {"cik_str": 320193, "ticker": "AAPL", "title": "Apple Inc."}, ...}"""
    if not isinstance(payload, dict) or not payload:
        return False
    first = next(iter(payload.values()))
    return isinstance(first, dict) and {"cik_str", "ticker", "title"} <= first.keys()
