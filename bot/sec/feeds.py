"""Readers for EDGAR's lists of new filings: the current-filings Atom feed and the daily indexes.

Pure functions on bytes (the client fetches them). Both sources list a filing once per filer (the issuer
and each reporting owner), so both deduplicate by accession number and keep every filer's CIK.

Past its end the current-filings feed is not an empty Atom document but an HTML "File Unavailable" page
(status 200). :func:`parse_current_feed` raises :class:`FeedEnded` for it rather than returning ``[]``,
so that "no Form 4 on this page" (a page of 424B2s, say) and "nothing more to page through" cannot be
confused.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from lxml import etree

log = logging.getLogger(__name__)

FORM4_TYPES: tuple[str, ...] = ("4", "4/A")

_ATOM = "{http://www.w3.org/2005/Atom}"
# "4 - General Atlantic (SPV) GP, LLC (0001793940) (Reporting)": names can hold parentheses and " - ",
# so anchor the CIK and role at the end and the form type at the first " - ".
_TITLE_RE = re.compile(r"^(?P<form>.+?) - (?P<name>.*?)\s*\((?P<cik>\d{1,10})\)\s*(?:\((?P<role>[^()]*)\))?\s*$")
_ACCESSION_RE = re.compile(r"(\d{10}-\d{2}-\d{6})")
_FILED_RE = re.compile(r"Filed:(?:\s*</b>)?\s*(\d{4}-\d{2}-\d{2})")
_ACCNO_RE = re.compile(r"AccNo:(?:\s*</b>)?\s*(\d{10}-\d{2}-\d{6})")
_LINK_CIK_RE = re.compile(r"/edgar/data/(\d+)/")
_INDEX_PATH_RE = re.compile(r"(\d{10}-\d{2}-\d{6})\.txt$")


class FeedError(ValueError):
    """The bytes are not a feed or index this module can read."""


class FeedEnded(FeedError):
    """EDGAR answered the HTML "File Unavailable" page: the feed has no entries this far back."""


# ---------------------------------------------------------------------------------------- current feed


@dataclass(frozen=True, slots=True)
class FeedFiler:
    """One filer line of a feed entry: the issuer, a reporting owner, a subject company..."""

    cik: int
    name: str
    role: str | None  # "Issuer", "Reporting", "Subject", "Filer", "Filed by", ... as the title says


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One filing of the current feed, however many lines the feed gave it.

    ``cik``, ``company``, ``role`` and ``link`` come from the issuer's line when the page had it (the
    issuer is what the bot keys on), otherwise from the first line seen. ``filers`` lists every line.
    ``updated`` is the feed's timestamp with EDGAR's Eastern offset (about the acceptance time).
    """

    accession: str
    form_type: str
    cik: int
    company: str
    role: str | None
    updated: datetime
    link: str
    filed_date: date | None = None
    filers: tuple[FeedFiler, ...] = ()

    @property
    def issuer(self) -> FeedFiler | None:
        return next((f for f in self.filers if f.role == "Issuer"), None)

    @property
    def reporting_owners(self) -> tuple[FeedFiler, ...]:
        return tuple(f for f in self.filers if f.role == "Reporting")


@dataclass(frozen=True, slots=True)
class FeedPage:
    """A parsed feed page: the kept entries plus what a pager needs to decide whether to go on."""

    entries: list[FeedEntry]
    raw_entry_count: int  # all <entry> elements, every form type and filer line
    oldest_updated: datetime | None
    newest_updated: datetime | None


def parse_current_feed(data: bytes, forms: Iterable[str] | None = FORM4_TYPES) -> list[FeedEntry]:
    """Filings of the given form types (exactly; ``type=4`` also returns 424B2, 425, 497...), one per accession,
    in feed order (newest first). ``forms=None`` keeps every form type.

    Raises :class:`FeedEnded` for the HTML page EDGAR sends past the feed's end, :class:`FeedError` for
    anything else that is not an Atom feed.
    """
    return parse_current_feed_page(data, forms).entries


def parse_current_feed_page(data: bytes, forms: Iterable[str] | None = FORM4_TYPES) -> FeedPage:
    """Like :func:`parse_current_feed`, with the page's raw entry count and time span for paging."""
    root = _parse_xml(data)
    if root.tag != f"{_ATOM}feed":
        raise FeedError(f"not an Atom feed (root element {root.tag!r})")
    wanted = _wanted(forms)
    raw = root.findall(f"{_ATOM}entry")
    times: list[datetime] = []
    order: list[str] = []
    lines: dict[str, list[tuple[FeedFiler, str, str, datetime, date | None]]] = {}
    for element in raw:
        parsed = _read_entry(element)
        if parsed is None:
            continue
        accession, form, filer, link, updated, filed = parsed
        times.append(updated)
        if wanted is not None and form not in wanted:
            continue
        if accession not in lines:
            order.append(accession)
            lines[accession] = []
        lines[accession].append((filer, form, link, updated, filed))

    entries: list[FeedEntry] = []
    for accession in order:
        group = lines[accession]
        main = next((g for g in group if g[0].role == "Issuer"), group[0])
        filer, form, link, updated, filed = main
        entries.append(FeedEntry(
            accession=accession,
            form_type=form,
            cik=filer.cik,
            company=filer.name,
            role=filer.role,
            updated=updated,
            link=link,
            filed_date=filed,
            filers=tuple(dict.fromkeys(g[0] for g in group)),
        ))
    return FeedPage(
        entries=entries,
        raw_entry_count=len(raw),
        oldest_updated=min(times) if times else None,
        newest_updated=max(times) if times else None,
    )


def _wanted(forms: Iterable[str] | None) -> frozenset[str] | None:
    if forms is None:
        return None
    if isinstance(forms, str):  # forms="4/A" means that one form, not the characters 4, / and A
        return frozenset((forms,))
    return frozenset(forms)


def _parse_xml(data: bytes) -> etree._Element:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")):
        if b"file unavailable" in data.lower():
            raise FeedEnded("EDGAR has no feed entries this far back")
        raise FeedError("EDGAR sent an HTML page, not a feed")
    # No entity expansion, no network: the bytes come from outside.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise FeedError(f"not well-formed XML: {exc}") from None
    if root is None:
        raise FeedError("empty document")
    return root


def _read_entry(
    element: etree._Element,
) -> tuple[str, str, FeedFiler, str, datetime, date | None] | None:
    title = (element.findtext(f"{_ATOM}title") or "").strip()
    summary = element.findtext(f"{_ATOM}summary") or ""
    entry_id = element.findtext(f"{_ATOM}id") or ""
    link_el = element.find(f"{_ATOM}link")
    link = (link_el.get("href") if link_el is not None else None) or ""
    category = element.find(f"{_ATOM}category")
    updated_text = (element.findtext(f"{_ATOM}updated") or "").strip()

    match = _TITLE_RE.match(title)
    form = (category.get("term") if category is not None else None) or (match["form"] if match else "")
    form = form.strip()
    accession_match = (_ACCESSION_RE.search(entry_id) or _ACCNO_RE.search(summary)
                       or _ACCESSION_RE.search(link))
    try:
        updated = datetime.fromisoformat(updated_text)
    except ValueError:
        updated = None
    if not form or accession_match is None or updated is None or updated.tzinfo is None:
        log.warning("skipping unreadable feed entry %r", title)
        return None
    if match:
        filer = FeedFiler(int(match["cik"]), match["name"].strip(), match["role"])
    else:
        link_cik = _LINK_CIK_RE.search(link)
        if link_cik is None:
            log.warning("skipping feed entry without a CIK %r", title)
            return None
        filer = FeedFiler(int(link_cik[1]), title, None)
    filed_match = _FILED_RE.search(summary)
    filed = date.fromisoformat(filed_match[1]) if filed_match else None
    return accession_match[1], form, filer, link, updated, filed


# ---------------------------------------------------------------------------------------- daily index


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One filing of a daily index. The index does not say which line is the issuer, so ``cik`` and
    ``company`` are the first line's; ``filer_ciks`` has every CIK the filing was listed under."""

    accession: str
    form_type: str
    cik: int
    company: str
    filed_date: date
    path: str  # "edgar/data/{cik}/{accession}.txt", relative to the www base's /Archives/
    filer_ciks: tuple[int, ...] = ()


_COLUMNS = {
    "Form Type": "form",
    "Company Name": "company",
    "CIK": "cik",
    "Date Filed": "date",
    "File Name": "path",
}


def parse_form_index(data: bytes, forms: Iterable[str] | None = FORM4_TYPES) -> list[IndexEntry]:
    """Filings of the given form types (exact match; ``None`` for all) in a daily or full index.

    Reads the fixed-width ``form.*.idx`` / ``company.*.idx`` (columns found from the header line, so
    either order works) and the pipe-separated ``master.*.idx``. One entry per accession, in file order.
    """
    text = data.decode("latin-1")  # the indexes are ASCII; latin-1 never fails on a stray byte
    lines = text.splitlines()
    header_at = next((i for i, line in enumerate(lines)
                      if "Form Type" in line and "CIK" in line and "File Name" in line), None)
    if header_at is None:
        raise FeedError("no index header line (Form Type / CIK / File Name) found")
    header = lines[header_at]
    body = lines[header_at + 1:]
    if body and set(body[0].strip()) == {"-"}:
        body = body[1:]
    rows = _pipe_rows(header, body) if "|" in header else _fixed_rows(header, body)

    wanted = _wanted(forms)
    order: list[str] = []
    found: dict[str, IndexEntry] = {}
    ciks: dict[str, list[int]] = {}
    for row in rows:
        if wanted is not None and row["form"] not in wanted:
            continue
        entry = _index_entry(row)
        if entry is None:
            continue
        if entry.accession not in found:
            order.append(entry.accession)
            found[entry.accession] = entry
            ciks[entry.accession] = []
        if entry.cik not in ciks[entry.accession]:
            ciks[entry.accession].append(entry.cik)
    return [_with_ciks(found[a], tuple(ciks[a])) for a in order]


def _with_ciks(entry: IndexEntry, filer_ciks: tuple[int, ...]) -> IndexEntry:
    return IndexEntry(entry.accession, entry.form_type, entry.cik, entry.company, entry.filed_date,
                      entry.path, filer_ciks)


def _pipe_rows(header: str, body: list[str]) -> list[dict[str, str]]:
    names = [_COLUMNS.get(h.strip(), h.strip()) for h in header.split("|")]
    rows = []
    for line in body:
        parts = line.split("|")
        if len(parts) != len(names):
            continue
        rows.append({n: p.strip() for n, p in zip(names, parts, strict=True)})
    return rows


def _fixed_rows(header: str, body: list[str]) -> list[dict[str, str]]:
    starts = {key: header.find(label) for label, key in _COLUMNS.items()}
    if min(starts.values()) < 0:
        raise FeedError("index header lacks some of: " + ", ".join(_COLUMNS))
    # CIK, date and file name never hold spaces: take them from the right, so that a long name that
    # pushed the columns along cannot shift them. Form type and company share what is left.
    first, second = sorted(("form", "company"), key=starts.__getitem__)
    rows = []
    for line in body:
        parts = line.rsplit(None, 3)
        if len(parts) != 4:
            continue
        prefix, cik, filed, path = parts
        cut = starts[second]
        while 0 < cut < len(prefix) and not prefix[cut - 1].isspace() and not prefix[cut].isspace():
            cut += 1  # a value ran past its column: cut at the next space instead of mid-word
        rows.append({first: prefix[:cut].strip(), second: prefix[cut:].strip(), "cik": cik, "date": filed,
                     "path": path})
    return rows


def _index_entry(row: dict[str, str]) -> IndexEntry | None:
    path = row.get("path", "")
    acc = _INDEX_PATH_RE.search(path)
    raw_date = row.get("date", "").replace("-", "")
    try:
        cik = int(row.get("cik", ""))
        filed = date(int(raw_date[:4]), int(raw_date[4:6]), int(raw_date[6:8]))
    except ValueError:
        acc = None
    if acc is None:
        log.warning("skipping unreadable index row %r", row)
        return None
    return IndexEntry(acc[1], row["form"], cik, row.get("company", ""), filed, path)
