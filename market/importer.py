"""Read candle files: Binance's public kline CSVs and plain OHLCV CSVs, optionally zipped.

The layout is told from the first line of each file:
- Binance kline files (data.binance.vision): no header; open time, open, high, low, close,
  volume, close time, ... (12 columns; only the first 6 are read, so a headerless
  time,open,high,low,close,volume file reads too). Open time is in milliseconds, or in
  microseconds in the newer spot files; both are read, told apart by magnitude.
  Provider "binance".
- plain CSV: a header naming a time column (open_time, timestamp, time, date or datetime) and
  open, high, low, close, volume, in any order and case; other columns are ignored. Times are
  epoch seconds, milliseconds or microseconds, or ISO 8601 text (naive means UTC).
  Provider "csv".

Imported candles are stored under the data source "import": their own record, never mixed
with the demo or live series that analyses and settlement read.

Files are read a block of lines at a time and checked column-wise (no Python loop per row).
A row that breaks a rule is rejected with its reason and never stored: nothing is repaired.
"""

import csv
import io
import re
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from collectors.assets import validate_asset
from collectors.frames import COLUMNS
from collectors.timeframes import bar_index_at, bar_indexes, bar_open_times, to_utc, utc_now

BLOCK_BYTES = 16 * 1024 * 1024
TIME_COLUMNS = ("open_time", "timestamp", "time", "date", "datetime")
IMPORT_SOURCE = "import"  # market.models.DataSource.IMPORT
KLINE_PROVIDER = "binance"
CSV_PROVIDER = "csv"
# Names a field past the expected ones: a row with one is malformed, not silently truncated.
EXTRA = "__extra_field__"

UNPARSEABLE = "unparseable"
REJECT_REASONS = (
    UNPARSEABLE,
    "price not positive",
    "negative volume",
    "high below low",
    "high below max(open, close)",
    "low above min(open, close)",
    "open time off the timeframe grid",
    "candle not closed yet",
)

_NS_MAX = np.iinfo(np.int64).max
_UNSIGNED = re.compile(r"\d+")
BOM = b"\xef\xbb\xbf"


KLINE_FIELDS = 12


class ImportFormatError(ValueError):
    """The file as a whole cannot be read: unknown layout or missing columns."""


@dataclass(frozen=True)
class Layout:
    kind: str  # "binance" or "csv"
    names: list[str]  # every field of a row, EXTRA last
    time_column: str

    @property
    def default_provider(self) -> str:
        return KLINE_PROVIDER if self.kind == "binance" else CSV_PROVIDER


@dataclass
class CandleBlock:
    """The valid candles of one block (sorted, unique open times) and what was left out."""

    frame: pd.DataFrame
    rows: int
    duplicates: int
    rejected: Counter[str]
    size: int  # bytes of the block, for progress


@dataclass
class ImportSummary:
    source: str = IMPORT_SOURCE
    provider: str = ""
    layout: str = ""
    rows_read: int = 0
    inserted: int = 0
    duplicates: int = 0  # repeated in the file or already stored
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


# Headerless files: the first six kline columns are read, a row may stop there but not run past 12.
KLINE_LAYOUT = Layout(
    "binance",
    ["open_time", *COLUMNS, *(f"field_{i}" for i in range(6, KLINE_FIELDS)), EXTRA],
    "open_time",
)


def detect_layout(first_line: str) -> Layout:
    fields = [f.strip().strip('"').strip() for f in first_line.split(",")]
    if _UNSIGNED.fullmatch(fields[0]):
        return KLINE_LAYOUT
    names = [f.lower().replace(" ", "_") for f in fields]
    if len(set(names)) != len(names):
        raise ImportFormatError(f"the header repeats a column name: {first_line.strip()!r}")
    time_column = next((name for name in TIME_COLUMNS if name in names), None)
    missing = [name for name in COLUMNS if name not in names]
    if time_column is None:
        missing.insert(0, "a time column (" + ", ".join(TIME_COLUMNS) + ")")
    if missing:
        raise ImportFormatError(f"the header lacks {', '.join(missing)}: {first_line.strip()!r}")
    return Layout("csv", [*names, EXTRA], time_column)


def epoch_to_ns(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nanoseconds, valid) from epoch numbers in s, ms, us or ns, told apart by magnitude."""
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        valid = (values > 0) & (values <= _NS_MAX)
        whole = np.where(valid, values, 0).astype(np.int64)
    else:
        values = values.astype(np.float64)
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(values) & (values > 0) & (values < 9.2e18)
            whole = np.where(valid, np.rint(values), 0).astype(np.int64)
    scale = np.select(
        [whole < 10**11, whole < 10**14, whole < 10**17], [10**9, 10**6, 10**3], default=1
    ).astype(np.int64)
    valid &= whole <= _NS_MAX // scale
    return np.where(valid, whole, 0) * scale, valid


def parse_open_times(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(nanoseconds since the epoch, valid) for epoch numbers or ISO 8601 text."""
    if raw.dtype.kind in "iuf":
        return epoch_to_ns(raw.to_numpy())
    numbers = pd.to_numeric(raw, errors="coerce")
    ns, valid = epoch_to_ns(numbers.to_numpy(dtype=np.float64, na_value=np.nan))
    text = numbers.isna() & raw.notna()
    if text.any():
        stamps = pd.to_datetime(raw[text], utc=True, errors="coerce", format="ISO8601")
        stamps = pd.DatetimeIndex(stamps).as_unit("ns")
        ns[text.to_numpy()] = np.where(stamps.isna(), 0, stamps.asi8)
        valid[text.to_numpy()] = ~stamps.isna()
    return ns, valid


def check_candles(
    ns: np.ndarray, time_ok: np.ndarray, values: np.ndarray, timeframe: str, now: datetime
) -> np.ndarray:
    """Index into REJECT_REASONS + 1 of the first rule each row breaks; 0 for a valid row."""
    opens, highs, lows, closes, volumes = values.T
    times = pd.DatetimeIndex(np.where(time_ok, ns, 0).view("datetime64[ns]")).tz_localize("UTC")
    bars = bar_indexes(times, timeframe)
    with np.errstate(invalid="ignore"):
        rules = [
            ~time_ok | ~np.isfinite(values).all(axis=1),
            (values[:, :4] <= 0).any(axis=1),
            volumes < 0,
            highs < lows,
            highs < np.maximum(opens, closes),
            lows > np.minimum(opens, closes),
            bar_open_times(bars, timeframe).asi8 != times.asi8,
            bars >= bar_index_at(now, timeframe),
        ]
    return np.select(rules, np.arange(1, len(rules) + 1), default=0)


def parse_block(data: bytes, layout: Layout, timeframe: str, now: datetime) -> CandleBlock:
    """Candles from a block of whole lines of one file (the header already removed)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            table = pd.read_csv(
                io.BytesIO(data),
                header=None,
                names=layout.names,
                index_col=False,
                quoting=csv.QUOTE_NONE,
                lineterminator="\n",
                skip_blank_lines=True,
                on_bad_lines="skip",  # more fields than EXTRA catches; counted below
                encoding_errors="replace",
                low_memory=False,
            )
    except (pd.errors.ParserError, pd.errors.EmptyDataError):
        table = pd.DataFrame(columns=layout.names)
    lines = count_lines(data, len(table))
    rejected: Counter[str] = Counter()
    if lines > len(table):
        rejected[UNPARSEABLE] += lines - len(table)  # lines the parser could not split
    values = np.empty((len(table), len(COLUMNS)))
    for position, column in enumerate(COLUMNS):
        numbers = pd.to_numeric(table[column], errors="coerce")
        values[:, position] = numbers.to_numpy(np.float64, na_value=np.nan)
    ns, time_ok = parse_open_times(table[layout.time_column])
    time_ok &= table[EXTRA].isna().to_numpy()
    codes = check_candles(ns, time_ok, values, timeframe, now)
    counts = np.bincount(codes, minlength=len(REJECT_REASONS) + 1)
    rejected.update({r: int(n) for r, n in zip(REJECT_REASONS, counts[1:], strict=True) if n})
    keep = codes == 0
    index = pd.DatetimeIndex(ns[keep].view("datetime64[ns]"), name="open_time").tz_localize("UTC")
    frame = pd.DataFrame(values[keep], index=index, columns=COLUMNS).sort_index(kind="stable")
    repeated = frame.index.duplicated(keep="first")
    frame = frame[~repeated]
    frame.attrs["rejected"] = 0
    return CandleBlock(
        frame=frame,
        rows=max(lines, len(table)),
        duplicates=int(repeated.sum()),
        rejected=rejected,
        size=len(data),
    )


def count_lines(data: bytes, parsed: int) -> int:
    """Non-blank lines in data; parsed (rows the CSV parser returned) is the usual answer."""
    newlines = data.count(b"\n") + (not data.endswith(b"\n") and bool(data))
    if newlines == parsed:
        return parsed  # no blank line and no line skipped: skip the slow count
    return sum(1 for line in data.split(b"\n") if line.strip(b" \t"))


def line_blocks(stream: BinaryIO, block_bytes: int = BLOCK_BYTES) -> Iterator[bytes]:
    """Blocks of whole lines."""
    rest = b""
    while True:
        chunk = stream.read(block_bytes)
        data = rest + chunk
        cut = data.rfind(b"\n") + 1 if chunk else len(data)
        if cut:
            yield data[:cut]
        rest = data[cut:]
        if not chunk:
            return


def normalise(data: bytes) -> bytes:
    # One physical line is one row: a lone \r or a quote must not join or split rows.
    data = data.replace(b"\r\n", b"\n").replace(b"\r", b" ").replace(b"\x00", b" ")
    return data.replace(b'"', b"")


def iter_candle_blocks(
    stream: BinaryIO,
    timeframe: str,
    *,
    now: datetime | None = None,
    block_bytes: int = BLOCK_BYTES,
    on_layout: Callable[[Layout], None] | None = None,
) -> Iterator[CandleBlock]:
    """The candles of one file, block by block. Raises ImportFormatError on a bad header."""
    now = to_utc(now or utc_now())
    layout = None
    for data in line_blocks(stream, block_bytes):
        size = len(data)
        data = normalise(data)
        if layout is None:
            data = data.removeprefix(BOM).lstrip(b" \t\n")
            if not data:
                continue
            first_line = data.split(b"\n", 1)[0]
            layout = detect_layout(first_line.decode("utf-8", errors="replace"))
            if on_layout:
                on_layout(layout)
            if layout.kind == "csv":
                data = data[len(first_line) + 1 :]
        block = parse_block(data, layout, timeframe, now)
        block.size = size
        yield block


@dataclass(frozen=True)
class Member:
    """One CSV to read: the file itself or a file inside a zip."""

    path: Path
    name: str  # inside the zip; "" for a plain file
    size: int

    @contextmanager
    def open(self) -> Iterator[BinaryIO]:
        if not self.name:
            with open(self.path, "rb") as stream:
                yield stream
            return
        with zipfile.ZipFile(self.path) as archive, archive.open(self.name) as stream:
            yield stream


def file_members(path: Path) -> list[Member]:
    """The CSV file itself, or the .csv files inside a zip (Binance ships one per zip)."""
    if not zipfile.is_zipfile(path):
        return [Member(path, "", path.stat().st_size)]
    with zipfile.ZipFile(path) as archive:
        infos = [i for i in archive.infolist() if i.filename.lower().endswith(".csv")]
    if not infos:
        raise ImportFormatError(f"{path} is a zip file with no .csv file inside")
    return [Member(path, i.filename, i.file_size) for i in sorted(infos, key=lambda i: i.filename)]


InsertCandles = Callable[..., int]


def import_file(
    path: Path,
    *,
    asset: str,
    timeframe: str,
    provider: str | None = None,
    insert: InsertCandles | None = None,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> ImportSummary:
    """Store the valid candles of a file (or zip of files); what was read, stored and left out.

    The candles are stored under the data source "import"; provider names who made the file
    (default: "binance" for kline files, "csv" for plain CSV).
    insert(frame, source=, asset=, timeframe=, provider=) stores a frame and returns the rows
    it added;
    the default is market.store.insert_candles. Bars already stored are kept as they are.
    """
    if insert is None:
        from market.store import insert_candles as insert
    validate_asset(asset)
    bar_index_at(utc_now(), timeframe)  # UnsupportedTimeframe before any reading
    summary = ImportSummary(provider=provider or "")

    def chosen(layout: Layout) -> None:
        summary.layout = summary.layout or layout.kind
        summary.provider = summary.provider or layout.default_provider

    for member in file_members(Path(path)):
        with member.open() as stream:
            for block in iter_candle_blocks(stream, timeframe, now=now, on_layout=chosen):
                summary.rows_read += block.rows
                summary.rejected.update(block.rejected)
                if len(block.frame):
                    added = insert(
                        block.frame,
                        source=summary.source,
                        asset=asset,
                        timeframe=timeframe,
                        provider=summary.provider,
                    )
                    summary.inserted += added
                    summary.duplicates += len(block.frame) - added
                summary.duplicates += block.duplicates
                if progress:
                    progress(block.size)
    return summary


def total_bytes(path: Path) -> int:
    return sum(member.size for member in file_members(Path(path)))
