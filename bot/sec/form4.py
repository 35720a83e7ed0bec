"""Ownership documents (Forms 3, 4, 5 and their amendments) → :class:`bot.models.Filing`.

Entry points:

- :func:`parse_ownership_xml`: the ``<ownershipDocument>`` XML itself.
- :func:`parse_sgml_submission`: EDGAR's complete submission (``{accession}.txt``, or a dissemination ``.nc``),
  whose header carries what the XML lacks: the accession number, the acceptance time and the filing date.
- :func:`parse_document`: sniffs which of the two it was given, and turns HTML pages, empty bodies and other
  junk into a :class:`ParseError` with a short reason.

Every malformed input raises :class:`ParseError` (one line, says what is wrong); nothing else escapes.

Speed matters (a backfill reads hundreds of thousands of documents). The XML is parsed once with lxml (about
58 µs per corpus document against 179 µs for ``xml.etree``) and walked by hand: one pass over the top-level
children and one ``iter()`` per table row; ``findtext``/XPath per field cost several times more. Footnotes are
read once per document, behind cheap substring tests. ``bench/parse.py`` prints the figures.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
from datetime import UTC, date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from lxml import etree

from bot.models import Filing, Holding, Owner, ParseError, Transaction

__all__ = ["parse_document", "parse_ownership_xml", "parse_sgml_submission"]

OWNERSHIP_TYPES = frozenset({"3", "3/A", "4", "4/A", "5", "5/A"})

_EASTERN = ZoneInfo("America/New_York")
log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------- parsing

_local = threading.local()


def _parser() -> etree.XMLParser:
    """One parser per thread (lxml parsers must not be shared across threads while parsing).

    remove_blank_text drops the indentation text nodes, which makes parsing ~30% faster and the walk shorter.
    Entities and DTDs are never fetched or expanded (no XXE / billion laughs from a hostile document).
    """
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            remove_blank_text=True,
            remove_comments=True,
            remove_pis=True,
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
            huge_tree=False,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


_UTF8_BOM = b"\xef\xbb\xbf"
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*\?>")
# C0 control characters that XML 1.0 forbids; a few hand-made filings contain a stray form feed.
_BAD_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


_LXML_POSITION = re.compile(r", line \d+, column \d+$")  # libxml2's message already names the line
_STRAY_BYTE = re.compile("[\udc80-\udcff]")


def _cp1252_char(m: re.Match[str]) -> str:
    return bytes([ord(m.group()) - 0xDC00]).decode("cp1252", errors="replace")


def _xml_root(data: bytes) -> etree._Element:
    try:
        return etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        first = exc
    except (
        ValueError,
        etree.LxmlError,
    ) as exc:  # refused before parsing, or a parser failure of another kind
        raise ParseError(f"unreadable XML: {_one_line(str(exc), 100)}") from None
    # Two repairs for real-world bytes that are not quite XML; anything else is reported as it is.
    msg = _LXML_POSITION.sub("", str(first.msg or first))
    repaired: bytes | None = None
    if "encoding" in msg or "UTF-8" in msg:
        # Windows-1252 bytes in a UTF-8 document (a smart quote pasted into a footnote): keep the valid UTF-8,
        # read each stray byte as cp1252, and drop the declaration since the bytes are now really UTF-8.
        text = _STRAY_BYTE.sub(_cp1252_char, data.decode("utf-8", errors="surrogateescape"))
        repaired = _XML_DECL.sub(b"", text.encode("utf-8"), count=1)
    elif "invalid Char value" in msg:
        repaired = _BAD_CONTROL.sub(b" ", data)
    if repaired is not None:
        try:
            return etree.fromstring(repaired, _parser())
        except etree.XMLSyntaxError:
            pass
    raise ParseError(_syntax_reason(data, msg)) from None


def _syntax_reason(data: bytes, msg: str) -> str:
    head = data[:4096].lstrip(_UTF8_BOM + b" \t\r\n")
    if not head:
        return "empty document"
    if _looks_html(head):
        return _html_reason(data)
    if b"<ownershipDocument" in data and not data.rstrip().endswith(b"</ownershipDocument>"):
        return f"truncated XML: the document ends before </ownershipDocument> ({_one_line(msg, 90)})"
    if not head.startswith(b"<"):
        return f"not XML: the document starts with {_one_line(head[:24].decode('latin-1'), 30)!r}"
    return f"malformed XML: {_one_line(msg, 120)}"


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)


def _looks_html(head: bytes) -> bool:
    low = head[:1024].lower()
    return (
        low.startswith((b"<!doctype html", b"<html")) or b"<html" in low
    ) and b"<ownershipdocument" not in low


def _html_reason(data: bytes) -> str:
    m = _HTML_TITLE.search(data[:16384])
    title = _one_line(m.group(1).decode("utf-8", "replace"), 80) if m else ""
    reason = "HTML page where an ownership XML was expected"
    return f"{reason} (title: {title})" if title else reason


# -------------------------------------------------------------------------------------------- value helpers


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text or None


def _num(text: str | None) -> float | None:
    """A share count or price; None when blank or not a number (never 0 for "unknown")."""
    if text is None:
        return None
    try:
        value = float(text)  # the common case: "2154572", "6.24" (float() ignores surrounding whitespace)
    except ValueError:
        text = text.strip().replace(",", "").replace("$", "")
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            return None
    return value if math.isfinite(value) else None


def _day(text: str | None) -> date | None:
    """ISO date; a timezone suffix ("2024-07-19-05:00") is dropped: the filer meant the calendar day."""
    if not text:
        return None
    text = text.strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


_BOOLS = {
    "1": True,
    "0": False,
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "y": True,
    "n": False,
}


def _bool(text: str | None) -> bool | None:
    """1/0/true/false in any case; None when absent or blank (absent is "unknown", not False)."""
    if text is None:
        return None
    return _BOOLS.get(text.strip().lower())


def _squash(text: str) -> str:
    """Runs of whitespace → one space (only when there are any: most texts have none, and split/join costs)."""
    text = text.strip()
    if "  " in text or "\n" in text or "\t" in text or "\r" in text:
        return " ".join(text.split())
    return text


def _upper(text: str | None) -> str | None:
    text = _clean(text)
    return text.upper() if text else None


def _cik(text: str | None, what: str) -> int:
    text = _clean(text)
    if text is None:
        raise ParseError(f"no {what} CIK")
    try:
        cik = int(text)
    except ValueError:
        raise ParseError(f"{what} CIK is not a number: {_one_line(text, 30)!r}") from None
    if cik <= 0:
        raise ParseError(f"{what} CIK is not valid: {text!r}")
    return cik


def _ticker(text: str | None) -> str | None:
    text = _upper(text)
    if text is None or text in ("NONE", "N/A", "NA", "-", "--"):
        return None
    return text


# ----------------------------------------------------------------------------------------- footnote reading
#
# Footnotes are read once per document, on lowercased text, and every regex sits behind a cheap substring test
# or starts with a literal: most footnotes say none of these things, and Python regexes that must be tried at
# every position of a paragraph cost tens of microseconds each, which adds up over a backfill.

_PLAN = re.compile(r"10\s*b\s*5\s*[-\u2010\u2011\u2012\u2013\u2014]?\s*1\b")
# A sentence that denies what it mentions: "No shares were sold by the reporting person to generate funds to pay
# the exercise price or underlying tax obligations" (TSLA_0001494730-19-000002), "not pursuant to a plan".
_NEGATION = re.compile(r"\b(?:no|not|none|never|neither|nor)\b")
# "sold partially to satisfy the reporting person's tax withholding obligations" (TSLA_0000899243-21-049992):
# part of the sale was a choice, so the row is not flagged as a pure sell-to-cover.
_PARTIAL = re.compile(r"\b(?:partially|partly|in part|a portion|portion of)\b")
_COVER = re.compile(
    r"sell[\s-]+to[\s-]+cover"
    r"|s(?:old|ales?|ell)\b[^.;]{0,80}?\b(?:cover|satisfy|pay|fund)\b[^.;]{0,80}?\b(?:tax|withholding)"
)
_WEIGHTED_AVERAGE = re.compile(r"weighted[\s-]+average")
_RANGE = re.compile(r"prices\s+ranging\s+from")
_PRIVATE = re.compile(
    r"private\s+placement"
    r"|directly\s+(?:from|with)\s+the\s+(?:issuer|company|issuing\s+company)"
    r"|(?:offering|placement|sale)\s+(?:by|of|from)\s+the\s+(?:issuer|company)\b"
    r"|(?:issuer|company)['\u2019]s\s+(?:[\w-]+\s+){0,4}offering"
    r"|purchased\s+(?:[\w,-]+\s+){0,8}from\s+the\s+(?:issuer|company)\b"
    r"|subscription\s+agreement\s+with\s+the\s+(?:issuer|company)"
)
_PLAN_IN_REMARKS = re.compile(r"pursuant\s+to|effected\s+under|made\s+under|in\s+accordance\s+with")

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH_RE = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
# "September 14, 2021" (any spacing: Musk's footnotes say "SEPTEMBER  14"), "Sept. 14 2021", "14 September 2021",
# "3/5/2022", "03/05/22", "2022-03-05".
_DATE = re.compile(
    rf"\b(?:(?P<mon>{_MONTH_RE})\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})"
    rf"|(?P<day2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:day\s+of\s+)?(?P<mon2>{_MONTH_RE})\.?,?\s+(?P<year2>\d{{4}})"
    r"|(?P<m3>\d{1,2})/(?P<d3>\d{1,2})/(?P<y3>\d{4}|\d{2})(?!\d)"
    r"|(?P<y4>\d{4})-(?P<m4>\d{2})-(?P<d4>\d{2}))"
)
# Words that introduce the adoption: "adopted on ...", "adopted by the reporting person's trust on ...",
# "entered into on 3/5/2022", "established ...", "a 10b5-1 plan dated ...".
_ADOPTION_WORDS = ("adopt", "entered into", "establish", "plan dated")


def _match_date(m: re.Match[str]) -> date | None:
    g = m.groupdict()
    try:
        if g["mon"]:
            return date(int(g["year"]), _MONTHS[g["mon"][:3]], int(g["day"]))
        if g["mon2"]:
            return date(int(g["year2"]), _MONTHS[g["mon2"][:3]], int(g["day2"]))
        if g["m3"]:
            year = int(g["y3"])
            if year < 100:
                year += 2000 if year < 70 else 1900
            return date(year, int(g["m3"]), int(g["d3"]))
        return date(int(g["y4"]), int(g["m4"]), int(g["d4"]))
    except ValueError:  # "February 30", "13/45/2022": not a date
        return None


def _adoption_date(low: str) -> date | None:
    """The plan's adoption date: the first date after an adoption word in the same sentence, else a date just
    before "adopt" ("On May 1, 2023, the reporting person adopted ..."); None when the text gives none."""
    for word in _ADOPTION_WORDS:
        pos = low.find(word)
        while pos >= 0:
            after = pos + len(word)
            for m in _DATE.finditer(low, after, after + 100):
                if "." in low[after : m.start()] or ";" in low[after : m.start()]:
                    break  # the date belongs to another sentence
                found = _match_date(m)
                if found is not None:
                    return found
            pos = low.find(word, after)
    pos = low.find("adopt")
    while pos >= 0:
        start = max(0, pos - 80)
        before = [m for m in _DATE.finditer(low, start, pos) if "." not in low[m.end() : pos]]
        if before:
            found = _match_date(before[-1])
            if found is not None:
                return found
        pos = low.find("adopt", pos + 5)
    return None


def _sentence(low: str, start: int, end: int) -> str:
    """The sentence around low[start:end] (an abbreviation like "Inc." ends it early: fine for a negation test)."""
    left = low.rfind(". ", 0, start)
    right = low.find(". ", end)
    return low[left + 1 : right if right >= 0 else len(low)]


def _denied(sentence: str) -> bool:
    return ("no" in sentence or "never" in sentence) and _NEGATION.search(sentence) is not None


def _affirmed(pattern: re.Pattern[str], low: str) -> re.Match[str] | None:
    """First match of pattern whose sentence does not deny it."""
    for m in pattern.finditer(low):
        if not _denied(_sentence(low, m.start(), m.end())):
            return m
    return None


def _says_weighted_average(low: str) -> bool:
    """The reported price is an average of several fills.

    "weighted average price", or the range alone ("sold in multiple transactions at prices ranging from ...",
    as GOOG_0001127602-15-028697 words most of its rows). "volume-weighted average share price" is how a grant
    was sized, not what the price column means.
    """
    if "prices ranging" in low and _RANGE.search(low):
        return True
    pos = low.find("weighted")
    while pos >= 0:
        if not low.endswith(("volume-", "volume "), 0, pos) and _WEIGHTED_AVERAGE.match(low, pos):
            return True
        pos = low.find("weighted", pos + 8)
    return False


class _Note:
    """What one footnote says; read once per document and shared by every row that cites it."""

    __slots__ = ("_private", "adoption", "cover", "low", "plan", "text", "wavg")

    def __init__(self, text: str) -> None:
        self.text = text
        low = self.low = text.lower()
        plan = "10" in low and _affirmed(_PLAN, low) is not None
        self.plan = plan
        self.adoption = _adoption_date(low) if plan else None
        cover = False
        if ("tax" in low or "withh" in low or "cover" in low) and (
            "sell" in low or "sold" in low or "sale" in low
        ):
            m = _affirmed(_COVER, low)
            cover = m is not None and not _PARTIAL.search(_sentence(low, m.start(), m.end()))
        self.cover = cover
        self.wavg = ("weighted" in low or "prices ranging" in low) and _says_weighted_average(low)
        self._private: bool | None = None

    @property
    def private(self) -> bool:
        """Bought from the issuer (placement, offering): asked for code P rows only, so read lazily."""
        if self._private is None:
            low = self.low
            self._private = (
                "placement" in low or "issu" in low or "offering" in low or "company" in low
            ) and (_affirmed(_PRIVATE, low) is not None)
        return self._private


def remarks_plan(remarks: str | None) -> tuple[bool, date | None]:
    """Does the remarks field say the trades were made under a 10b5-1 plan?

    Some filers state the plan once in remarks instead of a row footnote (GOOG_0001209191-22-024550:
    "All transactions reported in this Form 4 were effected pursuant to a Rule 10b5-1 Trading Plan ...").
    We read that as covering the open-market rows (codes S and P) only: in those filings the other rows are
    conversions that merely feed the sales, and "plan" matters for how a buy or a sell is read. Remarks that
    only mention a plan (adopted, terminated, not used) do not count: the sentence must say the trades were
    made pursuant to / under it.
    """
    if not remarks:
        return False, None
    low = " ".join(remarks.split()).lower()
    if "10" not in low:
        return False, None
    for m in _PLAN.finditer(low):
        sentence = _sentence(low, m.start(), m.end())
        if not _denied(sentence) and _PLAN_IN_REMARKS.search(sentence):
            return True, _adoption_date(low)
    return False, None


# ---------------------------------------------------------------------------------------------- the rows


def _flatten(row: etree._Element) -> tuple[dict[str, str | None], list[str]]:
    """One table row → {field tag: text} and its footnote ids in order of first reference.

    Pre-order walk: a ``<value>`` belongs to the last field element seen before it (values and footnoteIds are
    leaves). transactionCode and equitySwapInvolved carry their text directly. Field names are unique within a
    row, so one flat dict is enough. Footnote ids may sit on a field, on a container (transactionCoding) or
    next to a value: all are collected. This loop is the hot spot of a backfill: keep it lean.
    """
    values: dict[str, str | None] = {}
    ids: list[str] = []
    field = ""
    for el in row.iter():
        tag = el.tag
        if tag == "value":
            values[field] = el.text
        elif tag == "footnoteId":
            fid = el.get("id")
            if fid not in ids:
                ids.append(fid)
        else:
            field = tag
            if tag in _DIRECT_TEXT:
                values[tag] = el.text
    return values, ids


_DIRECT_TEXT = frozenset({"transactionCode", "equitySwapInvolved"})


class _RowNotes(NamedTuple):
    """What the footnotes cited by one row say, taken together."""

    texts: tuple[str, ...]  # in order of first reference, each text once
    plan: bool
    adoption: date | None  # from the first plan footnote that gives a date
    cover: bool
    wavg: bool
    notes: tuple[_Note, ...]

    @property
    def private(self) -> bool:
        return any(note.private for note in self.notes)


_NO_NOTES = _RowNotes((), False, None, False, False, ())


class Footnotes:
    """The document's footnotes: id → text, with each footnote read once and each combination of ids once."""

    __slots__ = ("_read", "_rows", "texts")

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts
        self._read: dict[str, _Note] = {}
        self._rows: dict[tuple[str, ...], _RowNotes] = {}

    def for_row(self, ids: list[str]) -> _RowNotes:
        if not ids:
            return _NO_NOTES
        key = tuple(ids)
        found = self._rows.get(key)
        if found is not None:  # rows of one filing often cite the same footnotes
            return found
        notes: list[_Note] = []
        texts: list[str] = []
        plan = cover = wavg = False
        adoption: date | None = None
        for fid in ids:
            note = self._read.get(fid)
            if note is None:
                text = self.texts.get(fid)
                if text is None:  # cited but never defined: nothing to read
                    continue
                note = self._read[fid] = _Note(text)
            notes.append(note)
            if note.text not in texts:
                texts.append(note.text)
            if note.plan:
                plan = True
                if adoption is None:
                    adoption = note.adoption
            cover = cover or note.cover
            wavg = wavg or note.wavg
        found = self._rows[key] = _RowNotes(tuple(texts), plan, adoption, cover, wavg, tuple(notes))
        return found


def _transaction(
    values: dict[str, str | None],
    ids: list[str],
    seq: int,
    is_derivative: bool,
    notes: Footnotes,
    document_plan: tuple[bool, date | None],
) -> Transaction:
    get = values.get
    code = get("transactionCode")
    code = code.strip().upper() if code else None
    if not code:
        table = "derivative" if is_derivative else "non-derivative"
        raise ParseError(f"{table} transaction row {seq} has no transaction code")
    price = _num(get("transactionPricePerShare"))
    if price == 0.0:
        # Filers type $0 for gifts, grants and conversions: there is no price, and a $0 would drag averages.
        price = None
    cited = notes.for_row(ids)
    plan, adoption = cited.plan, cited.adoption
    # "Bought from the issuer" only matters for a purchase (and is only read then).
    private = code == "P" and cited.private
    if not plan and document_plan[0] and code in ("S", "P"):
        plan, adoption = True, document_plan[1]
    if is_derivative:
        exercise_price = _num(get("conversionOrExercisePrice"))
        exercise_date = _day(get("exerciseDate"))
        expiration_date = _day(get("expirationDate"))
        underlying_title = _clean(get("underlyingSecurityTitle"))
        underlying_shares = _num(get("underlyingSecurityShares"))
    else:
        exercise_price = underlying_shares = None
        exercise_date = expiration_date = None
        underlying_title = None
    # Inline strip/upper on the fields every row has: helper calls are a measurable share of a backfill.
    title = get("securityTitle")
    acq = get("transactionAcquiredDisposedCode")
    direct = get("directOrIndirectOwnership")
    nature = get("natureOfOwnership")
    deemed = get("deemedExecutionDate")
    timeliness = get("transactionTimeliness")
    swap = get("equitySwapInvolved")
    return Transaction(
        seq=seq,
        is_derivative=is_derivative,
        security_title=title.strip() if title else "",
        transaction_date=_day(get("transactionDate")),
        code=code,
        acquired_disposed=(acq.strip().upper() or None) if acq else None,
        shares=_num(get("transactionShares")),
        price=price,
        shares_owned_after=_num(get("sharesOwnedFollowingTransaction")),
        direct_indirect=(direct.strip().upper() or None) if direct else None,
        ownership_nature=(nature.strip() or None) if nature else None,
        deemed_execution_date=_day(deemed) if deemed else None,
        timeliness=(timeliness.strip().upper() or None) if timeliness else None,
        equity_swap=_BOOLS.get(swap.strip().lower()) if swap else None,
        footnotes=cited.texts,
        plan_footnote=plan,
        plan_adoption_date=adoption,
        sell_to_cover=cited.cover,
        private_from_issuer=private,
        weighted_average_price=cited.wavg,
        conversion_or_exercise_price=exercise_price,
        exercise_date=exercise_date,
        expiration_date=expiration_date,
        underlying_title=underlying_title,
        underlying_shares=underlying_shares,
    )


def _holding(
    values: dict[str, str | None], ids: list[str], seq: int, is_derivative: bool, notes: Footnotes
) -> Holding:
    get = values.get
    return Holding(
        seq=seq,
        is_derivative=is_derivative,
        security_title=_clean(get("securityTitle")) or "",
        shares_owned=_num(get("sharesOwnedFollowingTransaction")),
        direct_indirect=_upper(get("directOrIndirectOwnership")),
        ownership_nature=_clean(get("natureOfOwnership")),
        footnotes=notes.for_row(ids).texts,
        conversion_or_exercise_price=_num(get("conversionOrExercisePrice")) if is_derivative else None,
        exercise_date=_day(get("exerciseDate")) if is_derivative else None,
        expiration_date=_day(get("expirationDate")) if is_derivative else None,
        underlying_title=_clean(get("underlyingSecurityTitle")) if is_derivative else None,
        underlying_shares=_num(get("underlyingSecurityShares")) if is_derivative else None,
    )


def _owner(el: etree._Element) -> Owner:
    cik_text: str | None = None
    name: str | None = None
    rel: dict[str, str | None] = {}
    for part in el:
        tag = part.tag
        if tag == "reportingOwnerId":
            for c in part:
                if c.tag == "rptOwnerCik":
                    cik_text = c.text
                elif c.tag == "rptOwnerName":
                    name = c.text
        elif tag == "reportingOwnerRelationship":
            for c in part:
                rel[c.tag] = c.text
    return Owner(
        cik=_cik(cik_text, "reporting owner"),
        name=" ".join(name.split()) if name else "",
        is_director=bool(_bool(rel.get("isDirector"))),
        is_officer=bool(_bool(rel.get("isOfficer"))),
        is_ten_percent_owner=bool(_bool(rel.get("isTenPercentOwner"))),
        is_other=bool(_bool(rel.get("isOther"))),
        officer_title=_clean(rel.get("officerTitle")),
        other_text=_clean(rel.get("otherText")),
    )


# ------------------------------------------------------------------------------------------ the document

_TOP_TEXT = frozenset(
    {
        "schemaVersion",
        "documentType",
        "periodOfReport",
        "dateOfOriginalSubmission",
        "notSubjectToSection16",
        "aff10b5One",
        "remarks",
    }
)
_ROW_KIND = {
    "nonDerivativeTransaction": (False, False),  # (is_derivative, is_holding)
    "nonDerivativeHolding": (False, True),
    "derivativeTransaction": (True, False),
    "derivativeHolding": (True, True),
}


def _localname(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _strip_namespaces(root: etree._Element) -> None:
    """EDGAR's ownership XML is unqualified; a namespaced copy (re-serialised by some tool) is made so."""
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.startswith("{"):
            el.tag = el.tag.rpartition("}")[2]


def _document(
    root: etree._Element,
    accession: str,
    accession_known: bool,
    accepted_at: datetime | None,
    filed_date: date | None,
) -> Filing:
    """Walk the parsed ownershipDocument into a Filing (where and when it was filed come from the caller)."""
    tag = root.tag
    if tag != "ownershipDocument":
        local = _localname(tag)
        if local == "ownershipDocument":
            _strip_namespaces(root)
        elif local.lower() == "html":
            raise ParseError("HTML page where an ownership XML was expected")
        else:
            raise ParseError(f"not an ownership document: root element <{local or '?'}>")

    top: dict[str, str | None] = {}
    issuer: dict[str, str | None] = {}
    owners: list[Owner] = []
    rows: list[tuple[bool, bool, dict[str, str | None], list[str]]] = []
    footnotes: dict[str, str] = {}
    for child in root:
        tag = child.tag
        if tag in _TOP_TEXT:
            top[tag] = child.text
        elif tag == "reportingOwner":
            owners.append(_owner(child))
        elif tag == "nonDerivativeTable" or tag == "derivativeTable":
            for row in child:
                kind = _ROW_KIND.get(row.tag)
                if kind is not None:
                    values, ids = _flatten(row)
                    rows.append((kind[0], kind[1], values, ids))
        elif tag == "issuer":
            for c in child:
                issuer[c.tag] = c.text
        elif tag == "footnotes":
            for fn in child:
                if fn.tag == "footnote":
                    fid = fn.get("id")
                    if fid:
                        # Whitespace collapsed: footnotes are wrapped by the filer's software, not by meaning.
                        text = fn.text if len(fn) == 0 else "".join(fn.itertext())
                        footnotes[fid] = _squash(text) if text else ""

    document_type = _upper(top.get("documentType"))
    if document_type is None:
        raise ParseError("no documentType in the ownership document")
    if document_type not in OWNERSHIP_TYPES:
        raise ParseError(f"not an ownership document: documentType {_one_line(document_type, 20)}")
    if not issuer:
        raise ParseError("no issuer in the ownership document")
    issuer_cik = _cik(issuer.get("issuerCik"), "issuer")
    if not owners:
        raise ParseError("no reporting owner in the ownership document")

    remarks_text = top.get("remarks")
    remarks = _squash(remarks_text) or None if remarks_text else None
    document_plan = remarks_plan(remarks)
    notes = Footnotes(footnotes)
    transactions: list[Transaction] = []
    holdings: list[Holding] = []
    # seq counts rows within their own table (Table I non-derivative, Table II derivative), from 1, separately
    # for trades and holdings: (accession, is_derivative, seq) names a row.
    counters = [0, 0, 0, 0]
    for is_derivative, is_holding, values, ids in rows:
        slot = is_derivative * 2 + is_holding
        counters[slot] += 1
        if is_holding:
            holdings.append(_holding(values, ids, counters[slot], is_derivative, notes))
        else:
            transactions.append(_transaction(values, ids, counters[slot], is_derivative, notes, document_plan))

    return Filing(
        accession=accession,
        accession_known=accession_known,
        document_type=document_type,
        schema_version=_clean(top.get("schemaVersion")),
        period_of_report=_day(top.get("periodOfReport")),
        date_of_original_submission=_day(top.get("dateOfOriginalSubmission")),
        issuer_cik=issuer_cik,
        issuer_name=" ".join((issuer.get("issuerName") or "").split()),
        ticker=_ticker(issuer.get("issuerTradingSymbol")),
        owners=tuple(owners),
        transactions=tuple(transactions),
        holdings=tuple(holdings),
        aff10b5one=_bool(top.get("aff10b5One")),
        remarks=remarks,
        not_subject_to_section16=_bool(top.get("notSubjectToSection16")),
        accepted_at=accepted_at,
        filed_date=filed_date,
        footnotes=footnotes,
    )


# ------------------------------------------------------------------------------ where and when it was filed

_ACC_DASHED = re.compile(r"(?<!\d)(\d{10}-\d{2}-\d{6})(?!\d)")
_ACC_PLAIN = re.compile(r"(?<!\d)(\d{18})(?!\d)")


def _normal_accession(text: str) -> str:
    text = text.strip()
    if len(text) == 18 and text.isdigit():
        return f"{text[:10]}-{text[10:12]}-{text[12:]}"
    return text


def _accession_from_source(source: str | None) -> str | None:
    """``.../000089924321044060/doc4.xml`` or ``TSLA_0000899243-21-044060_doc4.xml`` → the accession number."""
    if not source:
        return None
    found = _ACC_DASHED.findall(source)
    if found:
        return found[-1]  # the last one is nearest the file
    found = _ACC_PLAIN.findall(source)
    if found:
        return _normal_accession(found[-1])
    return None


def _utc(accepted_at: datetime | None) -> datetime | None:
    if accepted_at is None:
        return None
    if accepted_at.tzinfo is None or accepted_at.utcoffset() is None:
        raise ParseError("accepted_at must be timezone-aware (EDGAR acceptance time in UTC)")
    return accepted_at.astimezone(UTC)


def _as_bytes(data: object) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    raise ParseError(f"expected the document's bytes, got {type(data).__name__}")


def parse_ownership_xml(
    data: bytes,
    *,
    accession: str | None = None,
    accepted_at: datetime | None = None,
    filed_date: date | None = None,
    source: str | None = None,
) -> Filing:
    """Parse an ``<ownershipDocument>`` (Form 3, 4, 5 or an amendment).

    ``accession``: given, or found in ``source`` (a path or URL), or else ``sha256:<hex>`` of the bytes with
    ``accession_known=False``. ``accepted_at`` must be timezone-aware; it is stored in UTC, and stays None when
    unknown (a bare XML file does not say when it was accepted).
    """
    data = _as_bytes(data)
    accepted_utc = _utc(accepted_at)
    if not data.strip():
        raise ParseError("empty document")
    if accession is not None and accession.strip():
        acc, known = _normal_accession(accession), True
    else:
        found = _accession_from_source(source)
        if found is not None:
            acc, known = found, True
        else:
            acc, known = "sha256:" + hashlib.sha256(data).hexdigest(), False
    root = _xml_root(data)
    try:
        return _document(root, acc, known, accepted_utc, filed_date)
    except ParseError:
        raise
    except Exception as exc:  # a bug or an input nobody foresaw: still a ParseError for the quarantine
        log.exception("unexpected error parsing ownership document %s", acc)
        raise ParseError(
            f"unreadable ownership document ({type(exc).__name__}: {_one_line(str(exc), 80)})"
        ) from exc


_SGML_ACCESSION = re.compile(rb"(?:<ACCESSION-NUMBER>|ACCESSION NUMBER:)[ \t]*(\d{10}-?\d{2}-?\d{6})")
_SGML_ACCEPTED = re.compile(rb"(?:<ACCEPTANCE-DATETIME>|ACCEPTANCE-DATETIME:)[ \t]*(\d{14})")
_SGML_FILED = re.compile(rb"(?:<FILING-DATE>|FILED AS OF DATE:)[ \t]*(\d{8})")
_SGML_TYPE = re.compile(rb"(?:<TYPE>|CONFORMED SUBMISSION TYPE:)[ \t]*([^\s<]+)")
_SGML_MARKERS = (
    b"<SEC-DOCUMENT>",
    b"<SEC-HEADER>",
    b"<SUBMISSION>",
    b"<IMS-DOCUMENT>",
    b"-----BEGIN PRIVACY",
)


def _ownership_xml_block(data: bytes) -> bytes | None:
    """The first ``<XML>...</XML>`` block holding an ownershipDocument (a truncated one runs to the end)."""
    pos = 0
    while True:
        start = data.find(b"<XML>", pos)
        if start < 0:
            return None
        start += 5
        end = data.find(b"</XML>", start)
        block = data[start:] if end < 0 else data[start:end]
        if b"<ownershipDocument" in block:
            return block.strip()
        if end < 0:
            return None
        pos = end + 6


def parse_sgml_submission(data: bytes, *, source: str | None = None) -> Filing:
    """Parse EDGAR's complete submission (``.txt``; the ``.nc`` dissemination file uses tags for the header).

    The header gives the accession (``ACCESSION NUMBER:`` / ``<ACCESSION-NUMBER>``), the acceptance time
    (``<ACCEPTANCE-DATETIME>``, Eastern time without offset → UTC) and the filing date (``FILED AS OF DATE:`` /
    ``<FILING-DATE>``). A header without an acceptance time (the .nc files) leaves accepted_at None.
    """
    return _parse_sgml(_as_bytes(data), source=source)


def _parse_sgml(
    data: bytes,
    *,
    source: str | None,
    accession: str | None = None,
    accepted_at: datetime | None = None,
    filed_date: date | None = None,
) -> Filing:
    if not data.strip():
        raise ParseError("empty document")
    doc_start = data.find(b"<DOCUMENT>")
    header = data[:doc_start] if doc_start >= 0 else data[:65536]

    if accession is None:
        m = _SGML_ACCESSION.search(header)
        accession = _normal_accession(m.group(1).decode("ascii").replace("-", "")) if m else None
    if accepted_at is None:
        m = _SGML_ACCEPTED.search(header)
        if m:
            try:
                naive = datetime.strptime(m.group(1).decode("ascii"), "%Y%m%d%H%M%S")
            except ValueError:
                raise ParseError(
                    f"bad ACCEPTANCE-DATETIME in the SGML header: {m.group(1).decode()!r}"
                ) from None
            accepted_at = naive.replace(tzinfo=_EASTERN).astimezone(UTC)
    if filed_date is None:
        m = _SGML_FILED.search(header)
        if m:
            try:
                filed_date = datetime.strptime(m.group(1).decode("ascii"), "%Y%m%d").date()
            except ValueError:
                raise ParseError(f"bad filing date in the SGML header: {m.group(1).decode()!r}") from None

    xml = _ownership_xml_block(data)
    if xml is None:
        m = _SGML_TYPE.search(header)
        form = m.group(1).decode("latin-1") if m else None
        if form is not None and form.upper() not in OWNERSHIP_TYPES:
            raise ParseError(f"not an ownership document: submission type {_one_line(form, 20)}")
        raise ParseError("SGML submission without an <XML> ownership document")
    return parse_ownership_xml(
        xml, accession=accession, accepted_at=accepted_at, filed_date=filed_date, source=source
    )


def parse_document(
    data: bytes,
    *,
    source: str | None = None,
    accession: str | None = None,
    accepted_at: datetime | None = None,
    filed_date: date | None = None,
) -> Filing:
    """Parse whatever EDGAR (or a file) gave us: an SGML submission, an ownership XML, or junk → ParseError.

    Explicit ``accession`` / ``accepted_at`` / ``filed_date`` win over what an SGML header says.
    """
    data = _as_bytes(data)
    head = data[:4096].lstrip(_UTF8_BOM + b" \t\r\n")
    if not head:
        raise ParseError("empty document")
    if head.startswith(_SGML_MARKERS) or (
        not head.startswith((b"<?xml", b"<ownershipDocument"))
        and (
            b"<ACCEPTANCE-DATETIME>" in head or b"ACCESSION NUMBER:" in head or b"<ACCESSION-NUMBER>" in head
        )
    ):
        return _parse_sgml(
            data, source=source, accession=accession, accepted_at=_utc(accepted_at), filed_date=filed_date
        )
    if _looks_html(head):
        raise ParseError(_html_reason(data))
    if head.startswith(b"<"):
        return parse_ownership_xml(
            data, accession=accession, accepted_at=accepted_at, filed_date=filed_date, source=source
        )
    if head.startswith((b"{", b"[")):
        raise ParseError("JSON where an ownership XML was expected")
    if head.startswith(b"%PDF"):
        raise ParseError("PDF where an ownership XML was expected")
    raise ParseError(f"not XML: the document starts with {_one_line(head[:24].decode('latin-1'), 30)!r}")
