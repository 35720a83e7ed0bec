"""SEC's quarterly Insider Transactions Data Sets (``{YYYY}q{N}_form345.zip``) → :class:`bot.models.Filing`.

A data set is EDGAR's ownership XML flattened into tab-separated tables keyed by ACCESSION_NUMBER:
SUBMISSION (one row per filing), REPORTINGOWNER (one per owner: a joint filing has several), NONDERIV_TRANS,
NONDERIV_HOLDING, DERIV_TRANS, DERIV_HOLDING (one per table row) and FOOTNOTES (one per footnote). This module
turns them back into the same ``Filing`` objects the XML parser makes, so the store applies the same rules
(joint filers once, the 4/A rule, codes, the plan flag). It knows nothing of the store or of EDGAR.

Reading, by header name (columns move between quarters: 2024 Q3's SUBMISSION lacks AFF10B5ONE and the
contact columns its own metadata lists). A missing *required* column stops the load with a message naming
the file and the column; a missing optional one reads as blank; an unknown extra column is ignored.

Streaming, in two passes with bounded memory whatever the size of the quarter:

1. **Partition** (:func:`partition`): every table is read once, row by row, and each row is written to one of
   ``B`` bucket files, already projected to the columns we use in a fixed order. SUBMISSION goes first and
   places each filing by a hash of its issuer CIK, remembering accession → bucket (the only per-filing state
   held: ~36,000 short strings a quarter); the other tables' rows follow their accession. ``B`` grows with
   the data set's uncompressed size (~:data:`BUCKET_BYTES` of TSV a bucket), so a 10x larger quarter gets
   10x more buckets, not 10x more memory per bucket.
2. **Join** (:func:`read_bucket`): one bucket at a time, all of its tables are loaded (every row of a filing
   is in the same bucket), grouped by accession and mapped to filings, issuer by issuer.

Peak memory is therefore one bucket's rows and filings plus the accession map: no table is ever held whole.
A data set that fails the first pass (truncated zip, bad header) stops before anything reaches the store.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import re
import zipfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import IO, Self

from bot.models import Filing, Holding, Owner, Transaction

# The footnote reading (10b5-1 plan and its adoption date, sell-to-cover, weighted-average price, bought from
# the issuer) is the XML parser's, so both paths flag the same rows. bot.sec.form4 does not export it (yet):
# these two private names are the only coupling, both used in _FootnoteReader below.
from bot.sec.form4 import Footnotes, remarks_plan

__all__ = [
    "BUCKET_BYTES",
    "OPTIONAL_TABLES",
    "REQUIRED_TABLES",
    "TABLES",
    "BucketResult",
    "Column",
    "DatasetCorrupt",
    "DatasetError",
    "DatasetFiles",
    "Partitioned",
    "Rejected",
    "TableSpec",
    "normalise_flag",
    "partition",
    "read_bucket",
    "read_dataset",
]

log = logging.getLogger(__name__)

# About this much TSV per bucket. Loaded rows take ~10x their text in Python objects, so one bucket in
# memory stays around 100 MB at most; the real 2025 Q2 (~40 MB of tables) gets ~5 buckets.
BUCKET_BYTES = 8 * 1024 * 1024
MAX_BUCKETS = 512  # one open file per bucket while a table is split: stay well under the usual ulimit
MAX_BAD_ROWS = 1000  # past this many malformed rows the file is damaged, not quirky

_ACCESSION_RE = re.compile(r"^\d{10}-\d{2}-\d{6}$")
OWNERSHIP_TYPES = frozenset({"3", "3/A", "4", "4/A", "5", "5/A"})


# ------------------------------------------------------------------------------------------------ errors


class DatasetError(ValueError):
    """The data set cannot be loaded; ``str(error)`` says which file and what to do, for the user."""


class DatasetCorrupt(DatasetError):
    """The archive itself is damaged (truncated download, bad CRC): fetch it again."""


# ------------------------------------------------------------------------------------------ table specs


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    required: bool = False
    aliases: tuple[str, ...] = ()  # other spellings seen in SEC's files or metadata


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def footnote_columns(self) -> tuple[str, ...]:
        """The ``*_FN`` columns, in the order their fields appear in the XML (the order footnotes are cited)."""
        return tuple(c.name for c in self.columns if c.name.endswith("_FN"))


def _cols(*specs: str | Column) -> tuple[Column, ...]:
    """``"NAME"`` optional, ``"NAME!"`` required, ``"NAME+"`` optional with its ``NAME_FN`` footnote column."""
    out: list[Column] = []
    for spec in specs:
        if isinstance(spec, Column):
            out.append(spec)
        elif spec.endswith("!"):
            out.append(Column(spec[:-1], required=True))
        elif spec.endswith("+"):
            out += [Column(spec[:-1]), Column(spec[:-1] + "_FN")]
        else:
            out.append(Column(spec))
    return tuple(out)


_OWNERSHIP_COLUMNS = ("DIRECT_INDIRECT_OWNERSHIP+", "NATURE_OF_OWNERSHIP+")
# SEC's files name the coding footnote EQUITY_SWAP_TRANS_CD_FN; its metadata says EQUITY_SWAP_INVOLVED_FN.
_CODING_COLUMNS = (
    "TRANS_CODE!",
    "EQUITY_SWAP_INVOLVED",
    Column("EQUITY_SWAP_TRANS_CD_FN", aliases=("EQUITY_SWAP_INVOLVED_FN",)),
    "TRANS_TIMELINESS+",
)
# DERIV_TRANS spells it EXCERCISE_DATE, DERIV_HOLDING EXERCISE_DATE: accept either in both.
_EXERCISE_COLUMNS = (
    Column("EXERCISE_DATE", aliases=("EXCERCISE_DATE",)),
    Column("EXERCISE_DATE_FN", aliases=("EXCERCISE_DATE_FN",)),
)

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec("SUBMISSION", _cols(
            "ACCESSION_NUMBER!", "FILING_DATE", "PERIOD_OF_REPORT", "DATE_OF_ORIG_SUB", "NOT_SUBJECT_SEC16",
            "DOCUMENT_TYPE!", "ISSUERCIK!", "ISSUERNAME", "ISSUERTRADINGSYMBOL", "REMARKS", "AFF10B5ONE",
        )),
        TableSpec("REPORTINGOWNER", _cols(
            "ACCESSION_NUMBER!", "RPTOWNERCIK!", "RPTOWNERNAME", "RPTOWNER_RELATIONSHIP", "RPTOWNER_TITLE",
            "RPTOWNER_TXT",
        )),
        TableSpec("NONDERIV_TRANS", _cols(
            "ACCESSION_NUMBER!", "NONDERIV_TRANS_SK", "SECURITY_TITLE+", "TRANS_DATE+", "DEEMED_EXECUTION_DATE+",
            *_CODING_COLUMNS, "TRANS_SHARES+", "TRANS_PRICEPERSHARE+", "TRANS_ACQUIRED_DISP_CD+",
            "SHRS_OWND_FOLWNG_TRANS+", "VALU_OWND_FOLWNG_TRANS_FN", *_OWNERSHIP_COLUMNS,
        )),
        TableSpec("DERIV_TRANS", _cols(
            "ACCESSION_NUMBER!", "DERIV_TRANS_SK", "SECURITY_TITLE+", "CONV_EXERCISE_PRICE+", "TRANS_DATE+",
            "DEEMED_EXECUTION_DATE+", *_CODING_COLUMNS, "TRANS_SHARES+", "TRANS_TOTAL_VALUE_FN",
            "TRANS_PRICEPERSHARE+", "TRANS_ACQUIRED_DISP_CD+", *_EXERCISE_COLUMNS, "EXPIRATION_DATE+",
            "UNDLYNG_SEC_TITLE+", "UNDLYNG_SEC_SHARES+", "UNDLYNG_SEC_VALUE_FN", "SHRS_OWND_FOLWNG_TRANS+",
            "VALU_OWND_FOLWNG_TRANS_FN", *_OWNERSHIP_COLUMNS,
        )),
        TableSpec("NONDERIV_HOLDING", _cols(
            "ACCESSION_NUMBER!", "NONDERIV_HOLDING_SK", "SECURITY_TITLE+", "TRANS_FORM_TYPE_FN",
            "SHRS_OWND_FOLWNG_TRANS+", "VALU_OWND_FOLWNG_TRANS_FN", *_OWNERSHIP_COLUMNS,
        )),
        TableSpec("DERIV_HOLDING", _cols(
            "ACCESSION_NUMBER!", "DERIV_HOLDING_SK", "SECURITY_TITLE+", "CONV_EXERCISE_PRICE+",
            "TRANS_FORM_TYPE_FN", *_EXERCISE_COLUMNS, "EXPIRATION_DATE+", "UNDLYNG_SEC_TITLE+",
            "UNDLYNG_SEC_SHARES+", "UNDLYNG_SEC_VALUE_FN", "SHRS_OWND_FOLWNG_TRANS+", "VALU_OWND_FOLWNG_TRANS_FN",
            *_OWNERSHIP_COLUMNS,
        )),
        TableSpec("FOOTNOTES", _cols("ACCESSION_NUMBER!", "FOOTNOTE_ID!", "FOOTNOTE_TXT!")),
    )
}  # fmt: skip

# Without these a filing would be stored wrong for good (no insider, no Table I trades), and accession-level
# idempotence means a later complete load would not repair it: refuse rather than store half filings.
REQUIRED_TABLES = ("SUBMISSION", "REPORTINGOWNER", "NONDERIV_TRANS")
# Without these the filings lose derivative rows, holdings or footnote texts, but their trades are right.
OPTIONAL_TABLES = ("DERIV_TRANS", "NONDERIV_HOLDING", "DERIV_HOLDING", "FOOTNOTES")
_CHILD_TABLES = tuple(t for t in TABLES if t != "SUBMISSION")


# ---------------------------------------------------------------------------------------- value helpers

_BOOLS = {"1": True, "0": False, "true": True, "false": False, "y": True, "n": False, "yes": True, "no": False}


def normalise_flag(text: str | None) -> bool | None:
    """AFF10B5ONE / NOT_SUBJECT_SEC16 as SEC writes them (0, 1, true, false, blank) → True, False or None.

    Blank means the box was absent (filings before EDGAR release 23.1): unknown, never False.
    """
    if text is None:
        return None
    return _BOOLS.get(text.strip().lower())


_MONTHS = {m: i for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}


@lru_cache(maxsize=16384)  # a quarter has a few hundred distinct dates, each seen thousands of times
def _day(text: str) -> date | None:
    """``30-SEP-2024`` (the data sets' DD-MON-YYYY); ISO dates are accepted too. Blank or junk → None."""
    text = text.strip()
    if not text:
        return None
    parts = text.split("-")
    if len(parts) == 3 and parts[1].upper() in _MONTHS:
        try:
            return date(int(parts[2]), _MONTHS[parts[1].upper()], int(parts[0]))
        except ValueError:
            return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _num(text: str) -> float | None:
    """A share count or price; None when blank or not a number (never 0 for "unknown")."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _text(value: str) -> str | None:
    value = value.strip()
    return value or None


def _squash(value: str) -> str:
    return " ".join(value.split())


def _ticker(value: str) -> str | None:
    value = value.strip().upper()
    return None if value in ("", "NONE", "N/A", "NA", "-", "--") else value


def _footnote_ids(values: Iterator[str]) -> list[str]:
    """``"F21, F20"`` cells → ids in order of first citation."""
    ids: list[str] = []
    for cell in values:
        if cell:
            for part in cell.split(","):
                fid = part.strip()
                if fid and fid not in ids:
                    ids.append(fid)
    return ids


def _sk(value: str, fallback: int) -> tuple[int, int]:
    # The surrogate key follows the rows' order in the document (checked on 2025 Q2: sorting by it chains
    # the "shares owned following" of consecutive rows); rows without one keep their file order.
    return (int(value), fallback) if value.isdigit() else (1 << 62, fallback)


# ---------------------------------------------------------------------------------------- the files


class DatasetFiles:
    """The TSV tables of one data set: a ``*_form345.zip`` or the folder it was unpacked into.

    A table is found by file name: ``SUBMISSION.tsv``, or ``SUBMISSION_<anything>.tsv`` (the excerpts in the
    test fixtures), in any sub-folder, any case.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.label = self.path.name
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, str] = {}
        self._sizes: dict[str, int] = {}
        if self.path.is_dir():
            names = {str(p): p.stat().st_size for p in sorted(self.path.rglob("*")) if p.is_file()}
        elif self.path.is_file():
            try:
                self._zip = zipfile.ZipFile(self.path)
            except zipfile.BadZipFile:
                raise DatasetCorrupt(
                    f"{self.label} is not a complete zip archive (a truncated download?): delete it and "
                    "download it again"
                ) from None
            names = {i.filename: i.file_size for i in self._zip.infolist() if not i.is_dir()}
        else:
            raise FileNotFoundError(f"no such file or folder: {self.path}")
        for name, size in names.items():
            table = _table_of(name)
            if table is None:
                continue
            if table in self._members:
                self.close()
                raise DatasetError(
                    f"{self.label} holds two {table} tables ({Path(self._members[table]).name} and "
                    f"{Path(name).name}): keep one"
                )
            self._members[table] = name
            self._sizes[table] = size

    @property
    def tables(self) -> frozenset[str]:
        return frozenset(self._members)

    def file_name(self, table: str) -> str:
        return Path(self._members[table]).name

    def size(self, table: str) -> int:
        return self._sizes.get(table, 0)

    def open_binary(self, table: str) -> IO[bytes]:
        name = self._members[table]
        if self._zip is not None:
            return self._zip.open(name)
        return open(name, "rb")

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _table_of(member: str) -> str | None:
    name = Path(member).name.upper()
    if not name.endswith(".TSV"):
        return None
    stem = name[:-4]
    for table in TABLES:
        if stem == table or stem.startswith(table + "_"):
            return table
    return None


# ----------------------------------------------------------------------------------- pass 1: partition


@dataclass(frozen=True)
class Partitioned:
    """What :func:`partition` left in ``workdir``: bucket files per table, and what it saw on the way."""

    workdir: Path
    label: str
    buckets: int
    tables: frozenset[str]
    rows: dict[str, int]  # table → data rows read
    missing_optional: tuple[str, ...]
    bad_rows: dict[str, str] = field(default_factory=dict)  # accession → why one of its rows is unreadable
    orphans: dict[str, int] = field(default_factory=dict)  # table → rows whose accession is not in SUBMISSION

    @property
    def submissions(self) -> int:
        return self.rows.get("SUBMISSION", 0)

    def bucket_file(self, table: str, bucket: int) -> Path:
        return self.workdir / f"{table}.{bucket:03d}.tsv"


def partition(
    files: DatasetFiles,
    workdir: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    bucket_bytes: int = BUCKET_BYTES,
) -> Partitioned:
    """Pass 1: split every table into buckets (see the module docstring).

    A filing's bucket is a hash of its *issuer* CIK, so that one issuer's filings meet in one bucket and can be
    stored together: the store's per-issuer work (issuer row, the 4/A rule) then runs about once per issuer
    instead of once per batch the issuer appears in. Only SUBMISSION knows the issuer, so it is read first and
    its accession → bucket map is the one thing held in memory (a few MB a quarter). Rows of the other tables
    follow their accession; rows whose accession SUBMISSION lacks are counted and dropped here.

    Raises :class:`DatasetError` for a missing required table or column, :class:`DatasetCorrupt` for a damaged
    archive. ``progress(bytes_read, total_bytes)`` is called every few thousand rows.
    """
    missing = [t for t in REQUIRED_TABLES if t not in files.tables]
    if missing:
        have = ", ".join(sorted(files.tables)) or "none"
        raise DatasetError(
            f"{files.label} lacks the {', '.join(missing)} table(s), without which its filings would be "
            f"incomplete (tables found: {have})"
        )
    missing_optional = tuple(t for t in OPTIONAL_TABLES if t not in files.tables)
    if missing_optional:
        log.warning("%s has no %s table(s): loading without them", files.label, ", ".join(missing_optional))
    present = [t for t in TABLES if t in files.tables]  # SUBMISSION first: it places the others
    total = sum(files.size(t) for t in present)
    buckets = max(1, min(MAX_BUCKETS, math.ceil(total / bucket_bytes)))
    workdir.mkdir(parents=True, exist_ok=True)
    split = _Splitter(files, workdir, buckets)
    done_before = 0
    for table in present:
        def tick(done: int, _base: int = done_before) -> None:
            if progress:
                progress(_base + done, total)

        split.table(table, tick)
        done_before += files.size(table)
        if progress:
            progress(done_before, total)
    return Partitioned(workdir, files.label, buckets, frozenset(present), split.rows, missing_optional,
                       split.bad_rows, dict(split.orphans))


class _Splitter:
    """Pass 1's state: where each accession went, what was malformed, what had no SUBMISSION row."""

    def __init__(self, files: DatasetFiles, workdir: Path, buckets: int) -> None:
        self.files = files
        self.workdir = workdir
        self.buckets = buckets
        self.placement: dict[str, int] = {}  # accession → bucket, from SUBMISSION
        self.rows: dict[str, int] = {}
        self.bad_rows: dict[str, str] = {}
        self.orphans: Counter[str] = Counter()

    def table(self, table: str, tick: Callable[[int], None]) -> None:
        files, buckets = self.files, self.buckets
        spec = TABLES[table]
        name = files.file_name(table)
        is_submission = table == "SUBMISSION"
        with contextlib.ExitStack() as stack:
            outputs = [
                stack.enter_context(open(self.workdir / f"{table}.{b:03d}.tsv", "w", encoding="utf-8", newline=""))
                for b in range(buckets)
            ]
            writers = [csv.writer(f, delimiter="\t", lineterminator="\n") for f in outputs]
            raw = stack.enter_context(files.open_binary(table))
            # SEC writes UTF-8; a stray byte from a hand-typed remark must not stop a quarter.
            text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
            reader = csv.reader(text, delimiter="\t")
            try:
                header = next(reader, None)
                if header is None:
                    raise DatasetError(f"{files.label}: {name} is empty (not even a header row)")
                picks = _column_picks(spec, header, f"{files.label}: {name}")
                acc_index = picks[0]
                assert acc_index is not None  # ACCESSION_NUMBER is required in every table
                issuer_index = picks[spec.names.index("ISSUERCIK")] if is_submission else None
                width = len(header)
                count = 0
                for row in reader:
                    if len(row) != width:
                        if row and row != [""]:
                            accession = self._bad_row(row, acc_index, f"{name} line {reader.line_num} has "
                                                      f"{len(row)} fields where the header has {width}")
                            if is_submission:
                                # Placed all the same, as a blank row: its filing is then set aside whole.
                                bucket = self.placement.setdefault(accession, _bucket(accession, buckets))
                                writers[bucket].writerow([accession] + [""] * (len(picks) - 1))
                        continue
                    count += 1
                    accession = row[acc_index].strip()
                    if is_submission:
                        assert issuer_index is not None
                        issuer = row[issuer_index].strip().lstrip("0")
                        bucket = self.placement.setdefault(accession, _bucket(issuer or accession, buckets))
                    else:
                        found = self.placement.get(accession)
                        if found is None:
                            self.orphans[table] += 1
                            continue
                        bucket = found
                    out = [accession]
                    out += ["" if i is None else row[i] for i in picks[1:]]
                    writers[bucket].writerow(out)
                    if count % 20000 == 0:
                        tick(_position(raw))
            except csv.Error as exc:
                raise DatasetError(
                    f"{files.label}: {name} line {reader.line_num} is not valid TSV ({exc}): is the file damaged?"
                ) from None
            except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
                raise DatasetCorrupt(
                    f"{files.label}: {name} is damaged inside the archive ({exc}): delete {files.label} and "
                    "download it again"
                ) from None
        log.info("%s: %s, %d rows into %d bucket(s)", files.label, name, count, buckets)
        self.rows[table] = count

    def _bad_row(self, row: list[str], accession_index: int, reason: str) -> str:
        label = self.files.label
        accession = row[accession_index].strip() if accession_index < len(row) else ""
        if not _ACCESSION_RE.match(accession):
            raise DatasetError(f"{label}: {reason}, and no accession number to set it aside: is the file damaged?")
        self.bad_rows.setdefault(accession, reason)
        if len(self.bad_rows) > MAX_BAD_ROWS:
            raise DatasetError(
                f"{label}: more than {MAX_BAD_ROWS} malformed rows (last: {reason}): is the file damaged?"
            )
        return accession


def _bucket(key: str, buckets: int) -> int:
    return zlib.crc32(key.encode()) % buckets


def _column_picks(spec: TableSpec, header: list[str], where: str) -> list[int | None]:
    """Index in the file of each of the spec's columns (None: optional and absent), by header name."""
    names = [h.strip().lstrip("\ufeff").upper() for h in header]
    position = {n: i for i, n in reversed(list(enumerate(names)))}  # first occurrence wins
    picks: list[int | None] = []
    missing: list[str] = []
    for column in spec.columns:
        index = next((position[n] for n in (column.name, *column.aliases) if n in position), None)
        if index is None and column.required:
            missing.append(column.name)
        picks.append(index)
    if missing:
        raise DatasetError(
            f"{where} has no {', '.join(missing)} column (required); its header is: {' '.join(names[:40])}"
        )
    known = {n for c in spec.columns for n in (c.name, *c.aliases)}
    extra = [n for n in names if n not in known]
    if extra:
        log.debug("%s: ignoring columns %s", where, ", ".join(extra))
    return picks


def _position(raw: IO[bytes]) -> int:
    try:
        return raw.tell()
    except (OSError, ValueError):
        return 0


# -------------------------------------------------------------------------------------- pass 2: join


@dataclass(frozen=True, slots=True)
class Rejected:
    """Something set aside instead of stored: a filing (``source`` = its accession) or a table's orphan rows."""

    source: str
    reason: str


@dataclass(frozen=True)
class BucketResult:
    filings: list[Filing]  # by issuer CIK, then accession: one issuer's filings are contiguous
    rejected: list[Rejected]


def read_bucket(part: Partitioned, bucket: int) -> BucketResult:
    """Pass 2 for one bucket: group its rows by accession and map them to filings."""
    subs: dict[str, list[str]] = {}
    for row in _read_bucket_rows(part, "SUBMISSION", bucket):
        if row[0] in subs:
            log.warning("%s: accession %s appears twice in SUBMISSION; keeping the first", part.label, row[0])
            continue
        subs[row[0]] = row
    children: dict[str, dict[str, list[list[str]]]] = {t: defaultdict(list) for t in _CHILD_TABLES}
    for table in _CHILD_TABLES:
        grouped = children[table]
        for row in _read_bucket_rows(part, table, bucket):
            grouped[row[0]].append(row)
    filings: list[Filing] = []
    rejected: list[Rejected] = []
    issuer = _S["ISSUERCIK"]
    for accession in sorted(subs, key=lambda a: (subs[a][issuer].strip().lstrip("0"), a)):
        if accession in part.bad_rows:
            rejected.append(Rejected(accession, part.bad_rows[accession]))
            continue
        try:
            filings.append(_filing(accession, subs[accession], {t: children[t].get(accession, []) for t in children}))
        except _RowError as exc:
            rejected.append(Rejected(accession, str(exc)))
    return BucketResult(filings, rejected)


def _read_bucket_rows(part: Partitioned, table: str, bucket: int) -> Iterator[list[str]]:
    path = part.bucket_file(table, bucket)
    if not path.exists():
        return
    with open(path, encoding="utf-8", newline="") as f:
        yield from csv.reader(f, delimiter="\t")


def read_dataset(
    path: Path, workdir: Path, *, bucket_bytes: int = BUCKET_BYTES
) -> Iterator[Filing | Rejected]:
    """Every filing of a data set (zip or folder), then what was set aside. ``workdir`` must be empty/new.

    The simple synchronous face of :func:`partition` + :func:`read_bucket` (tests, scripts).
    """
    with DatasetFiles(path) as files:
        part = partition(files, workdir, bucket_bytes=bucket_bytes)
    for bucket in range(part.buckets):
        result = read_bucket(part, bucket)
        yield from result.filings
        yield from result.rejected
    yield from orphan_rejections(part)


def orphan_rejections(part: Partitioned) -> list[Rejected]:
    """One entry per table whose rows name accessions SUBMISSION lacks (none in a complete SEC data set)."""
    return [
        Rejected(f"{part.label}!{table}", f"{n} row(s) name accession numbers missing from SUBMISSION")
        for table, n in sorted(part.orphans.items())
    ]


# --------------------------------------------------------------------------------------- the mapping


class _RowError(ValueError):
    """A filing that cannot be built; the message says why, for the quarantine."""


# Computed once: the mapping below runs per row.
_NAMES = {name: spec.names for name, spec in TABLES.items()}
_FN_COLUMNS = {name: spec.footnote_columns for name, spec in TABLES.items()}
_S = {n: i for i, n in enumerate(TABLES["SUBMISSION"].names)}
_O = {n: i for i, n in enumerate(TABLES["REPORTINGOWNER"].names)}
_F = {n: i for i, n in enumerate(TABLES["FOOTNOTES"].names)}


def _filing(accession: str, sub: list[str], rows: dict[str, list[list[str]]]) -> Filing:
    if not _ACCESSION_RE.match(accession):
        raise _RowError(f"not an accession number: {accession[:30]!r}")
    document_type = sub[_S["DOCUMENT_TYPE"]].strip().upper()
    if document_type not in OWNERSHIP_TYPES:
        raise _RowError(f"not an ownership document: DOCUMENT_TYPE {document_type[:20]!r}")
    issuer_cik = _cik(sub[_S["ISSUERCIK"]], "issuer")
    owners: dict[int, Owner] = {}
    for row in rows["REPORTINGOWNER"]:
        owner = _owner(row)
        owners.setdefault(owner.cik, owner)  # one row per owner; a repeated one is the same person
    if not owners:
        raise _RowError("no reporting owner in REPORTINGOWNER")
    notes = {
        r[_F["FOOTNOTE_ID"]].strip(): _squash(r[_F["FOOTNOTE_TXT"]]) for r in rows["FOOTNOTES"]
    }
    remarks = _text(_squash(sub[_S["REMARKS"]]))  # whitespace collapsed, as the parser does
    reader = _FootnoteReader(notes, remarks)
    transactions = [
        *_transactions(rows["NONDERIV_TRANS"], TABLES["NONDERIV_TRANS"], False, reader),
        *_transactions(rows["DERIV_TRANS"], TABLES["DERIV_TRANS"], True, reader),
    ]
    holdings = [
        *_holdings(rows["NONDERIV_HOLDING"], TABLES["NONDERIV_HOLDING"], False, reader),
        *_holdings(rows["DERIV_HOLDING"], TABLES["DERIV_HOLDING"], True, reader),
    ]
    return Filing(
        accession=accession,
        accession_known=True,
        document_type=document_type,
        schema_version=None,  # not in the data sets
        period_of_report=_day(sub[_S["PERIOD_OF_REPORT"]]),
        date_of_original_submission=_day(sub[_S["DATE_OF_ORIG_SUB"]]),
        issuer_cik=issuer_cik,
        issuer_name=_squash(sub[_S["ISSUERNAME"]]),
        ticker=_ticker(sub[_S["ISSUERTRADINGSYMBOL"]]),
        owners=tuple(owners.values()),
        transactions=tuple(transactions),
        holdings=tuple(holdings),
        aff10b5one=normalise_flag(sub[_S["AFF10B5ONE"]]),
        remarks=remarks,
        not_subject_to_section16=normalise_flag(sub[_S["NOT_SUBJECT_SEC16"]]),
        accepted_at=None,  # the data sets carry the filing date only, never the acceptance time
        filed_date=_day(sub[_S["FILING_DATE"]]),
        footnotes=notes,
    )


def _cik(value: str, what: str) -> int:
    value = value.strip()
    if not value.isdigit() or int(value) <= 0:
        raise _RowError(f"{what} CIK is not valid: {value[:20]!r}")
    return int(value)


def _owner(row: list[str]) -> Owner:
    roles = {
        re.sub(r"[^a-z]", "", part.lower()) for part in re.split(r"[,;]", row[_O["RPTOWNER_RELATIONSHIP"]])
    }
    return Owner(
        cik=_cik(row[_O["RPTOWNERCIK"]], "reporting owner"),
        name=_squash(row[_O["RPTOWNERNAME"]]),
        is_director="director" in roles,
        is_officer="officer" in roles,
        is_ten_percent_owner="tenpercentowner" in roles,
        is_other="other" in roles,
        officer_title=_text(row[_O["RPTOWNER_TITLE"]]),
        other_text=_text(row[_O["RPTOWNER_TXT"]]),
    )


def _ordered(rows: list[list[str]], spec: TableSpec) -> list[dict[str, str]]:
    names = _NAMES[spec.name]
    keyed = sorted(((_sk(r[1], i), r) for i, r in enumerate(rows)), key=lambda kr: kr[0])
    return [dict(zip(names, r)) for _, r in keyed]


def _transactions(rows: list[list[str]], spec: TableSpec, is_derivative: bool,
                  reader: _FootnoteReader) -> Iterator[Transaction]:
    fn_columns = _FN_COLUMNS[spec.name]
    table = "derivative" if is_derivative else "non-derivative"
    # seq counts rows within their own table from 1, as the XML parser does: (accession, is_derivative, seq).
    for seq, r in enumerate(_ordered(rows, spec), start=1):
        code = r["TRANS_CODE"].strip().upper()
        if not code:
            raise _RowError(f"{table} transaction row {seq} has no transaction code")
        price = _num(r["TRANS_PRICEPERSHARE"])
        if price == 0.0:
            price = None  # as the parser: a typed $0 (gift, grant, conversion) is no price
        ids = _footnote_ids(r[c] for c in fn_columns)
        flags = reader.row_flags(ids, code)
        swap = r["EQUITY_SWAP_INVOLVED"]
        yield Transaction(
            seq=seq,
            is_derivative=is_derivative,
            security_title=r["SECURITY_TITLE"].strip(),
            transaction_date=_day(r["TRANS_DATE"]),
            code=code,
            acquired_disposed=_text(r["TRANS_ACQUIRED_DISP_CD"].upper()),
            shares=_num(r["TRANS_SHARES"]),
            price=price,
            shares_owned_after=_num(r["SHRS_OWND_FOLWNG_TRANS"]),
            direct_indirect=_text(r["DIRECT_INDIRECT_OWNERSHIP"].upper()),
            ownership_nature=_text(r["NATURE_OF_OWNERSHIP"]),
            deemed_execution_date=_day(r["DEEMED_EXECUTION_DATE"]),
            timeliness=_text(r["TRANS_TIMELINESS"].upper()),
            equity_swap=normalise_flag(swap) if swap else None,
            footnotes=flags.texts,
            plan_footnote=flags.plan,
            plan_adoption_date=flags.adoption,
            sell_to_cover=flags.cover,
            private_from_issuer=flags.private,
            weighted_average_price=flags.wavg,
            conversion_or_exercise_price=_num(r["CONV_EXERCISE_PRICE"]) if is_derivative else None,
            exercise_date=_day(r["EXERCISE_DATE"]) if is_derivative else None,
            expiration_date=_day(r["EXPIRATION_DATE"]) if is_derivative else None,
            underlying_title=_text(r["UNDLYNG_SEC_TITLE"]) if is_derivative else None,
            underlying_shares=_num(r["UNDLYNG_SEC_SHARES"]) if is_derivative else None,
        )


def _holdings(rows: list[list[str]], spec: TableSpec, is_derivative: bool,
              reader: _FootnoteReader) -> Iterator[Holding]:
    fn_columns = _FN_COLUMNS[spec.name]
    for seq, r in enumerate(_ordered(rows, spec), start=1):
        yield Holding(
            seq=seq,
            is_derivative=is_derivative,
            security_title=r["SECURITY_TITLE"].strip(),
            shares_owned=_num(r["SHRS_OWND_FOLWNG_TRANS"]),
            direct_indirect=_text(r["DIRECT_INDIRECT_OWNERSHIP"].upper()),
            ownership_nature=_text(r["NATURE_OF_OWNERSHIP"]),
            footnotes=reader.texts(_footnote_ids(r[c] for c in fn_columns)),
            conversion_or_exercise_price=_num(r["CONV_EXERCISE_PRICE"]) if is_derivative else None,
            exercise_date=_day(r["EXERCISE_DATE"]) if is_derivative else None,
            expiration_date=_day(r["EXPIRATION_DATE"]) if is_derivative else None,
            underlying_title=_text(r["UNDLYNG_SEC_TITLE"]) if is_derivative else None,
            underlying_shares=_num(r["UNDLYNG_SEC_SHARES"]) if is_derivative else None,
        )


@dataclass(frozen=True, slots=True)
class _RowFlags:
    texts: tuple[str, ...] = ()
    plan: bool = False
    adoption: date | None = None
    cover: bool = False
    wavg: bool = False
    private: bool = False


class _FootnoteReader:
    """One filing's footnotes, read by the XML parser's own classes so both paths flag rows alike:
    ``Footnotes.for_row`` reads each footnote once and combines a row's (plan and its first adoption date,
    sell-to-cover, weighted average); the two rules the parser applies in its row code are repeated here:
    "bought from the issuer" is asked for code P rows only, and remarks that state a 10b5-1 plan cover the
    S and P rows no footnote flags."""

    __slots__ = ("_notes", "_remarks", "_remarks_plan")

    def __init__(self, texts: dict[str, str], remarks: str | None) -> None:
        self._notes = Footnotes(texts)
        self._remarks = remarks
        self._remarks_plan: tuple[bool, date | None] | None = None

    def texts(self, ids: list[str]) -> tuple[str, ...]:
        return self._notes.for_row(ids).texts

    def row_flags(self, ids: list[str], code: str) -> _RowFlags:
        cited = self._notes.for_row(ids)
        plan, adoption = cited.plan, cited.adoption
        if not plan and code in ("S", "P") and self._remarks:
            if self._remarks_plan is None:
                self._remarks_plan = remarks_plan(self._remarks)
            plan, adoption = self._remarks_plan
        return _RowFlags(cited.texts, plan, adoption, cited.cover, cited.wavg, code == "P" and cited.private)
