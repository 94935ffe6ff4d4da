"""manage.py import_candles: Binance kline CSVs and plain OHLCV CSVs, zipped or not."""

import io
import math
import zipfile
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market import importer, store
from market.models import Candle
from tests.fake_binance import INTERVAL_MS, kline_rows, oversold_candles

HOUR_MS = INTERVAL_MS["1h"]
NOW = datetime(2024, 3, 14, 15, 30, tzinfo=UTC)


def kline_csv(frame: pd.DataFrame, *, micro: bool = False) -> str:
    """A Binance kline file body: no header, 12 columns, open and close times in ms (or us)."""
    lines = []
    for row in kline_rows(frame, HOUR_MS):
        if micro:
            row[0], row[6] = row[0] * 1000, row[6] * 1000 + 999
        lines.append(",".join(str(field) for field in row))
    return "\n".join(lines) + "\n"


def run_import(path, *extra: str) -> str:
    out = io.StringIO()
    call_command(
        "import_candles", str(path), "--asset", "BTCUSDT", "--timeframe", "1h",
        "--no-progress", *extra, stdout=out,
    )  # fmt: skip
    return out.getvalue()


def summary_line(output: str, label: str) -> int:
    line = next(line for line in output.splitlines() if line.strip().startswith(label))
    return int(line.split()[-1])


@pytest.fixture
def day() -> pd.DataFrame:
    """24 hourly candles, long closed."""
    return oversold_candles(HOUR_MS, bars=24, now=pd.Timestamp("2024-03-01", tz="UTC"))


@pytest.fixture
def kline_file(tmp_path, day):
    path = tmp_path / "BTCUSDT-1h-2024-02-29.csv"
    path.write_text(kline_csv(day))
    return path


def stored_frame(source="import") -> pd.DataFrame:
    return store.stored_candles(source, "BTCUSDT", "1h")


@pytest.mark.django_db
def test_importing_the_same_file_twice_stores_each_candle_once(kline_file, day):
    first = run_import(kline_file)
    second = run_import(kline_file)
    assert Candle.objects.count() == 24
    assert summary_line(first, "inserted") == 24
    assert summary_line(second, "inserted") == 0
    assert summary_line(second, "skipped as duplicates") == 24
    assert "source 'import' (provider 'binance')" in first
    frame = stored_frame()
    assert list(frame.index) == list(day.index)
    np.testing.assert_allclose(frame.to_numpy(), day.to_numpy(), rtol=1e-8)


@pytest.mark.django_db
def test_bad_rows_are_rejected_with_their_reason_and_never_stored(tmp_path, day):
    good = kline_csv(day.iloc[:4]).splitlines()
    t = int(day.index[10].value // 1_000_000)
    bad = [
        f"{t},100,99,101,100,1,0,0,0,0,0,0",  # high below low
        f"{t},100,101,99,100,-1,0,0,0,0,0,0",  # negative volume
        f"{t},abc,101,99,100,1,0,0,0,0,0,0",  # unparseable price
        f"{t},100,101,99,100,1,0,0,0,0,0,0,surplus",  # one field too many
        f"{t},100,101,99",  # too few fields
        f"{t},100,101,99,100,1,0,0,0,0,0,0,1,2,3",  # far too many fields
        f"{t},100,100.5,99,101,1,0,0,0,0,0,0",  # high below the close
        f"{t},100,101,100.5,100.8,1,0,0,0,0,0,0",  # low above the open
        f"{t},0,101,-1,100,1,0,0,0,0,0,0",  # a price at or below zero
        f"{t + 60_000},100,101,99,100,1,0,0,0,0,0,0",  # 1 minute past the hour
        f"{4_102_444_800_000},100,101,99,100,1,0,0,0,0,0,0",  # 2100: not closed yet
        f"{t},nan,101,99,100,1,0,0,0,0,0,0",  # not a number
    ]
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join([good[0], *bad, *good[1:]]) + "\n\n")

    summary = importer.import_file(path, asset="BTCUSDT", timeframe="1h")
    assert summary.rejected == Counter(
        {
            "unparseable": 5,
            "high below low": 1,
            "negative volume": 1,
            "high below max(open, close)": 1,
            "low above min(open, close)": 1,
            "price not positive": 1,
            "open time off the timeframe grid": 1,
            "candle not closed yet": 1,
        }
    )
    assert (summary.rows_read, summary.inserted, summary.duplicates) == (16, 4, 0)
    assert summary.rows_read == summary.inserted + summary.duplicates + summary.rejected_total
    assert list(stored_frame().index) == list(day.index[:4])


@pytest.mark.django_db
def test_the_summary_names_each_rejection_reason(tmp_path, day):
    path = tmp_path / "one-bad.csv"
    path.write_text(kline_csv(day) + f"{day.index[0].value // 1_000_000},1,0.5,2,1,1\n")
    output = run_import(path)
    assert summary_line(output, "rejected") == 1
    assert "high below low: 1" in output
    assert summary_line(output, "rows read") == 25


@pytest.mark.django_db
def test_a_zipped_file_imports_like_the_plain_one(tmp_path, kline_file, day):
    archive = tmp_path / "BTCUSDT-1h-2024-02-29.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.write(kline_file, kline_file.name)
    output = run_import(archive)
    assert summary_line(output, "inserted") == 24
    assert list(stored_frame().index) == list(day.index)
    assert summary_line(run_import(kline_file), "skipped as duplicates") == 24


@pytest.mark.django_db
def test_microsecond_open_times_give_the_same_candles_as_milliseconds(tmp_path, day):
    micro = tmp_path / "micro.csv"
    micro.write_text(kline_csv(day.iloc[:12], micro=True) + kline_csv(day.iloc[12:]))
    assert summary_line(run_import(micro), "inserted") == 24
    assert list(stored_frame().index) == list(day.index)


@pytest.mark.django_db
def test_plain_csv_with_a_header_is_stored_under_the_import_source(tmp_path, day):
    frame = day.iloc[:3]
    path = tmp_path / "ohlcv.csv"
    path.write_text(
        "Volume,Close,Low,High,Open,Date,Note\r\n"
        + "".join(
            f"{r.volume},{r.close},{r.low},{r.high},{r.open},{stamp},{note}\r\n"
            for (stamp, note), r in zip(
                [
                    (day.index[0].strftime("%Y-%m-%d %H:%M:%S"), "naive ISO is UTC"),
                    (day.index[1].isoformat(), "ISO with offset"),
                    (str(day.index[2].value // 1_000_000_000), "epoch seconds"),
                ],
                frame.itertuples(),
                strict=True,
            )
        )
    )
    output = run_import(path)
    assert "source 'import' (provider 'csv')" in output
    assert summary_line(output, "inserted") == 3
    np.testing.assert_array_equal(stored_frame("import").to_numpy(), frame.to_numpy())
    assert list(stored_frame("import").index) == list(frame.index)


@pytest.mark.django_db
def test_the_provider_option_names_who_made_the_file(kline_file):
    run_import(kline_file, "--provider", "archive")
    assert set(Candle.objects.values_list("source", "provider")) == {("import", "archive")}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content, words",
    [
        ("timestamp,open,high,low,close\n1,1,1,1,1\n", "volume"),
        ("when,open,high,low,close,volume\n", "time column"),
        ("2024-03-01,1,2,0.5,1.5,10\n", "time column"),
    ],
)
def test_an_unreadable_layout_is_refused_with_what_is_missing(tmp_path, content, words):
    path = tmp_path / "odd.csv"
    path.write_text(content)
    with pytest.raises(CommandError, match=words):
        run_import(path)
    assert not Candle.objects.exists()


@pytest.mark.django_db
def test_a_bad_timeframe_or_asset_is_refused_before_reading(kline_file):
    with pytest.raises(CommandError, match="timeframe"):
        call_command("import_candles", str(kline_file), "--asset", "BTCUSDT", "--timeframe", "7m")
    with pytest.raises(CommandError, match="asset"):
        call_command("import_candles", str(kline_file), "--asset", "btc/usdt", "--timeframe", "1h")


@pytest.mark.django_db(transaction=True)
def test_imported_candles_are_their_own_record_and_never_feed_the_live_series(
    binance, httpserver, tmp_path
):
    now = pd.Timestamp.now(tz="UTC")
    hourly = oversold_candles(HOUR_MS, bars=300, now=now)
    binance[("BTCUSDT", "1h")] = hourly
    path = tmp_path / "history.csv"
    path.write_text(kline_csv(hourly.iloc[:-2] * 2))  # not what the exchange serves
    run_import(path)
    cache.clear()
    frame = store.load_candles("BTCUSDT", "1h", 250, now=now)
    [(request, _)] = httpserver.log
    # Nothing live stored: the whole window is fetched, not just the tail after the import.
    assert int(request.args["startTime"]) == hourly.index[-250].value // 1_000_000
    assert list(frame.index) == list(hourly.index[-250:])
    assert frame["close"].to_numpy() == pytest.approx(hourly["close"].iloc[-250:].to_numpy())
    assert len(store.stored_candles("import", "BTCUSDT", "1h")) == 298
    cache.clear()


def test_blocks_split_anywhere_read_the_same_candles(day):
    data = kline_csv(day).encode()
    whole = pd.concat(b.frame for b in importer.iter_candle_blocks(io.BytesIO(data), "1h"))
    for size in (1, 50, 333):
        blocks = list(importer.iter_candle_blocks(io.BytesIO(data), "1h", block_bytes=size))
        assert sum(b.rows for b in blocks) == 24
        assert sum(b.size for b in blocks) == len(data)
        pd.testing.assert_frame_equal(pd.concat(b.frame for b in blocks), whole)


# ---- property: whatever the rows, the frames are clean and every row is accounted for ----

BASE_MS = int(pd.Timestamp("2024-03-01", tz="UTC").value // 1_000_000)
PRICE = st.one_of(
    st.integers(1, 10**9).map(lambda n: f"{n / 10**4:.4f}"),
    st.sampled_from(["0", "-1.5", "nan", "inf", "", "x", "1e400", " 7.25"]),
)
ROW = st.tuples(
    st.integers(0, 40),  # bar number
    st.sampled_from(["ms", "us", "iso", "off-grid"]),
    st.lists(PRICE, min_size=5, max_size=5),
    st.sampled_from([0, 0, 0, 1, -1]),  # fields added (one too many) or taken away
)


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def expected_valid(fields: list[str], stamp: str, extra: int) -> bool:
    o, h, lo, c, v = (number(f) for f in fields)
    return (
        extra == 0
        and stamp != "off-grid"
        and all(math.isfinite(x) for x in (o, h, lo, c, v))
        and min(o, h, lo, c) > 0
        and v >= 0
        and h >= max(o, c)
        and lo <= min(o, c)
    )


def format_row(bar: int, stamp: str, fields: list[str], extra: int, kline: bool) -> str:
    open_ms = BASE_MS + bar * HOUR_MS
    time = {
        "ms": str(open_ms),
        "us": str(open_ms * 1000),
        "iso": pd.Timestamp(open_ms, unit="ms").isoformat(),
        "off-grid": str(open_ms + 1),
    }[stamp]
    if kline and stamp == "iso":
        time = str(open_ms)
    tail = ["0"] * 6 if kline else []
    cells = [time, *fields, *tail]
    if extra > 0:
        cells.append("9")
    elif extra < 0:
        cells = cells[:3]
    return ",".join(cells)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(ROW, max_size=60),
    kline=st.booleans(),
    blank_lines=st.integers(0, 3),
    block_bytes=st.integers(16, 4096),
)
def test_imported_frames_are_sorted_unique_and_valid_and_every_row_is_counted(
    rows, kline, blank_lines, block_bytes
):
    lines = [format_row(bar, stamp, f, extra, kline) for bar, stamp, f, extra in rows]
    lines[len(lines) // 2 : len(lines) // 2] = [""] * blank_lines
    header = "" if kline else "timestamp,open,high,low,close,volume\n"
    data = (header + "\n".join(lines) + "\n").encode()
    blocks = list(
        importer.iter_candle_blocks(io.BytesIO(data), "1h", now=NOW, block_bytes=block_bytes)
    )

    for block in blocks:
        frame = block.frame
        assert frame.index.is_monotonic_increasing and frame.index.is_unique
        assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
        assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
        assert (frame["low"] > 0).all() and (frame["volume"] >= 0).all()
        assert np.isfinite(frame.to_numpy()).all()
    kept = sum(len(b.frame) for b in blocks)
    duplicates = sum(b.duplicates for b in blocks)
    rejected = sum(sum(b.rejected.values()) for b in blocks)
    assert sum(b.rows for b in blocks) == len(rows) == kept + duplicates + rejected
    valid_times = {
        pd.Timestamp(BASE_MS + bar * HOUR_MS, unit="ms", tz="UTC")
        for bar, stamp, f, extra in rows
        if expected_valid(f, stamp, extra)
    }
    assert set().union(*(set(b.frame.index) for b in blocks)) == valid_times


# ---- PostgreSQL: the COPY path ----


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_postgres_copy_import_is_idempotent(tmp_path, kline_file, day):
    from django.db import connection

    assert connection.vendor == "postgresql"
    assert summary_line(run_import(kline_file), "inserted") == 24
    assert summary_line(run_import(kline_file), "skipped as duplicates") == 24
    assert Candle.objects.count() == 24
    np.testing.assert_allclose(stored_frame().to_numpy(), day.to_numpy(), rtol=1e-8)
