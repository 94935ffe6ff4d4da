"""A local stand-in for Binance's GET /api/v3/klines, answering in the documented format.

It serves a candle frame the test builds, honouring symbol, interval, startTime, endTime and
limit as the real endpoint does (most recent `limit` klines when no startTime is given).
"""

import json

import numpy as np
import pandas as pd
from werkzeug import Request, Response

INTERVAL_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000,
               "1d": 86_400_000}


def kline_rows(frame: pd.DataFrame, interval_ms: int) -> list[list]:
    open_ms = frame.index.as_unit("ms").asi8
    rows = []
    for t, (o, h, lo, c, v) in zip(
        open_ms, frame[["open", "high", "low", "close", "volume"]].to_numpy(), strict=True
    ):
        rows.append(
            [
                int(t),
                f"{o:.8f}",
                f"{h:.8f}",
                f"{lo:.8f}",
                f"{c:.8f}",
                f"{v:.8f}",
                int(t + interval_ms - 1),
                f"{c * v:.8f}",
                100,
                f"{v / 2:.8f}",
                f"{c * v / 2:.8f}",
                "0",
            ]
        )
    return rows


def klines_handler(frames: dict[tuple[str, str], pd.DataFrame]):
    """A werkzeug handler serving frames keyed by (symbol, interval)."""

    def handle(request: Request) -> Response:
        args = request.args
        key = (args.get("symbol", ""), args.get("interval", ""))
        if key[1] not in INTERVAL_MS:
            return error(-1120, "Invalid interval.")
        if key not in frames:
            return error(-1121, "Invalid symbol.")
        frame = frames[key]
        open_ms = frame.index.as_unit("ms").asi8
        mask = np.ones(len(frame), dtype=bool)
        if "startTime" in args:
            mask &= open_ms >= int(args["startTime"])
        if "endTime" in args:
            mask &= open_ms <= int(args["endTime"])
        limit = min(int(args.get("limit", 500)), 1000)
        selected = frame[mask]
        selected = selected.iloc[:limit] if "startTime" in args else selected.iloc[-limit:]
        body = json.dumps(kline_rows(selected, INTERVAL_MS[key[1]]), separators=(",", ":"))
        return Response(
            body,
            status=200,
            content_type="application/json;charset=UTF-8",
            headers={"X-MBX-USED-WEIGHT-1M": "2"},
        )

    return handle


def error(code: int, msg: str) -> Response:
    body = json.dumps({"code": code, "msg": msg}, separators=(",", ":"))
    return Response(body, status=400, content_type="application/json;charset=UTF-8")


def oversold_candles(timeframe_ms: int, bars: int = 300, now: pd.Timestamp | None = None):
    """Calm oscillation, then a sharp sell-off into the last closed bar: mean reversion fires."""
    now = now or pd.Timestamp.now(tz="UTC")
    last_open = (now.value // 1_000_000 // timeframe_ms - 1) * timeframe_ms
    opens = pd.to_datetime(last_open - timeframe_ms * np.arange(bars)[::-1], unit="ms", utc=True)
    steps = np.arange(bars)
    close = 100 + 0.5 * np.sin(steps / 3.0)
    close[-6:] = close[-7] * np.cumprod(np.full(6, 0.985))
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    volume = np.full(bars, 1000.0)
    volume[-6:] = 3000.0
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=opens
    )
    frame.index.name = "open_time"
    return frame
